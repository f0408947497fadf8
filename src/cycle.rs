//! One refresh cycle: fetch the ECR tokens and list Rancher's registries
//! (concurrently), then reconcile each token. The [`Updater`] keeps the
//! clients and the discovered API between cycles, so a steady-state cycle
//! costs Rancher one registry list, one credential list and one PUT per
//! registry.
//!
//! Tokens reach an environment one of two ways ([`Tokens`]): listed (the
//! registries of AWS_ECR_REGISTRY_IDS, one token each, fetched before the
//! environments) or claimed (ECR_DISCOVER and the config file: each ECR
//! host found in the environment is served by the source that claims it,
//! with that source's token for the host's region, asked once per cycle
//! through [`CycleTokens`]). Each target (a Rancher) is served in turn.
//!
//! With RANCHER_ENVIRONMENTS the cycle lists the environments first (so new
//! ones are picked up), then reconciles each chosen one in a task of its
//! own, a bounded number at once. A cycle never waits for an environment
//! still busy from the previous one: it reports it late and refreshes the
//! others on time; what the late task did is reported by the first cycle
//! after it finished. The [`CycleReport`] has one entry per environment.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError, Mode, Supply};
use crate::ecr::{self, EcrError, EcrToken, TokenSource};
use crate::metrics::Metrics;
use crate::rancher::{
    choose, Endpoints, Environment, KeyKind, RancherClient, RancherError, Registry, Selection,
};
use crate::reconcile::{self, HostOutcome, Policy, Problem};
use crate::registry_host::RegistryHost;
use crate::schedule::CycleOutcome;
use crate::sources::{own_hosts, Claim, CycleTokens, Source, Sources, TokenFailure, TokenKey};

/// A failure that stopped the cycle before any token was written.
#[derive(Debug, thiserror::Error)]
pub enum CycleFailure {
    #[error("cannot get an ECR token: {0}")]
    Ecr(#[from] EcrError),
    #[error("cannot list Rancher registries: {0}")]
    Rancher(#[from] RancherError),
    #[error("cannot list Rancher environments: {0}")]
    Environments(RancherError),
    /// AUTO_CREATE could not learn a source's registry hosts.
    #[error("cannot create the registries: {0}")]
    Token(TokenFailure),
    #[error("reconciling the environment failed: {0}")]
    Task(String),
    #[error("the refresh took longer than {}; abandoned", humantime::format_duration(*.0))]
    TimedOut(std::time::Duration),
}

impl CycleFailure {
    pub fn label(&self) -> &'static str {
        match self {
            CycleFailure::Ecr(err) => err.label(),
            CycleFailure::Rancher(err) | CycleFailure::Environments(err) => err.label(),
            CycleFailure::Token(failure) => failure.error.label(),
            CycleFailure::Task(_) => "task_failed",
            CycleFailure::TimedOut(_) => "cycle_timeout",
        }
    }
}

/// What one cycle did.
#[derive(Debug)]
pub struct CycleReport {
    /// Failures outside any one environment: AWS (a malformed token entry
    /// included), the environment list, a timeout. Both an AWS and a
    /// Rancher failure are kept, so neither hides the other.
    pub failures: Vec<CycleFailure>,
    /// One entry per environment served, skipped or late this cycle.
    pub environments: Vec<EnvironmentReport>,
}

/// What a cycle did in one Rancher environment.
#[derive(Debug)]
pub struct EnvironmentReport {
    /// The environment's id, when known (the single environment is known
    /// once discovered).
    pub id: Option<String>,
    pub name: Option<String>,
    pub orchestration: Option<String>,
    /// The Rancher it is in, when the config file names several.
    pub target: Option<String>,
    pub disposition: Disposition,
    /// One entry per ECR token (registry host).
    pub outcomes: Vec<HostOutcome>,
    /// What kept the environment from being reconciled at all (its
    /// discovery or registry list).
    pub failures: Vec<CycleFailure>,
}

/// Whether an environment was worked on this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Served,
    /// Left out: missing, ambiguous, inactive or not writable. `named`:
    /// the selection named it (so it counts against health).
    Skipped {
        reason: String,
        named: bool,
    },
    /// Still busy from an earlier cycle: not waited for.
    Late,
}

impl EnvironmentReport {
    fn new(id: Option<String>, disposition: Disposition) -> EnvironmentReport {
        EnvironmentReport {
            id,
            name: None,
            orchestration: None,
            target: None,
            disposition,
            outcomes: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The id, or `-` while unknown, for logs and labels; after its
    /// Rancher's label (`rancher-b:8080/1a5`) when there are several.
    pub fn label(&self) -> String {
        let id = self.id.as_deref().unwrap_or("-");
        match &self.target {
            Some(target) => format!("{target}/{id}"),
            None => id.to_string(),
        }
    }

    /// Every registry host of a served environment holds its new token.
    /// (One with no ECR registry at all, under ECR_DISCOVER, has nothing to
    /// be stale.)
    pub fn is_up_to_date(&self) -> bool {
        self.disposition == Disposition::Served
            && self.failures.is_empty()
            && self.outcomes.iter().all(HostOutcome::is_up_to_date)
    }

    /// Whether this environment counts for the cycle's success: all but
    /// those merely listed under `all` and skipped.
    fn counts(&self) -> bool {
        !matches!(self.disposition, Disposition::Skipped { named: false, .. })
    }
}

impl CycleReport {
    /// The report of a cycle abandoned after `limit`.
    pub fn timed_out(limit: std::time::Duration) -> CycleReport {
        CycleReport {
            failures: vec![CycleFailure::TimedOut(limit)],
            environments: Vec::new(),
        }
    }

    /// Every outcome of every environment, with its environment.
    pub fn outcomes(&self) -> impl Iterator<Item = (&EnvironmentReport, &HostOutcome)> {
        self.environments
            .iter()
            .flat_map(|environment| environment.outcomes.iter().map(move |o| (environment, o)))
    }

    /// Every failure, the cycle's and each environment's.
    pub fn all_failures(&self) -> impl Iterator<Item = &CycleFailure> {
        self.failures
            .iter()
            .chain(self.environments.iter().flat_map(|e| e.failures.iter()))
    }

    /// True when every environment that counts holds the new tokens.
    pub fn success(&self) -> bool {
        self.failures.is_empty()
            && self.environments.iter().any(|e| e.counts())
            && self
                .environments
                .iter()
                .filter(|e| e.counts())
                .all(EnvironmentReport::is_up_to_date)
    }

    /// How the cycle ended, for the scheduler: a failure that might go away
    /// if tried again soon (AWS or Rancher trouble) is retried with backoff;
    /// a registry that a person must add or activate, an environment left
    /// out or still busy, is looked at again soon, without.
    pub fn outcome(&self) -> CycleOutcome {
        let retryable = self.all_failures().next().is_some()
            || self
                .outcomes()
                .any(|(_, o)| o.problems.iter().any(Problem::is_retryable));
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
        let mut labels: Vec<&'static str> = self.all_failures().map(|f| f.label()).collect();
        for (_, outcome) in self.outcomes() {
            labels.extend(outcome.problems.iter().map(Problem::label));
        }
        labels
    }
}

/// How many environments are reconciled at once. An environment is a short
/// chain of requests (a registry page, then a credential list and a PUT per
/// registry), so a cycle is bound by Rancher's latency: 16 chains keep a
/// 100-environment cycle within seconds at 20 ms, while the memory of 16
/// registry pages in flight stays small (docs/benchmarks.md).
const CONCURRENT_ENVIRONMENTS: usize = 16;
/// How many registry hosts of one environment are written at once: each is
/// a credential list and a PUT, so an environment with several costs
/// Rancher's latency about twice, not twice per host.
const HOSTS_AT_ONCE: usize = 4;
/// The longest a cycle waits for the environments it started; those still
/// busy then are reported late, and the next cycle does not wait for them.
/// A shorter REFRESH_INTERVAL shortens it: a cycle never waits past the time
/// the next one is due.
const ENVIRONMENT_WAIT: Duration = Duration::from_secs(4 * 60);

/// Long-lived state of the updater.
pub struct Updater {
    sources: Arc<Sources>,
    supply: Supply,
    targets: Vec<Target>,
    /// Dry run and ECR_PROXY_HOST; AUTO_CREATE is per target.
    policy: Policy,
}

/// One Rancher and what the updater knows of it between cycles.
struct Target {
    rancher: RancherClient,
    scope: Scope,
    /// The sources whose tokens go here (indexes into the sources).
    sources: Arc<[usize]>,
    auto_create: bool,
    /// Names this Rancher in reports when there are several.
    label: Option<String>,
}

/// How an environment gets its tokens this cycle.
#[derive(Clone)]
enum Tokens {
    /// Fetched before the environments: one per listed registry.
    Listed(Arc<Vec<EcrToken>>),
    /// Asked on need, once per (source, region) for the whole cycle, by
    /// the hosts these sources claim.
    Claimed {
        cycle: Arc<CycleTokens>,
        sources: Arc<[usize]>,
    },
}

/// Where a target's tokens come from, before they are had.
enum Fetch<'a> {
    Listed(&'a TokenSource),
    Ready(Tokens),
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

impl Updater {
    /// Builds the clients. No network call happens here.
    pub async fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Updater, ConfigError> {
        let ca_bundle = config.ca_bundle.as_deref();
        let mut sources = Vec::new();
        for settings in &config.sources {
            let region = ecr::resolve_region(settings.aws.region.as_deref())
                .await
                .ok_or(ConfigError::Missing {
                    setting: "AWS_REGION (--aws-region)",
                    hint: "neither AWS_DEFAULT_REGION nor the shared config profile names a \
                           region either; set AWS_REGION, e.g. AWS_REGION=us-east-1",
                })?;
            let home = region.to_string();
            let tokens = TokenSource::new(&settings.aws, region, ca_bundle, metrics.clone()).await;
            sources.push(Source {
                name: settings.name.clone(),
                tokens,
                region: (!settings.any_region).then_some(home),
                accounts: settings.aws.registry_ids.clone(),
                aliases: settings.aliases.clone(),
                // With ECR_DISCOVER, the pull proxy stands for the source's
                // own registry; listed, it replaces each token's host.
                proxy_host: match config.supply {
                    Supply::Discovered => config.proxy_host.clone(),
                    Supply::Listed => None,
                },
            });
        }
        let several = config.targets.len() > 1;
        let mut targets = Vec::new();
        for (index, settings) in config.targets.iter().enumerate() {
            let rancher = RancherClient::new(&settings.rancher, ca_bundle, metrics.clone())
                .map_err(|err| ConfigError::Invalid {
                    setting: "CATTLE_URL (--cattle-url)",
                    reason: err.to_string(),
                })?;
            let scope = match &settings.rancher.environments {
                None => Scope::Single { endpoints: None },
                Some(selection) => Scope::Many(ManyEnvironments {
                    selection: selection.clone(),
                    key: None,
                    endpoints: Arc::default(),
                    running: HashMap::new(),
                    permits: Arc::new(Semaphore::new(CONCURRENT_ENVIRONMENTS)),
                    wait: ENVIRONMENT_WAIT.min(config.refresh_interval),
                }),
            };
            let url = &settings.rancher.url;
            let authority = format!(
                "{}{}",
                url.host_str().unwrap_or("rancher"),
                url.port().map(|p| format!(":{p}")).unwrap_or_default()
            );
            let shared = config.targets.iter().enumerate().any(|(other, t)| {
                other != index
                    && t.rancher.url.host_str() == url.host_str()
                    && t.rancher.url.port() == url.port()
            });
            targets.push(Target {
                rancher,
                scope,
                sources: settings.sources.clone().into(),
                auto_create: settings.auto_create,
                label: several.then(|| match shared {
                    true => format!("{authority}#{}", index + 1),
                    false => authority,
                }),
            });
        }
        Ok(Updater {
            sources: Arc::new(Sources::new(sources)),
            supply: config.supply,
            targets,
            policy: Policy {
                auto_create: false,
                proxy_host: config.proxy_host.clone(),
                dry_run: matches!(config.mode, Mode::DryRun | Mode::Check),
            },
        })
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The token source of listed registries (the first, and without a
    /// config file the only, source).
    pub fn token_source(&self) -> &TokenSource {
        &self.sources.get(0).tokens
    }

    pub fn supply(&self) -> Supply {
        self.supply
    }

    /// The first target's client: the only one without a config file.
    pub fn rancher(&self) -> &RancherClient {
        &self.targets[0].rancher
    }

    /// The policy of the first target.
    pub fn policy(&self) -> Policy {
        Policy {
            auto_create: self.targets[0].auto_create,
            ..self.policy.clone()
        }
    }

    /// Whether the cycle's report is the thing to show, environment by
    /// environment (several environments, several targets, or registries
    /// found in Rancher), rather than one token list and one registry list.
    pub fn reports_by_environment(&self) -> bool {
        self.supply == Supply::Discovered
            || self.targets.len() > 1
            || self
                .targets
                .iter()
                .any(|t| matches!(t.scope, Scope::Many(_)))
    }

    /// The token this daemon writes for `host`, claimed as a cycle would,
    /// for `--check-image`: `None` when no source serves the host.
    pub async fn claimed_token(
        &self,
        host: &RegistryHost,
    ) -> Option<Result<(EcrToken, String), TokenFailure>> {
        let all: Vec<usize> = (0..self.sources.len()).collect();
        let Claim::Token(key) = self.sources.claim(host, &all) else {
            return None;
        };
        let cycle = CycleTokens::new(self.sources.clone());
        Some(cycle.get(&key).await.map(|token| (token, key.region)))
    }

    /// One refresh cycle over every target, all at once (a slow Rancher
    /// does not hold up the others). Never fails as a whole: the report
    /// says what happened.
    pub async fn refresh(&mut self) -> CycleReport {
        let cycle = Arc::new(CycleTokens::new(self.sources.clone()));
        let (sources, supply, policy) = (&self.sources, self.supply, &self.policy);
        let parts = join_all(self.targets.iter_mut().map(|target| {
            let cycle = cycle.clone();
            async move {
                let policy = Policy {
                    auto_create: target.auto_create,
                    ..policy.clone()
                };
                let fetch = match supply {
                    Supply::Listed => Fetch::Listed(&sources.get(0).tokens),
                    Supply::Discovered => Fetch::Ready(Tokens::Claimed {
                        cycle,
                        sources: target.sources.clone(),
                    }),
                };
                let mut part = match &mut target.scope {
                    Scope::Single { endpoints } => {
                        refresh_single(fetch, &target.rancher, &policy, endpoints).await
                    }
                    Scope::Many(many) => refresh_many(fetch, &target.rancher, &policy, many).await,
                };
                for environment in &mut part.environments {
                    environment.target = target.label.clone();
                }
                part
            }
        }))
        .await;
        let mut report = CycleReport {
            failures: Vec::new(),
            environments: Vec::new(),
        };
        for part in parts {
            report.failures.extend(part.failures);
            report.environments.extend(part.environments);
        }
        report
    }
}

/// The tokens a target's environments use: fetched now when listed.
async fn obtain(fetch: Fetch<'_>, failures: &mut Vec<CycleFailure>) -> Option<Tokens> {
    match fetch {
        Fetch::Listed(source) => fetch_tokens(source, failures)
            .await
            .map(|tokens| Tokens::Listed(Arc::new(tokens))),
        Fetch::Ready(tokens) => Some(tokens),
    }
}

/// Fetches the tokens, keeping malformed entries as failures.
async fn fetch_tokens(
    ecr: &TokenSource,
    failures: &mut Vec<CycleFailure>,
) -> Option<Vec<EcrToken>> {
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
    fetch: Fetch<'_>,
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
    }
}

/// Every selected environment: the list and the tokens fetched together,
/// then each environment in a task of its own, a bounded number at once.
async fn refresh_many(
    fetch: Fetch<'_>,
    rancher: &RancherClient,
    policy: &Policy,
    many: &mut ManyEnvironments,
) -> CycleReport {
    let mut report = CycleReport {
        failures: Vec::new(),
        environments: Vec::new(),
    };
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
        return report;
    };
    let named = matches!(many.selection, Selection::Named(_));
    let serving: HashSet<String> = chosen.serve.iter().map(|e| e.id.clone()).collect();
    let mut started = Vec::new();
    for environment in chosen.serve {
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
            let mut late = EnvironmentReport::new(Some(environment.id), Disposition::Late);
            late.name = Some(environment.name);
            late.orchestration = environment.orchestration;
            report.environments.push(late);
            continue;
        }
        let task = tokio::spawn(refresh_environment(
            rancher.clone(),
            policy.clone(),
            tokens.clone(),
            environment.clone(),
            named,
            many.endpoints.clone(),
            many.permits.clone(),
        ));
        many.running.insert(environment.id.clone(), task);
        started.push(environment);
    }
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
            Err(_) => {
                let mut late = EnvironmentReport::new(Some(environment.id), Disposition::Late);
                late.name = Some(environment.name);
                late.orchestration = environment.orchestration;
                report.environments.push(late);
            }
        }
    }
    // A task that finishes after the wait is reported by the next cycle;
    // one of an environment no longer selected is dropped once finished.
    many.running
        .retain(|id, task| serving.contains(id) || !task.is_finished());
    report
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

/// Writes the environment's tokens into its registries.
async fn apply_tokens(
    rancher: &RancherClient,
    endpoints: &Endpoints,
    policy: &Policy,
    tokens: &Tokens,
    registries: &[Registry],
) -> (Vec<HostOutcome>, Vec<CycleFailure>) {
    match tokens {
        Tokens::Listed(tokens) => {
            let mut outcomes = Vec::new();
            for batch in tokens.chunks(HOSTS_AT_ONCE) {
                outcomes.extend(
                    join_all(batch.iter().map(|token| {
                        reconcile::apply_token(rancher, endpoints, policy, token, registries)
                    }))
                    .await,
                );
            }
            (outcomes, Vec::new())
        }
        Tokens::Claimed { cycle, sources } => {
            apply_claimed(rancher, endpoints, policy, cycle, sources, registries).await
        }
    }
}

/// ECR_DISCOVER and the config file: every registry host a source claims
/// gets that source's token for the host's region, written as if ECR had
/// named the host. With AUTO_CREATE, the sources' own registries are
/// created where missing. A source without a token fails only the hosts
/// that needed it.
async fn apply_claimed(
    rancher: &RancherClient,
    endpoints: &Endpoints,
    policy: &Policy,
    cycle: &CycleTokens,
    sources: &[usize],
    registries: &[Registry],
) -> (Vec<HostOutcome>, Vec<CycleFailure>) {
    // The hosts are Rancher's own: no proxy host replaces them.
    let policy = Policy {
        proxy_host: None,
        ..policy.clone()
    };
    let mut wanted: BTreeMap<RegistryHost, Result<TokenKey, String>> = BTreeMap::new();
    for host in reconcile::registry_hosts(registries) {
        match cycle.sources().claim(&host, sources) {
            Claim::Token(key) => {
                wanted.insert(host, Ok(key));
            }
            Claim::Unservable(reason) => {
                wanted.insert(host, Err(reason));
            }
            Claim::Unclaimed => {}
        }
    }
    let mut failures = Vec::new();
    if policy.auto_create {
        for &index in sources {
            let key = TokenKey {
                source: index,
                region: cycle.sources().home_region(index).to_string(),
            };
            match cycle.get(&key).await {
                Ok(token) => {
                    let source = cycle.sources().get(index);
                    // A pull proxy stands for the source's own registry:
                    // it is the one Rancher pulls through, so the one made.
                    let hosts = match &source.proxy_host {
                        Some(proxy) => vec![proxy.clone()],
                        None => own_hosts(&token, &source.accounts),
                    };
                    for host in hosts {
                        wanted.entry(host).or_insert_with(|| Ok(key.clone()));
                    }
                }
                Err(failure) => failures.push(CycleFailure::Token(failure)),
            }
        }
    }
    let wanted: Vec<(RegistryHost, Result<TokenKey, String>)> = wanted.into_iter().collect();
    let mut outcomes = Vec::new();
    for batch in wanted.chunks(HOSTS_AT_ONCE) {
        outcomes.extend(
            join_all(batch.iter().map(|(host, claim)| async {
                let key = match claim {
                    Ok(key) => key,
                    Err(reason) => {
                        let reason = reason.clone();
                        return HostOutcome::failed(host.clone(), Problem::Unservable { reason });
                    }
                };
                match cycle.get(key).await {
                    Ok(token) => {
                        let token = EcrToken {
                            host: host.clone(),
                            ..token
                        };
                        reconcile::apply_token(rancher, endpoints, &policy, &token, registries)
                            .await
                    }
                    Err(failure) => HostOutcome::failed(host.clone(), Problem::Token(failure)),
                }
            }))
            .await,
        );
    }
    (outcomes, failures)
}

fn has_rancher_problem(outcomes: &[HostOutcome]) -> bool {
    outcomes.iter().any(|o| {
        o.problems
            .iter()
            .any(|p| matches!(p, Problem::Rancher { .. }))
    })
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
