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
//! [`rancher`] and [`reconcile`], or [`kubernetes`]) -> [`schedule`]
//! (when next), one turn
//! of the loop in [`refresher`], with
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
/// One turn of the refresh loop: cycle, plan, record, log.
pub mod refresher;
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

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{error, info, warn};

use crate::exit::Exit;
use config::{Config, ConfigError, Mode, Supply};
use cycle::Updater;
use kubernetes::election::{self, Leadership};
use metrics::Metrics;
use refresher::{log_report, LeftOut, Refresher};
use schedule::Scheduler;
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

/// Starts campaigning for the Lease, with `[leader_election]`; `/healthz`
/// shows where this replica stands.
fn elect(config: &Config, status: &Status) -> Result<Option<Leadership>, Fatal> {
    let Some(settings) = &config.leader_election else {
        return Ok(None);
    };
    let leadership = election::start(settings, election::identity()).map_err(|problem| {
        ConfigError::Invalid {
            setting: "CONFIG_FILE (--config)",
            reason: format!("leader_election.kubeconfig: {problem}"),
        }
    })?;
    status.follow_election(leadership.clone());
    Ok(Some(leadership))
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
    updater: Updater,
    metrics: Arc<Metrics>,
) -> Result<Exit, Fatal> {
    let expected = match config.supply {
        Supply::Listed => config.sources[0].aws.registry_ids.len().max(1),
        Supply::Discovered => 0,
    };
    let status = Arc::new(Status::new(config.retry.grace(), expected));
    for label in wiring::kubernetes_labels(&config) {
        status.expect_kubernetes(&label);
    }
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

    let leadership = elect(&config, &status)?;
    let mut refresher = Refresher::new(
        updater,
        Scheduler::new(config.refresh_interval, config.retry),
        status,
        metrics,
    );
    let refresh = async {
        loop {
            let plan = refresher.cycle(SystemTime::now).await;
            tokio::time::sleep(plan.delay).await;
        }
    };
    let Some(mut leadership) = leadership else {
        return Ok(refresh.await);
    };
    info!(
        identity = leadership.standing().identity,
        "standing by until this replica holds the Lease"
    );
    leadership.until_leading().await;
    info!("this replica holds the Lease: it writes from now on");
    tokio::select! {
        exit = refresh => Ok(exit),
        () = leadership.until_lost() => {
            let holder = leadership.standing().holder.unwrap_or_else(|| "nobody".into());
            error!(
                holder,
                "lost the Lease (now held by {holder}): exiting, so that nothing of this \
                 replica writes while another leads; restarted, it stands by"
            );
            Ok(Exit::LostLeadership)
        }
    }
}
