//! rancher-ecr-credentials keeps Amazon ECR pull credentials fresh in
//! Rancher 1.6 ("Cattle") registries.
//!
//! Data flow, one module per step: [`config`] (flags and the predecessor's
//! environment variables) -> [`ecr`] (the token source) -> [`rancher`] (the
//! API client) -> [`reconcile`] (decide and write), run by [`cycle`] ->
//! [`daemon`] (the loop, timed by [`schedule`]). Beside it: [`status`] and
//! [`metrics`], served by [`health`]; [`check`] for the read-only modes;
//! [`telemetry`] for logs.

/// `--check` and `--dry-run` output.
pub mod check;
/// Flags, environment variables and their validation.
pub mod config;
/// The `--config` TOML file: sources and targets.
pub mod config_file;
/// One refresh cycle and the state kept between cycles.
pub mod cycle;
/// The process modes and the refresh loop.
pub mod daemon;
/// ECR authorization tokens through the AWS SDK.
pub mod ecr;
/// Account, region, partition and form of an ECR registry host.
pub mod ecr_host;
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
/// When to refresh next, and backoff after failures.
pub mod schedule;
/// A string type that never prints its value.
pub mod secret;
/// Freshness of each managed registry, for `/healthz`.
pub mod status;
/// Log setup.
pub mod telemetry;
