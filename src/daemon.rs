//! The refresh loop: one cycle at start, then one at each refresh point,
//! with backoff after failures. Runtime failures (AWS, Rancher) are logged
//! and retried, never fatal; only configuration problems end the process.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::ecr::{self, EcrToken, TokenSource};
use crate::rancher::{Api, RancherClient, RancherError};
use crate::reconcile::{self, HostOutcome, Policy};
use crate::schedule::{self, Backoff};

/// Exit status for configuration errors (as clap uses for bad flags).
pub const EXIT_CONFIG: u8 = 2;

/// The result of one cycle.
#[derive(Debug)]
pub struct CycleReport {
    /// Per registry host; empty when the cycle failed before writing.
    pub hosts: Vec<HostOutcome>,
    /// Token expiries of this cycle's tokens.
    pub expiries: Vec<Option<SystemTime>>,
    /// True when every host is up to date.
    pub success: bool,
}

/// Long-lived state of the updater.
pub struct Updater {
    ecr: TokenSource,
    rancher: RancherClient,
    policy: Policy,
    /// Discovered once and reused; dropped after a Rancher failure so the
    /// next attempt rediscovers.
    api: Option<Api>,
}

impl Updater {
    /// Builds the clients. No network call happens here.
    pub async fn new(config: &Config) -> Result<Updater, String> {
        let region = ecr::resolve_region(config.aws.region.as_deref())
            .await
            .ok_or_else(|| {
                "no AWS region: set AWS_REGION (or --aws-region, AWS_DEFAULT_REGION, or a \
                 region in the AWS_PROFILE's shared config)"
                    .to_string()
            })?;
        let ecr = TokenSource::new(&config.aws, region).await;
        let rancher = RancherClient::new(&config.rancher).map_err(|e| e.to_string())?;
        let policy = Policy {
            auto_create: config.auto_create,
            proxy_host: config.proxy_host.clone(),
        };
        Ok(Updater {
            ecr,
            rancher,
            policy,
            api: None,
        })
    }

    /// One refresh: fetch tokens and list Rancher registries (concurrently),
    /// then write each token where it belongs.
    pub async fn cycle(&mut self) -> CycleReport {
        let failed = |expiries| CycleReport {
            hosts: Vec::new(),
            expiries,
            success: false,
        };
        let (tokens, listing) = tokio::join!(
            self.ecr.fetch(),
            list_registries(&self.rancher, &mut self.api)
        );
        let tokens = match tokens {
            Ok(tokens) => tokens,
            Err(err) => {
                error!(cause = %err_label(&err), "cannot get an ECR token: {err}");
                return failed(Vec::new());
            }
        };
        let expiries = tokens.iter().map(|t| t.expires_at).collect();
        let (api, registries) = match listing {
            Ok(listing) => listing,
            Err(err) => {
                error!(cause = err.label(), "cannot list Rancher registries: {err}");
                self.api = None;
                return failed(expiries);
            }
        };
        let mut hosts = Vec::with_capacity(tokens.len());
        for token in &tokens {
            let outcome =
                reconcile::reconcile(&self.rancher, &api, &self.policy, token, &registries).await;
            log_outcome(&outcome, token, api.account_id.as_deref());
            if outcome
                .problems
                .iter()
                .any(|p| matches!(p, reconcile::Problem::Rancher { .. }))
            {
                self.api = None;
            }
            hosts.push(outcome);
        }
        let success = hosts.iter().all(HostOutcome::is_up_to_date);
        CycleReport {
            hosts,
            expiries,
            success,
        }
    }
}

/// Lists registries, discovering the API first if it is not known yet.
async fn list_registries(
    rancher: &RancherClient,
    known_api: &mut Option<Api>,
) -> Result<(Api, Vec<crate::rancher::Registry>), RancherError> {
    let api = match known_api.take() {
        Some(api) => api,
        None => {
            let api = rancher.discover().await?;
            debug!(?api, "discovered the Rancher API");
            api
        }
    };
    let registries = rancher.list_registries(&api).await?;
    *known_api = Some(api.clone());
    Ok((api, registries))
}

fn err_label(err: &ecr::EcrError) -> &'static str {
    match err {
        ecr::EcrError::Api { kind, .. } => kind.label(),
        _ => "aws_bad_token",
    }
}

/// One line per registry: host, environment, action, ids; problems say what
/// to do. Error text never carries the token: it is scrubbed if a server
/// were to echo it.
fn log_outcome(outcome: &HostOutcome, token: &EcrToken, environment: Option<&str>) {
    let environment = environment.unwrap_or("-");
    for change in &outcome.changes {
        let (registry, credential) = change.ids();
        info!(
            host = %outcome.host,
            environment,
            action = change.action(),
            registry,
            credential,
            "registry credential {}",
            change.action()
        );
    }
    for problem in &outcome.problems {
        let text = problem.to_string().replace(token.password.expose(), "***");
        match problem {
            reconcile::Problem::Rancher { .. } => {
                error!(host = %outcome.host, environment, action = "failed", cause = problem.label(), "{text}")
            }
            _ => {
                warn!(host = %outcome.host, environment, action = "skipped", cause = problem.label(), "{text}")
            }
        }
    }
}

/// Runs the updater until SIGTERM/SIGINT (or one cycle with `--once`).
pub async fn run(config: Config) -> ExitCode {
    let once = config.once;
    let listen = config.listen;
    let interval = config.refresh_interval;
    let retry = config.retry;
    let mut updater = match Updater::new(&config).await {
        Ok(updater) => updater,
        Err(message) => {
            error!("{message}");
            eprintln!("rancher-ecr-credentials: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if once {
        let report = updater.cycle().await;
        return if report.success {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }

    match crate::health::bind(listen).await {
        Ok((bound, serve)) => {
            info!(address = %bound, "health endpoint listening (GET /ping)");
            tokio::spawn(async move {
                if let Err(err) = serve.await {
                    error!("health endpoint stopped: {err}");
                }
            });
        }
        Err(err) => {
            let message = format!(
                "cannot listen on {listen}: {err}; set LISTEN_PORT (--listen-port) to a free port"
            );
            error!("{message}");
            eprintln!("rancher-ecr-credentials: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }

    let mut backoff = Backoff::new(retry);
    let mut warned_about_expiry = false;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let report = tokio::select! {
            report = updater.cycle() => report,
            () = &mut shutdown => return ExitCode::SUCCESS,
        };
        let delay = if report.success {
            backoff.reset();
            let next = schedule::next_refresh(SystemTime::now(), report.expiries, interval);
            if next.expiry_unusable && !warned_about_expiry {
                warned_about_expiry = true;
                warn!(
                    "ECR gave a token without a usable expiry (missing or in the past); \
                     refreshing every {}",
                    humantime::format_duration(interval)
                );
            }
            next.delay
        } else {
            backoff.next_delay()
        };
        log_next(delay, report.success, backoff.failures());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut shutdown => return ExitCode::SUCCESS,
        }
    }
}

fn log_next(delay: Duration, success: bool, failures: u32) {
    let delay = Duration::from_millis(delay.as_millis() as u64);
    let at = humantime::format_rfc3339_seconds(SystemTime::now() + delay);
    if success {
        info!(next_refresh = %at, "next refresh in {}", humantime::format_duration(delay));
    } else {
        warn!(next_refresh = %at, attempt = failures, "retrying in {}", humantime::format_duration(delay));
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                warn!("cannot watch SIGTERM: {err}");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    info!("shutting down");
}
