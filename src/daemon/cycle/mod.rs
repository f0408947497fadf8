//! One refresh cycle over every target: the tokens of the cycle, shared by
//! every target of any kind, and each target served at once (a slow Rancher
//! does not hold up the others). The [`Updater`] keeps the clients and what
//! each target learned between cycles, so a steady-state cycle costs a
//! Rancher one registry list, one credential list and one PUT per registry.
//!
//! A target kind is a module with one narrow interface the cycle drives:
//! given where this cycle's tokens come from ([`Fetch`]) and the daemon's
//! [`Policy`], serve everything the target covers and report it
//! ([`report`]). [`rancher_target`] is the Rancher kind (its environments
//! scheduled there, tokens applied by [`apply`]); [`kubernetes_target`] the
//! Kubernetes kind (a cluster's namespaces, reported in
//! [`cluster_report`]); each is a variant of [`Target`].

pub mod apply;
pub mod cluster_report;
pub mod kubernetes_target;
pub mod rancher_target;
pub mod report;

use std::sync::Arc;

use futures_util::future::join_all;

pub use cluster_report::{ClusterReport, NamespaceReport};
pub use kubernetes_target::KubernetesTarget;
pub use rancher_target::{Fetch, RancherTarget};
pub use report::{CycleFailure, CycleReport, Disposition, EnvironmentReport};

use super::config::Supply;
use super::reconcile::Policy;
use super::sources::{Claim, CycleTokens, Sources, TokenFailure};
use super::token_source::TokenSource;
use crate::aws::EcrToken;
use crate::registry_host::RegistryHost;

/// A place credentials go, of any kind.
pub enum Target {
    Rancher(RancherTarget),
    Kubernetes(KubernetesTarget),
}

impl Target {
    async fn refresh(&mut self, fetch: Fetch<'_>, policy: &Policy) -> CycleReport {
        match self {
            Target::Rancher(target) => target.refresh(fetch, policy).await,
            Target::Kubernetes(target) => target.refresh(fetch, policy).await,
        }
    }

    fn serves_many(&self) -> bool {
        match self {
            Target::Rancher(target) => target.serves_many(),
            Target::Kubernetes(_) => true,
        }
    }
}

/// Long-lived state of the updater.
pub struct Updater {
    sources: Arc<Sources>,
    supply: Supply,
    targets: Vec<Target>,
    /// Dry run and ECR_PROXY_HOST; AUTO_CREATE is per target.
    policy: Policy,
}

impl Updater {
    /// `targets` are served from `sources` as `supply` says. No network
    /// call happens here.
    pub fn new(sources: Sources, supply: Supply, targets: Vec<Target>, policy: Policy) -> Updater {
        Updater {
            sources: Arc::new(sources),
            supply,
            targets,
            policy,
        }
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

    /// The first Rancher target, the only target without a config file.
    pub fn first_rancher(&self) -> Option<&RancherTarget> {
        self.targets.iter().find_map(|target| match target {
            Target::Rancher(target) => Some(target),
            Target::Kubernetes(_) => None,
        })
    }

    /// The policy of the first Rancher target.
    pub fn policy(&self) -> Policy {
        Policy {
            auto_create: self.first_rancher().is_some_and(RancherTarget::auto_create),
            ..self.policy.clone()
        }
    }

    /// Whether the cycle's report is the thing to show, environment by
    /// environment (several environments, several targets, or registries
    /// found in Rancher), rather than one token list and one registry list.
    pub fn reports_by_environment(&self) -> bool {
        self.supply == Supply::Discovered
            || self.targets.len() > 1
            || self.targets.iter().any(Target::serves_many)
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

    /// One refresh cycle over every target, all at once. Never fails as a
    /// whole: the report says what happened.
    pub async fn refresh(&mut self) -> CycleReport {
        let cycle = Arc::new(CycleTokens::new(self.sources.clone()));
        let (sources, supply, policy) = (&self.sources, self.supply, &self.policy);
        let parts = join_all(self.targets.iter_mut().map(|target| {
            let fetch = match supply {
                Supply::Listed => Fetch::Listed(&sources.get(0).tokens),
                Supply::Discovered => Fetch::Claimed(cycle.clone()),
            };
            target.refresh(fetch, policy)
        }))
        .await;
        let mut report = CycleReport::default();
        for part in parts {
            report.failures.extend(part.failures);
            report.environments.extend(part.environments);
            report.clusters.extend(part.clusters);
        }
        report
    }
}
