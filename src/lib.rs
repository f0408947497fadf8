//! rancher-ecr-credentials keeps Amazon ECR pull credentials fresh where
//! containers pull from ECR: Rancher 1.6 ("Cattle") registries (the
//! daemon), and the kubelet (the credential provider mode).
//!
//! Four layers, each importing only those below it (docs/architecture.md
//! has the map):
//! - [`exit`] (the exit-code table) and [`cli`] (every flag of every mode);
//! - the kernel, which imports neither front end: [`secret`], [`bounded`],
//!   [`registry_host`], [`ecr_host`], [`image`], [`tls`], [`pull_check`],
//!   [`printable`],
//!   [`aws`] (tokens, failures, the SDK's HTTP client, identities) and
//!   [`config_file`] (the `--config` grammar both front ends read);
//! - [`daemon`]: settings, sources, targets, the cycle, the loop, health;
//! - [`kubelet`]: one request on stdin, one answer on stdout.
//!
//! `main.rs` only dispatches and prints an error once.

/// The AWS vocabulary: tokens, failures, the HTTP client, identities.
pub mod aws;
/// Size limits on every response body and every local input.
pub mod bounded;
/// The command line of every mode, as typed.
pub mod cli;
/// The `--config` file's grammar: positions, `[[source]]`, raw `[[target]]`.
pub mod config_file;
/// The daemon: keeps Rancher registry credentials fresh.
pub mod daemon;
/// Account, region, partition and form of an ECR registry host.
pub mod ecr_host;
/// The exit statuses of every mode.
pub mod exit;
/// Image references: registry host, repository, tag or digest.
pub mod image;
/// The kubelet image credential provider mode.
pub mod kubelet;
/// Peer text made one line and bounded, for logs and `/healthz`.
pub mod printable;
/// Whether a token lets its identity pull an image (a manifest request).
pub mod pull_check;
/// Registry host normalization and matching.
pub mod registry_host;
/// A string type that never prints its value.
pub mod secret;
/// The HTTPS client builder and CA bundles.
pub mod tls;
