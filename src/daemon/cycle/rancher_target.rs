//! The Rancher target kind: one Rancher server and the environments served
//! there, with what is known of them between cycles.
//!
//! Without RANCHER_ENVIRONMENTS (or a target's `environments`) it is the
//! one environment the URL and the key name, its tokens and its registries
//! fetched together. With them, the cycle lists the environments first (so
//! new ones are picked up), then reconciles each chosen one in a task of its
//! own, a bounded number at once. A cycle never waits for an environment
//! still busy from the previous one: it reports it late and refreshes the
//! others on time; what the late task did is reported by the first cycle
//! after it finished.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::apply::{apply_tokens, has_rancher_problem, Tokens};
use super::report::{CycleFailure, CycleReport, Disposition, EnvironmentReport};
use crate::daemon::rancher::{
    choose, Endpoints, Environment, KeyKind, RancherClient, RancherError, Registry, Selection,
};
use crate::daemon::reconcile::Policy;
use crate::daemon::token_source::TokenSource;

/// How many environments are reconciled at once. An environment is a short
/// chain of requests (a registry page, then a credential list and a PUT per
/// registry), so a cycle is bound by Rancher's latency: 16 chains keep a
/// 100-environment cycle within seconds at 20 ms, while the memory of 16
/// registry pages in flight stays small (docs/benchmarks.md).
const CONCURRENT_ENVIRONMENTS: usize = 16;
/// The longest a cycle waits for the environments it started; those still
/// busy then are reported late, and the next cycle does not wait for them.
/// A shorter REFRESH_INTERVAL shortens it: a cycle never waits past the time
/// the next one is due.
const ENVIRONMENT_WAIT: Duration = Duration::from_secs(4 * 60);

/// One Rancher and what the updater knows of it between cycles.
pub struct RancherTarget {
    rancher: RancherClient,
    scope: Scope,
    /// The sources whose tokens go here (indexes into the sources).
    sources: Arc<[usize]>,
    auto_create: bool,
    /// Names this Rancher in reports when there are several.
    label: Option<String>,
}

/// Where a target's tokens come from this cycle, before they are had.
pub enum Fetch<'a> {
    /// AWS_ECR_REGISTRY_IDS: fetched by the target, with its registries.
    Listed(&'a TokenSource),
    /// Claimed hosts: asked on need from the cycle's tokens.
    Claimed(Arc<super::CycleTokens>),
}

/// Which environments a target serves.
enum Scope {
    /// The one environment the URL and the key name. Its endpoints are
    /// discovered once and reused; forgotten after a Rancher failure so the
    /// next attempt rediscovers.
    Single { endpoints: Option<Endpoints> },
    /// RANCHER_ENVIRONMENTS (or a target's `environments`), with an account
    /// key.
    Many(ManyEnvironments),
}

struct ManyEnvironments {
    selection: Selection,
    key: Option<KeyKind>,
    /// Discovered endpoints per environment id, shared with the tasks.
    endpoints: Arc<Mutex<HashMap<String, Endpoints>>>,
    /// The task reconciling each environment; a cycle does not start a new
    /// one while the last is busy.
    running: HashMap<String, JoinHandle<EnvironmentReport>>,
    permits: Arc<Semaphore>,
    /// How long a cycle waits for its environments (see [`ENVIRONMENT_WAIT`]).
    wait: Duration,
}

impl RancherTarget {
    /// No network call happens here. `wait` bounds how long a cycle waits
    /// for the environments it started (see [`ENVIRONMENT_WAIT`]).
    pub fn new(
        rancher: RancherClient,
        selection: Option<Selection>,
        sources: Vec<usize>,
        auto_create: bool,
        label: Option<String>,
        wait: Duration,
    ) -> RancherTarget {
        let scope = match selection {
            None => Scope::Single { endpoints: None },
            Some(selection) => Scope::Many(ManyEnvironments {
                selection,
                key: None,
                endpoints: Arc::default(),
                running: HashMap::new(),
                permits: Arc::new(Semaphore::new(CONCURRENT_ENVIRONMENTS)),
                wait: ENVIRONMENT_WAIT.min(wait),
            }),
        };
        RancherTarget {
            rancher,
            scope,
            sources: sources.into(),
            auto_create,
            label,
        }
    }

    pub fn rancher(&self) -> &RancherClient {
        &self.rancher
    }

    pub fn auto_create(&self) -> bool {
        self.auto_create
    }

    /// Whether it serves several environments.
    pub fn serves_many(&self) -> bool {
        matches!(self.scope, Scope::Many(_))
    }

    /// One cycle in this Rancher. `policy` is the daemon's (dry run, proxy
    /// host); AUTO_CREATE is the target's own.
    pub async fn refresh(&mut self, fetch: Fetch<'_>, policy: &Policy) -> CycleReport {
        let policy = Policy {
            auto_create: self.auto_create,
            ..policy.clone()
        };
        let fetch = match fetch {
            Fetch::Listed(source) => Obtain::Listed(source),
            Fetch::Claimed(cycle) => Obtain::Ready(Tokens::Claimed {
                cycle,
                sources: self.sources.clone(),
            }),
        };
        let mut part = match &mut self.scope {
            Scope::Single { endpoints } => {
                refresh_single(fetch, &self.rancher, &policy, endpoints).await
            }
            Scope::Many(many) => refresh_many(fetch, &self.rancher, &policy, many).await,
        };
        for environment in &mut part.environments {
            environment.target = self.label.clone();
        }
        part
    }
}

/// The tokens of a target, to be had or had.
enum Obtain<'a> {
    Listed(&'a TokenSource),
    Ready(Tokens),
}

/// The tokens a target's environments use: fetched now when listed.
async fn obtain(fetch: Obtain<'_>, failures: &mut Vec<CycleFailure>) -> Option<Tokens> {
    match fetch {
        Obtain::Listed(source) => fetch_tokens(source, failures)
            .await
            .map(|tokens| Tokens::Listed(Arc::new(tokens))),
        Obtain::Ready(tokens) => Some(tokens),
    }
}

/// Fetches the tokens, keeping malformed entries as failures.
async fn fetch_tokens(
    ecr: &TokenSource,
    failures: &mut Vec<CycleFailure>,
) -> Option<Vec<crate::aws::EcrToken>> {
    match ecr.fetch().await {
        Ok(fetched) => {
            failures.extend(fetched.malformed.into_iter().map(CycleFailure::from));
            Some(fetched.tokens)
        }
        Err(err) => {
            failures.push(err.into());
            None
        }
    }
}

/// The single environment: tokens and its registries fetched together.
async fn refresh_single(
    fetch: Obtain<'_>,
    rancher: &RancherClient,
    policy: &Policy,
    known: &mut Option<Endpoints>,
) -> CycleReport {
    let mut failures = Vec::new();
    let (tokens, listing) = tokio::join!(
        obtain(fetch, &mut failures),
        list_registries(rancher, known, None)
    );
    let id = known.as_ref().and_then(|e| e.environment_id.clone());
    let mut environment = EnvironmentReport::new(id, Disposition::Served);
    match (tokens, listing) {
        (Some(tokens), Ok((endpoints, registries))) => {
            (environment.outcomes, environment.failures) =
                apply_tokens(rancher, &endpoints, policy, &tokens, &registries).await;
            if has_rancher_problem(&environment.outcomes) {
                *known = None;
            }
        }
        (_, Err(err)) => environment.failures.push(err.into()),
        (None, Ok(_)) => {}
    }
    CycleReport {
        failures,
        environments: vec![environment],
        ..CycleReport::default()
    }
}

/// Every selected environment: the list and the tokens fetched together,
/// then each environment in a task of its own, a bounded number at once.
async fn refresh_many(
    fetch: Obtain<'_>,
    rancher: &RancherClient,
    policy: &Policy,
    many: &mut ManyEnvironments,
) -> CycleReport {
    let mut report = CycleReport::default();
    let (tokens, listed) = tokio::join!(
        obtain(fetch, &mut report.failures),
        rancher.list_environments(&mut many.key)
    );
    let listed = match listed {
        Ok(listed) => listed,
        Err(err) => {
            report.failures.push(CycleFailure::Environments(err));
            return report;
        }
    };
    let chosen = choose(&listed, &many.selection);
    for skipped in chosen.skipped {
        let mut environment = EnvironmentReport::new(
            Some(skipped.id),
            Disposition::Skipped {
                reason: skipped.reason,
                named: skipped.named,
            },
        );
        environment.name = skipped.name;
        environment.orchestration = skipped.orchestration;
        report.environments.push(environment);
    }
    let Some(tokens) = tokens else {
        // No token this cycle: each environment is still reported, served
        // with nothing written, so health keeps what it knew of it.
        for environment in chosen.serve {
            let mut unserved = EnvironmentReport::new(Some(environment.id), Disposition::Served);
            unserved.name = Some(environment.name);
            unserved.orchestration = environment.orchestration;
            report.environments.push(unserved);
        }
        return report;
    };
    let named = matches!(many.selection, Selection::Named(_));
    let serving: HashSet<String> = chosen.serve.iter().map(|e| e.id.clone()).collect();
    let context = TaskContext {
        rancher,
        policy,
        tokens: &tokens,
        named,
    };
    let started = start_environments(chosen.serve, many, &context, &mut report).await;
    wait_for(started, many, &mut report).await;
    // A task that finishes after the wait is reported by the next cycle;
    // one of an environment no longer selected is dropped once finished.
    many.running
        .retain(|id, task| serving.contains(id) || !task.is_finished());
    report
}

/// What every environment task of a cycle shares.
struct TaskContext<'a> {
    rancher: &'a RancherClient,
    policy: &'a Policy,
    tokens: &'a Tokens,
    named: bool,
}

/// Starts a task for each environment to serve, unless the last one is
/// still busy (reported late) or finished unreported (reported now). The
/// environments started.
async fn start_environments(
    serve: Vec<Environment>,
    many: &mut ManyEnvironments,
    context: &TaskContext<'_>,
    report: &mut CycleReport,
) -> Vec<Environment> {
    let mut started = Vec::new();
    for environment in serve {
        if let Some(task) = many.running.remove(&environment.id) {
            if task.is_finished() {
                // It finished after its cycle stopped waiting: what it did
                // is reported now, and the next cycle starts it again.
                report.environments.push(match task.await {
                    Ok(done) => done,
                    Err(join_error) => task_failed(environment.id, join_error),
                });
                continue;
            }
            many.running.insert(environment.id.clone(), task);
            report.environments.push(late(environment));
            continue;
        }
        let task = tokio::spawn(refresh_environment(
            context.rancher.clone(),
            context.policy.clone(),
            context.tokens.clone(),
            environment.clone(),
            context.named,
            many.endpoints.clone(),
            many.permits.clone(),
        ));
        many.running.insert(environment.id.clone(), task);
        started.push(environment);
    }
    started
}

/// Waits for the tasks started this cycle, until the cycle's wait is over;
/// those still busy then are reported late.
async fn wait_for(
    started: Vec<Environment>,
    many: &mut ManyEnvironments,
    report: &mut CycleReport,
) {
    let deadline = tokio::time::Instant::now() + many.wait;
    for environment in started {
        let Some(task) = many.running.get_mut(&environment.id) else {
            continue;
        };
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(done)) => {
                many.running.remove(&environment.id);
                report.environments.push(done);
            }
            Ok(Err(join_error)) => {
                many.running.remove(&environment.id);
                report
                    .environments
                    .push(task_failed(environment.id, join_error));
            }
            Err(_) => report.environments.push(late(environment)),
        }
    }
}

/// An environment still busy from an earlier cycle.
fn late(environment: Environment) -> EnvironmentReport {
    let mut late = EnvironmentReport::new(Some(environment.id), Disposition::Late);
    late.name = Some(environment.name);
    late.orchestration = environment.orchestration;
    late
}

fn task_failed(id: String, join_error: tokio::task::JoinError) -> EnvironmentReport {
    tracing::error!(environment = %id, "the environment's task failed: {join_error}");
    let mut failed = EnvironmentReport::new(Some(id), Disposition::Served);
    failed
        .failures
        .push(CycleFailure::Task(join_error.to_string()));
    failed
}

/// One environment of many: discover it (scoped), list its registries,
/// write the tokens. A key that may not write there skips it.
async fn refresh_environment(
    rancher: RancherClient,
    policy: Policy,
    tokens: Tokens,
    environment: Environment,
    named: bool,
    cache: Arc<Mutex<HashMap<String, Endpoints>>>,
    permits: Arc<Semaphore>,
) -> EnvironmentReport {
    let _permit = permits.acquire_owned().await;
    let mut report = EnvironmentReport::new(Some(environment.id.clone()), Disposition::Served);
    report.name = Some(environment.name.clone());
    report.orchestration = environment.orchestration.clone();
    let mut known = lock(&cache).remove(&environment.id);
    match list_registries(&rancher, &mut known, Some(&environment.id)).await {
        Ok((endpoints, registries)) => {
            (report.outcomes, report.failures) =
                apply_tokens(&rancher, &endpoints, &policy, &tokens, &registries).await;
            if !has_rancher_problem(&report.outcomes) {
                lock(&cache).insert(environment.id.clone(), endpoints);
            }
        }
        Err(err) if err.is_not_writable() => {
            report.disposition = Disposition::Skipped {
                reason: err.to_string(),
                named,
            };
        }
        Err(err) => report.failures.push(err.into()),
    }
    report
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lists registries, discovering the endpoints first if they are not known
/// yet: through CATTLE_URL for the single environment, scoped to `id` for
/// one of many.
async fn list_registries(
    rancher: &RancherClient,
    known_endpoints: &mut Option<Endpoints>,
    id: Option<&str>,
) -> Result<(Endpoints, Vec<Registry>), RancherError> {
    let endpoints = match known_endpoints.take() {
        Some(endpoints) => endpoints,
        None => {
            let endpoints = match id {
                None => rancher.discover().await?,
                Some(id) => rancher.discover_environment(id).await?,
            };
            tracing::debug!(endpoints = %endpoints, "discovered the Rancher API");
            endpoints
        }
    };
    // Forgotten on failure, so the next attempt rediscovers.
    let registries = rancher.list_registries(&endpoints).await;
    *known_endpoints = registries.is_ok().then(|| endpoints.clone());
    Ok((endpoints, registries?))
}
