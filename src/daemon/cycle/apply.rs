//! Applying a cycle's tokens to one Rancher environment's registries.
//!
//! Tokens reach an environment one of two ways ([`Tokens`]): listed (the
//! registries of AWS_ECR_REGISTRY_IDS, one token each, fetched before the
//! environments) or claimed (ECR_DISCOVER and the config file: each ECR
//! host found in the environment is served by the source that claims it,
//! with that source's token for the host's region, asked once per cycle
//! through [`CycleTokens`]). A few hosts are written at once; one host's
//! failure never stops the others.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;

use super::report::CycleFailure;
use crate::aws::EcrToken;
use crate::daemon::rancher::{Endpoints, RancherClient, Registry};
use crate::daemon::reconcile::{self, HostOutcome, Policy, Problem};
use crate::daemon::sources::{own_hosts, Claim, CycleTokens, TokenKey};
use crate::registry_host::RegistryHost;

/// How many registry hosts of one environment are written at once: each is
/// a credential list and a PUT, so an environment with several costs
/// Rancher's latency about twice, not twice per host.
const HOSTS_AT_ONCE: usize = 4;

/// How an environment gets its tokens this cycle.
#[derive(Clone)]
pub enum Tokens {
    /// Fetched before the environments: one per listed registry.
    Listed(Arc<Vec<EcrToken>>),
    /// Asked on need, once per (source, region) for the whole cycle, by
    /// the hosts these sources claim.
    Claimed {
        cycle: Arc<CycleTokens>,
        sources: Arc<[usize]>,
    },
}

/// Writes the environment's tokens into its registries.
pub async fn apply_tokens(
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

/// What each host is to get: a source's token, or why it cannot have one.
type Wanted = BTreeMap<RegistryHost, Result<TokenKey, String>>;

/// ECR_DISCOVER and the config file: every registry host a source claims
/// gets that source's token for the host's region, written as if ECR had
/// named the host. A source without a token fails only the hosts that
/// needed it.
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
    let mut wanted = claimed_hosts(cycle, sources, registries);
    let mut failures = Vec::new();
    if policy.auto_create {
        failures = own_registries(cycle, sources, &mut wanted).await;
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

/// The registry hosts of the environment that a source claims.
fn claimed_hosts(cycle: &CycleTokens, sources: &[usize], registries: &[Registry]) -> Wanted {
    let mut wanted = Wanted::new();
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
    wanted
}

/// AUTO_CREATE: the sources' own registries, made where missing. A source
/// whose token (and so whose hosts) cannot be had is a failure.
async fn own_registries(
    cycle: &CycleTokens,
    sources: &[usize],
    wanted: &mut Wanted,
) -> Vec<CycleFailure> {
    let mut failures = Vec::new();
    for &index in sources {
        let key = TokenKey {
            source: index,
            region: cycle.sources().home_region(index).to_string(),
        };
        match cycle.get(&key).await {
            Ok(token) => {
                let source = cycle.sources().get(index);
                // A pull proxy stands for the source's own registry: it is
                // the one Rancher pulls through, so the one made.
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
    failures
}

/// Whether Rancher failed somewhere (so its endpoints are rediscovered).
pub fn has_rancher_problem(outcomes: &[HostOutcome]) -> bool {
    outcomes.iter().any(|o| {
        o.problems
            .iter()
            .any(|p| matches!(p, Problem::Rancher { .. }))
    })
}
