//! rancher-ecr-credentials keeps Amazon ECR pull credentials fresh in
//! Rancher 1.6 ("Cattle") registries.
//!
//! Data flow, one module per step: [`config`] (flags and the predecessor's
//! environment variables) -> [`ecr`] (the token source) -> [`rancher`] (the
//! API client) -> [`reconcile`] (decide and write) -> [`daemon`] (the loop,
//! timed by [`schedule`]); [`health`] and [`telemetry`] beside it.

/// Flags, environment variables and their validation.
pub mod config;
/// The refresh loop and the `--once` mode.
pub mod daemon;
/// ECR authorization tokens through the AWS SDK.
pub mod ecr;
/// The HTTP health listener (`/ping`).
pub mod health;
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
/// Log setup.
pub mod telemetry;
