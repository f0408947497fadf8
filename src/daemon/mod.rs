//! The process's modes: the refresh loop (default), `--once`, `--dry-run`
//! and `--check`. The loop runs one cycle at start, then one at each refresh
//! point the [`Scheduler`] plans. Runtime failures (AWS, Rancher) are logged
//! and retried, never fatal; only what a person must fix first ends the
//! process, as a [`Fatal`] error. SIGTERM/SIGINT end it at once: the daemon
//! with success, an interrupted one-shot mode with failure.
//!
//! The daemon is built on the kernel (the crate root's modules) and never
//! imports the kubelet mode. Its data flow, one module per step: [`config`]
//! (settings) -> [`wiring`] (the running parts) -> [`sources`] and
//! [`token_source`] (tokens) -> [`cycle`] (every target, through
//! [`rancher`] and [`reconcile`]) -> [`schedule`] (when next), with
//! [`status`], [`metrics`] and [`health`] beside it, [`check`] for the
//! read-only modes, [`telemetry`] for logs and [`shutdown`] for signals.

/// `--check` and `--dry-run` output.
pub mod check;
/// The settings the daemon runs with, decided from the command line.
pub mod config;
/// One refresh cycle over every target, and the report of it.
pub mod cycle;
/// The HTTP listener: `/ping`, `/healthz`, `/metrics`.
pub mod health;
/// The Kubernetes target kind: settings, namespaces, pull Secrets, ServiceAccounts.
pub mod kubernetes;
/// Prometheus metrics.
pub mod metrics;
/// The Rancher 1.6 API client.
pub mod rancher;
/// Which credentials a token goes into, and writing it there.
pub mod reconcile;
/// When to refresh next, and how failures are retried.
pub mod schedule;
/// SIGTERM and SIGINT.
pub mod shutdown;
/// The AWS identities, the hosts each serves, and the tokens of a cycle.
pub mod sources;
/// Freshness of each managed registry, for `/healthz`.
pub mod status;
/// Log setup.
pub mod telemetry;
/// ECR tokens of one identity through the AWS SDK.
pub mod token_source;
/// From settings to the running parts.
pub mod wiring;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use tracing::{error, info, warn};

use crate::exit::Exit;
use crate::printable::printable;
use config::{Config, ConfigError, Mode, Supply};
use cycle::{CycleReport, Disposition, EnvironmentReport, Updater};
use metrics::{Metrics, RegistryLabels};
use reconcile::Problem;
use schedule::{Scheduler, CYCLE_TIMEOUT};
use shutdown::Shutdown;
use status::Status;

/// Why the process stops before (or instead of) doing its job.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// `--health-probe` got no good answer.
    #[error("{0}")]
    Probe(String),
}

impl Fatal {
    pub fn exit(&self) -> Exit {
        match self {
            Fatal::Config(_) => Exit::Config,
            Fatal::Runtime(_) | Fatal::Probe(_) => Exit::Failure,
        }
    }
}

/// Runs the process in the configured mode until it is done or a SIGTERM
/// or SIGINT arrives.
pub async fn run(config: Config) -> Result<Exit, Fatal> {
    let mut shutdown = Shutdown::install();
    let daemon_mode = config.mode == Mode::Daemon;
    tokio::select! {
        result = run_mode(config) => result,
        () = shutdown.recv() => {
            info!("shutting down");
            // An interrupted one-shot mode did not finish its job.
            Ok(Exit::from_success(daemon_mode))
        }
    }
}

async fn run_mode(config: Config) -> Result<Exit, Fatal> {
    let metrics = Arc::new(Metrics::new());
    let mut updater = wiring::updater(&config, metrics.clone()).await?;
    if config.targets.iter().any(|t| t.rancher.insecure) {
        warn_insecure();
    }
    Ok(match config.mode {
        Mode::Check => {
            let image = config.probe_image.as_ref();
            check::run(&mut updater, image, config.ca_bundle.as_deref()).await
        }
        Mode::DryRun => {
            let report = updater.refresh().await;
            check::print_plan(&report);
            let planned = report.all_failures().next().is_none();
            Exit::from_success(planned)
        }
        Mode::Once => {
            let report = updater.refresh().await;
            log_report(&report, None);
            LeftOut::default().log_changes(&report);
            Exit::from_success(report.success())
        }
        Mode::Daemon => return refresh_loop(config, updater, metrics).await,
    })
}

/// Said whatever LOG_LEVEL is, but once.
fn warn_insecure() {
    let warning = "RANCHER_INSECURE is set: Rancher's TLS certificate is NOT verified, so the \
                   Rancher secret key and the ECR passwords can be intercepted. Use --ca-file \
                   or SSL_CERT_FILE instead.";
    if tracing::enabled!(tracing::Level::WARN) {
        warn!("{warning}");
    } else {
        eprintln!("rancher-ecr-credentials: WARNING: {warning}");
    }
}

/// The daemon: serve health and metrics, and refresh until stopped.
async fn refresh_loop(
    config: Config,
    mut updater: Updater,
    metrics: Arc<Metrics>,
) -> Result<Exit, Fatal> {
    let expected = match config.supply {
        Supply::Listed => config.sources[0].aws.registry_ids.len().max(1),
        Supply::Discovered => 0,
    };
    let status = Arc::new(Status::new(config.retry.grace(), expected));
    let (bound, serve) = health::bind(config.listen, status.clone(), metrics.clone())
        .await
        .map_err(|err| ConfigError::Invalid {
            setting: "LISTEN_PORT (--listen-port)",
            reason: format!(
                "cannot listen on {}: {err}; choose a free port",
                config.listen
            ),
        })?;
    info!(address = %bound, "health endpoint listening (/ping, /healthz, /metrics)");
    tokio::spawn(serve);

    let mut scheduler = Scheduler::new(config.refresh_interval, config.retry);
    let mut left_out = LeftOut::default();
    loop {
        metrics.cycle_started();
        // On shutdown (see `run`) an in-flight request is dropped: Rancher
        // applies a PUT whole or not at all, and the next start rewrites it.
        let report = tokio::time::timeout(CYCLE_TIMEOUT, updater.refresh())
            .await
            .unwrap_or_else(|_| CycleReport::timed_out(CYCLE_TIMEOUT));
        let now = SystemTime::now();
        let expiries = report.outcomes().map(|(_, o)| o.expires_at);
        let plan = scheduler.after_cycle(now, report.outcome(), expiries);
        let delay = humantime::format_duration(plan.delay);
        if plan.warn_unusable_expiry {
            warn!(
                "ECR gave a token without a usable expiry (missing or in the past); \
                 refreshing every {delay}"
            );
        }
        let next_refresh = now + plan.delay;
        status.record(&report, now, next_refresh);
        record_metrics(&metrics, &status, &report, now);
        log_report(&report, Some(next_refresh));
        left_out.log_changes(&report);
        if plan.retry {
            warn!(attempt = scheduler.failures(), "retrying in {delay}");
        } else {
            info!("next refresh in {delay}");
        }
        tokio::time::sleep(plan.delay).await;
    }
}

/// The cycle's metrics; registry series follow what `status` (recorded
/// first) knows.
fn record_metrics(metrics: &Metrics, status: &Status, report: &CycleReport, now: SystemTime) {
    for cause in report.failure_labels() {
        metrics.failure(cause);
    }
    let labels = |environment: &EnvironmentReport, host: String| RegistryLabels {
        host,
        environment: environment
            .id
            .as_ref()
            .map(|_| environment.label())
            .unwrap_or_default(),
    };
    for (environment, outcome) in report.outcomes().filter(|(_, o)| o.is_up_to_date()) {
        let labels = labels(environment, outcome.host.to_string());
        metrics.registry_written(&labels, now, outcome.expires_at);
    }
    // The registries /healthz knows, no more and no fewer: a series lives
    // through any failure, until Rancher (or the selection) drops it.
    let known: std::collections::HashSet<(String, String)> =
        status.registries().into_iter().collect();
    metrics.retain_registries(|labels| {
        let environment = match labels.environment.as_str() {
            "" => "-",
            label => label,
        };
        known.contains(&(environment.to_string(), labels.host.clone()))
    });
    metrics.environments(report.environments.iter().map(|e| match e.disposition {
        Disposition::Served if !e.failures.is_empty() => "failed",
        Disposition::Served => "served",
        Disposition::Skipped { .. } => "skipped",
        Disposition::Late => "late",
    }));
}

/// Environments left out (skipped or late), logged when that changes, not
/// every cycle.
#[derive(Default)]
struct LeftOut {
    said: HashMap<String, String>,
}

impl LeftOut {
    fn log_changes(&mut self, report: &CycleReport) {
        let mut now_said = HashMap::new();
        for environment in &report.environments {
            let id = environment.label().to_string();
            let reason = match &environment.disposition {
                Disposition::Served => continue,
                Disposition::Skipped { reason, .. } => format!("skipped: {reason}"),
                Disposition::Late => {
                    "late: still busy from an earlier cycle, not waited for".to_string()
                }
            };
            if self.said.get(&id) != Some(&reason) {
                warn!(
                    environment = id,
                    name = environment.name.as_deref().unwrap_or("-"),
                    "environment {}",
                    printable(&reason)
                );
            }
            now_said.insert(id, reason);
        }
        for id in self.said.keys().filter(|id| !now_said.contains_key(*id)) {
            info!(environment = id.as_str(), "environment served again");
        }
        self.said = now_said;
    }
}

/// One line per registry and cycle: host, environment, action, ids, and
/// when the next refresh (or retry) is due. Problems say what to do.
fn log_report(report: &CycleReport, next_refresh: Option<SystemTime>) {
    let next_refresh = next_refresh
        .map(|at| humantime::format_rfc3339_seconds(at).to_string())
        .unwrap_or_else(|| "-".to_string());
    let failures = report.failures.iter().map(|f| ("-".to_string(), f)).chain(
        report
            .environments
            .iter()
            .flat_map(|e| e.failures.iter().map(move |f| (e.label(), f))),
    );
    for (environment, failure) in failures {
        error!(
            environment = environment.as_str(),
            action = "failed",
            cause = failure.label(),
            next_refresh,
            "{}",
            printable(&failure.to_string())
        );
    }
    for (environment, outcome) in report.outcomes() {
        let label = environment.label();
        let environment = label.as_str();
        let host = outcome.host.as_str();
        for change in &outcome.changes {
            let (registry, credential) = change.ids();
            info!(
                host,
                environment,
                action = change.action(),
                registry,
                credential,
                next_refresh,
                "registry credential {}",
                change.action()
            );
        }
        for problem in &outcome.problems {
            let cause = problem.label();
            match problem {
                Problem::Rancher { .. } | Problem::Token(_) => {
                    error!(
                        host,
                        environment,
                        action = "failed",
                        cause,
                        next_refresh,
                        "{}",
                        printable(&problem.to_string())
                    )
                }
                _ => warn!(
                    host,
                    environment,
                    action = "skipped",
                    cause,
                    next_refresh,
                    "{}",
                    printable(&problem.to_string())
                ),
            }
        }
    }
}
