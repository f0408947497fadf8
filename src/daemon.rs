//! The process's modes: the refresh loop (default), `--once`, `--dry-run`
//! and `--check`. The loop runs one cycle at start, then one at each refresh
//! point, with backoff after failures. Runtime failures (AWS, Rancher) are
//! logged and retried, never fatal; only configuration problems end the
//! process (status 2). SIGTERM/SIGINT end it at once: the daemon with
//! status 0, an interrupted one-shot mode with 1.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{error, info, warn};

use crate::config::{Config, Mode};
use crate::cycle::{CycleReport, Updater};
use crate::metrics::{Metrics, RegistryLabels};
use crate::reconcile::Problem;
use crate::schedule::{self, Backoff};
use crate::status::Status;

/// Exit status for configuration errors (as clap uses for bad flags).
pub const EXIT_CONFIG: u8 = 2;

/// The longest a cycle may take (each request also has its own timeout).
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

fn config_error(message: &str) -> ExitCode {
    error!("{message}");
    eprintln!("rancher-ecr-credentials: {message}");
    ExitCode::from(EXIT_CONFIG)
}

/// Runs the process in the configured mode until it is done or a SIGTERM
/// or SIGINT arrives. Signals are watched from the first moment: as PID 1
/// in a container, a process without handlers ignores them.
pub async fn run(config: Config) -> ExitCode {
    let mut shutdown = Shutdown::install();
    let daemon_mode = config.mode == Mode::Daemon;
    tokio::select! {
        code = run_mode(config) => code,
        () = shutdown.recv() => {
            info!("shutting down");
            // An interrupted one-shot mode did not finish its job.
            exit_code(daemon_mode)
        }
    }
}

async fn run_mode(config: Config) -> ExitCode {
    let metrics = Arc::new(Metrics::new());
    let mut updater = match Updater::new(&config, metrics.clone()).await {
        Ok(updater) => updater,
        Err(err) => return config_error(&format!("configuration error: {err}")),
    };
    if config.rancher.insecure {
        let warning = "RANCHER_INSECURE is set: Rancher's TLS certificate is NOT verified, so \
                       the Rancher secret key and the ECR passwords can be intercepted. Use \
                       --ca-file or SSL_CERT_FILE instead.";
        // Whatever LOG_LEVEL says.
        eprintln!("rancher-ecr-credentials: WARNING: {warning}");
        warn!("{warning}");
    }
    match config.mode {
        Mode::Check => crate::check::run(&mut updater).await,
        Mode::DryRun => {
            let report = updater.cycle().await;
            crate::check::print_plan(&report);
            exit_code(report.failures.is_empty())
        }
        Mode::Once => {
            let report = updater.cycle().await;
            log_report(&report, None);
            exit_code(report.success())
        }
        Mode::Daemon => daemon(config, updater, metrics).await,
    }
}

fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn daemon(config: Config, mut updater: Updater, metrics: Arc<Metrics>) -> ExitCode {
    let expected = config.aws.registry_ids.len().max(1);
    let status = Arc::new(Status::new(config.retry.max_delay, expected));
    match crate::health::bind(config.listen, status.clone(), metrics.clone()).await {
        Ok((bound, serve)) => {
            info!(address = %bound, "health endpoint listening (/ping, /healthz, /metrics)");
            tokio::spawn(async move {
                if let Err(err) = serve.await {
                    error!("health endpoint stopped: {err}");
                }
            });
        }
        Err(err) => {
            return config_error(&format!(
                "cannot listen on {}: {err}; set LISTEN_PORT (--listen-port) to a free port",
                config.listen
            ))
        }
    }

    let mut backoff = Backoff::new(config.retry);
    let mut warned_about_expiry = false;
    loop {
        metrics.cycle_started();
        // On shutdown (see `run`) an in-flight request is dropped: Rancher
        // applies a PUT whole or not at all, and the next start rewrites it.
        // Every request has its own timeout; this bounds the whole cycle
        // too, so nothing can stall the loop past a token's life.
        let report = tokio::time::timeout(CYCLE_TIMEOUT, updater.cycle())
            .await
            .unwrap_or_else(|_| CycleReport::timed_out(CYCLE_TIMEOUT));
        let now = SystemTime::now();
        let delay = if report.needs_retry() {
            backoff.next_delay()
        } else {
            backoff.reset();
            let expiries = report.hosts.iter().map(|h| h.expires_at);
            let next = schedule::next_refresh(now, expiries, config.refresh_interval);
            if next.expiry_unusable && !warned_about_expiry {
                warned_about_expiry = true;
                warn!(
                    "ECR gave a token without a usable expiry (missing or in the past); \
                     refreshing every {}",
                    humantime::format_duration(next.delay)
                );
            }
            if report.success() {
                next.delay
            } else {
                // A registry to add or activate: look again soon, no backoff.
                next.delay.min(schedule::RECHECK_WITHOUT_REGISTRY)
            }
        };
        // Whole milliseconds keep the logged durations readable.
        let delay = Duration::from_millis(delay.as_millis() as u64);
        let next_refresh = now + delay;
        status.record(&report, now, next_refresh);
        record_metrics(&metrics, &report, now);
        log_report(&report, Some(next_refresh));
        if !report.needs_retry() {
            info!("next refresh in {}", humantime::format_duration(delay));
        } else {
            warn!(
                attempt = backoff.failures(),
                "retrying in {}",
                humantime::format_duration(delay)
            );
        }
        tokio::time::sleep(delay).await;
    }
}

fn record_metrics(metrics: &Metrics, report: &CycleReport, now: SystemTime) {
    for cause in report.failure_labels() {
        metrics.failure(cause);
    }
    for host in report.hosts.iter().filter(|h| h.is_up_to_date()) {
        let labels = RegistryLabels {
            host: host.host.to_string(),
            environment: report.environment.clone().unwrap_or_default(),
        };
        metrics.registry_written(&labels, now, host.expires_at);
    }
}

/// One line per registry and cycle: host, environment, action, ids, and
/// when the next refresh (or retry) is due. Problems say what to do.
fn log_report(report: &CycleReport, next_refresh: Option<SystemTime>) {
    let environment = report.environment.as_deref().unwrap_or("-");
    let next_refresh = next_refresh
        .map(|at| humantime::format_rfc3339_seconds(at).to_string())
        .unwrap_or_else(|| "-".to_string());
    for failure in &report.failures {
        error!(
            environment,
            action = "failed",
            cause = failure.label(),
            next_refresh,
            "{failure}"
        );
    }
    for outcome in &report.hosts {
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
                Problem::Rancher { .. } => {
                    error!(
                        host,
                        environment,
                        action = "failed",
                        cause,
                        next_refresh,
                        "{problem}"
                    )
                }
                _ => warn!(
                    host,
                    environment,
                    action = "skipped",
                    cause,
                    next_refresh,
                    "{problem}"
                ),
            }
        }
    }
}

/// SIGTERM and SIGINT, registered when installed.
struct Shutdown {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
}

impl Shutdown {
    fn install() -> Shutdown {
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(err) => {
                warn!("cannot watch {name}: {err}");
                None
            }
        };
        Shutdown {
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Resolves at the first SIGTERM or SIGINT.
    async fn recv(&mut self) {
        async fn next(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.terminate) => {}
            () = next(&mut self.interrupt) => {}
        }
    }
}
