//! What a cycle did: per environment, the outcome of each registry host,
//! and the failures that kept whole environments (or the cycle) from being
//! served. The report is the one thing the loop, `/healthz`, the metrics,
//! the logs and `--check`/`--dry-run` read, and it classifies itself for the
//! scheduler ([`CycleReport::outcome`]): the one home of the error policy.

use std::time::SystemTime;

use super::cluster_report::ClusterReport;
use crate::aws::EcrError;
use crate::daemon::kubernetes::error::KubeError;
use crate::daemon::kubernetes::serve::NamespaceOutcome;
use crate::daemon::rancher::RancherError;
use crate::daemon::reconcile::{HostOutcome, Problem};
use crate::daemon::schedule::CycleOutcome;
use crate::daemon::sources::TokenFailure;

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
    /// A Kubernetes target's cluster could not be listed (or reached).
    #[error("Kubernetes target {target}: {error}")]
    Kubernetes { target: String, error: KubeError },
}

impl CycleFailure {
    pub fn label(&self) -> &'static str {
        match self {
            CycleFailure::Ecr(err) => err.label(),
            CycleFailure::Rancher(err) | CycleFailure::Environments(err) => err.label(),
            CycleFailure::Token(failure) => failure.error.label(),
            CycleFailure::Task(_) => "task_failed",
            CycleFailure::TimedOut(_) => "cycle_timeout",
            CycleFailure::Kubernetes { error, .. } => error.label(),
        }
    }
}

/// What one cycle did.
#[derive(Debug, Default)]
pub struct CycleReport {
    /// Failures outside any one environment: AWS (a malformed token entry
    /// included), the environment list, a timeout. Both an AWS and a
    /// Rancher failure are kept, so neither hides the other.
    pub failures: Vec<CycleFailure>,
    /// One entry per environment served, skipped or late this cycle.
    pub environments: Vec<EnvironmentReport>,
    /// One entry per Kubernetes target whose namespaces were listed.
    pub clusters: Vec<ClusterReport>,
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
    pub fn new(id: Option<String>, disposition: Disposition) -> EnvironmentReport {
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
            ..CycleReport::default()
        }
    }

    /// Every served namespace of every cluster, with its target's label.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &super::NamespaceReport)> {
        self.clusters.iter().flat_map(|cluster| {
            cluster
                .namespaces
                .iter()
                .map(move |namespace| (cluster.target.as_str(), namespace))
        })
    }

    /// The expiry of every token written (or up to date), in Rancher and
    /// in Kubernetes: what the next refresh is planned from.
    pub fn expiries(&self) -> impl Iterator<Item = Option<SystemTime>> + '_ {
        let rancher = self.outcomes().map(|(_, o)| o.expires_at);
        let kubernetes = self.namespaces().map(|(_, n)| n.expires_at);
        rancher.chain(kubernetes)
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

    /// True when every environment that counts, and every served
    /// namespace, holds the new tokens.
    pub fn success(&self) -> bool {
        self.failures.is_empty()
            && (self.environments.iter().any(|e| e.counts()) || !self.clusters.is_empty())
            && self
                .environments
                .iter()
                .filter(|e| e.counts())
                .all(EnvironmentReport::is_up_to_date)
            && self.namespaces().all(|(_, n)| n.outcome.is_fresh())
    }

    /// How the cycle ended, for the scheduler: a failure that might go away
    /// if tried again soon (AWS or Rancher trouble) is retried with backoff;
    /// a registry that a person must add or activate, an environment left
    /// out or still busy, is looked at again soon, without.
    pub fn outcome(&self) -> CycleOutcome {
        let retryable = self.all_failures().next().is_some()
            || self
                .outcomes()
                .any(|(_, o)| o.problems.iter().any(Problem::is_retryable))
            || self.namespaces().any(|(_, n)| {
                matches!(
                    n.outcome,
                    NamespaceOutcome::Failed {
                        retryable: true,
                        ..
                    }
                )
            });
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
        for (_, namespace) in self.namespaces() {
            match &namespace.outcome {
                NamespaceOutcome::Failed { label, .. } => labels.push(label),
                NamespaceOutcome::Conflict(_) => labels.push("kubernetes_secret_conflict"),
                _ => {}
            }
        }
        labels
    }
}
