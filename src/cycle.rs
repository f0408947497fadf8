//! One refresh cycle: fetch the ECR tokens and list Rancher's registries
//! (concurrently), then reconcile each token. The [`Updater`] keeps the
//! clients and the discovered API between cycles, so a steady-state cycle
//! costs Rancher one registry list, one credential list and one PUT per
//! registry.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::ecr::{self, EcrError, TokenSource};
use crate::metrics::Metrics;
use crate::rancher::{Endpoints, RancherClient, RancherError, Registry};
use crate::reconcile::{self, HostOutcome, Policy, Problem};
use crate::schedule::CycleOutcome;

/// A failure that stopped the cycle before any token was written.
#[derive(Debug, thiserror::Error)]
pub enum CycleFailure {
    #[error("cannot get an ECR token: {0}")]
    Ecr(#[from] EcrError),
    #[error("cannot list Rancher registries: {0}")]
    Rancher(#[from] RancherError),
    #[error("the refresh took longer than {}; abandoned", humantime::format_duration(*.0))]
    TimedOut(std::time::Duration),
}

impl CycleFailure {
    pub fn label(&self) -> &'static str {
        match self {
            CycleFailure::Ecr(err) => err.label(),
            CycleFailure::Rancher(err) => err.label(),
            CycleFailure::TimedOut(_) => "cycle_timeout",
        }
    }
}

/// What one cycle did.
#[derive(Debug)]
pub struct CycleReport {
    /// The Rancher environment (account id) written to, when known.
    pub environment: Option<String>,
    /// One entry per ECR token (registry host).
    pub outcomes: Vec<HostOutcome>,
    /// Failures outside any one host: AWS, the registry list, a malformed
    /// token entry. Both an AWS and a Rancher failure are kept, so neither
    /// hides the other.
    pub failures: Vec<CycleFailure>,
}

impl CycleReport {
    /// The report of a cycle abandoned after `limit`.
    pub fn timed_out(limit: std::time::Duration) -> CycleReport {
        CycleReport {
            environment: None,
            outcomes: Vec::new(),
            failures: vec![CycleFailure::TimedOut(limit)],
        }
    }

    /// True when every registry host now holds its new token.
    pub fn success(&self) -> bool {
        self.failures.is_empty()
            && !self.outcomes.is_empty()
            && self.outcomes.iter().all(HostOutcome::is_up_to_date)
    }

    /// How the cycle ended, for the scheduler: a failure that might go away
    /// if tried again soon (AWS or Rancher trouble) is retried with backoff;
    /// a registry that a person must add or activate is looked at again
    /// soon, without.
    pub fn outcome(&self) -> CycleOutcome {
        let retryable = !self.failures.is_empty()
            || self.outcomes.is_empty()
            || self
                .outcomes
                .iter()
                .any(|h| h.problems.iter().any(Problem::is_retryable));
        if retryable {
            CycleOutcome::Failed
        } else if self.success() {
            CycleOutcome::Done
        } else {
            CycleOutcome::NeedsAttention
        }
    }

    /// Failure causes, one per problem, for metrics.
    pub fn failure_labels(&self) -> Vec<&'static str> {
        let mut labels: Vec<&'static str> = self.failures.iter().map(|f| f.label()).collect();
        for outcome in &self.outcomes {
            labels.extend(outcome.problems.iter().map(Problem::label));
        }
        labels
    }
}

/// Long-lived state of the updater.
pub struct Updater {
    ecr: TokenSource,
    rancher: RancherClient,
    policy: Policy,
    /// Discovered once and reused; forgotten after a Rancher failure so the
    /// next attempt rediscovers.
    endpoints: Option<Endpoints>,
}

impl Updater {
    /// Builds the clients. No network call happens here.
    pub async fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Updater, ConfigError> {
        let region = ecr::resolve_region(config.aws.region.as_deref())
            .await
            .ok_or(ConfigError::Missing {
                setting: "AWS_REGION (--aws-region)",
                hint: "neither AWS_DEFAULT_REGION nor the shared config profile names a region \
                       either; set AWS_REGION, e.g. AWS_REGION=us-east-1",
            })?;
        let ca_bundle = config.ca_bundle.as_deref();
        let ecr = TokenSource::new(&config.aws, region, ca_bundle, metrics.clone()).await;
        let rancher = RancherClient::new(&config.rancher, ca_bundle, metrics).map_err(|err| {
            ConfigError::Invalid {
                setting: "CATTLE_URL (--cattle-url)",
                reason: err.to_string(),
            }
        })?;
        Ok(Updater {
            ecr,
            rancher,
            policy: Policy {
                auto_create: config.auto_create,
                proxy_host: config.proxy_host.clone(),
                dry_run: config.mode == crate::config::Mode::DryRun,
            },
            endpoints: None,
        })
    }

    pub fn token_source(&self) -> &TokenSource {
        &self.ecr
    }

    pub fn rancher(&self) -> &RancherClient {
        &self.rancher
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// One refresh cycle. Never fails as a whole: the report says what
    /// happened.
    pub async fn refresh(&mut self) -> CycleReport {
        let (tokens, listing) = tokio::join!(
            self.ecr.fetch(),
            list_registries(&self.rancher, &mut self.endpoints)
        );
        let environment = self
            .endpoints
            .as_ref()
            .and_then(|endpoints| endpoints.environment_id.clone());
        let mut report = CycleReport {
            environment,
            outcomes: Vec::new(),
            failures: Vec::new(),
        };
        let tokens = match tokens {
            Ok(fetched) => {
                report
                    .failures
                    .extend(fetched.malformed.into_iter().map(CycleFailure::from));
                Some(fetched.tokens)
            }
            Err(err) => {
                report.failures.push(err.into());
                None
            }
        };
        let listing = listing.map_err(|err| report.failures.push(err.into())).ok();
        let (Some(tokens), Some((endpoints, registries))) = (tokens, listing) else {
            return report;
        };
        for token in &tokens {
            let outcome =
                reconcile::apply_token(&self.rancher, &endpoints, &self.policy, token, &registries)
                    .await;
            if outcome
                .problems
                .iter()
                .any(|p| matches!(p, Problem::Rancher { .. }))
            {
                self.endpoints = None;
            }
            report.outcomes.push(outcome);
        }
        report
    }
}

/// Lists registries, discovering the API first if it is not known yet.
async fn list_registries(
    rancher: &RancherClient,
    known_endpoints: &mut Option<Endpoints>,
) -> Result<(Endpoints, Vec<Registry>), RancherError> {
    let endpoints = match known_endpoints.take() {
        Some(endpoints) => endpoints,
        None => {
            let endpoints = rancher.discover().await?;
            tracing::debug!(endpoints = %endpoints, "discovered the Rancher API");
            endpoints
        }
    };
    // Forgotten on failure, so the next attempt rediscovers.
    let registries = rancher.list_registries(&endpoints).await;
    *known_endpoints = registries.is_ok().then(|| endpoints.clone());
    Ok((endpoints, registries?))
}
