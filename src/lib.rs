//! rancher-ecr-credentials keeps Amazon ECR pull credentials fresh in
//! Rancher 1.6 ("Cattle") registries.
//!
//! The data flow, one module per step (docs/architecture.md has the map):
//! - settings: [`cli`] (flags as typed) -> [`config`] (decided settings);
//! - the sources: [`ecr`], ECR tokens through the AWS SDK; [`sources`],
//!   which AWS identity serves which registry host, and one token per
//!   (identity, region) per cycle; [`ecr_host`] reads account, region and
//!   partition off a registry host;
//! - the target: [`rancher`], the Rancher 1.6 API client;
//! - [`reconcile`]: which credentials a token goes into (pure decisions),
//!   and writing it there;
//! - [`cycle`]: one refresh, token and registries fetched together;
//! - [`daemon`]: the process modes and the refresh loop, timed by
//!   [`schedule`] (the one home of timing and retry rules), stopped by
//!   [`shutdown`].
//!
//! `config::file` is the `--config` file (several sources and targets).
//! [`kubelet`] is the other way to run the same binary: a kubelet image
//! credential provider, one request on stdin, one answer on stdout.
//!
//! Beside it: [`status`] and [`metrics`], served by [`health`]; [`check`]
//! for the read-only modes; [`telemetry`] for logs; [`exit`] for the exit
//! statuses; [`bounded`], [`secret`] and [`registry_host`] as the small
//! types and limits everything else relies on.

/// Size limits on every response body the daemon reads.
pub mod bounded;
/// `--check` and `--dry-run` output.
pub mod check;
/// The command line as typed: flags and their environment variables.
pub mod cli;
/// The settings the program runs with, decided from the command line.
pub mod config;
/// One refresh cycle and the state kept between cycles.
pub mod cycle;
/// The process modes and the refresh loop.
pub mod daemon;
/// ECR authorization tokens through the AWS SDK.
pub mod ecr;
/// Account, region, partition and form of an ECR registry host.
pub mod ecr_host;
/// The exit statuses, and the error that ends the process.
pub mod exit;
/// The HTTP listener: `/ping`, `/healthz`, `/metrics`.
pub mod health;
/// The kubelet image credential provider mode.
pub mod kubelet;
/// Prometheus metrics.
pub mod metrics;
/// The Rancher 1.6 API client.
pub mod rancher;
/// Which credentials a token goes into, and writing it there.
pub mod reconcile;
/// Registry host normalization and matching.
pub mod registry_host;
/// When to refresh next, and how failures are retried.
pub mod schedule;
/// A string type that never prints its value.
pub mod secret;
/// SIGTERM and SIGINT.
pub mod shutdown;
/// The AWS identities, the hosts each serves, and the tokens of a cycle.
pub mod sources;
/// Freshness of each managed registry, for `/healthz`.
pub mod status;
/// Log setup.
pub mod telemetry;
