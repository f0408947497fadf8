//! The Kubernetes target kind: an image pull Secret kept fresh in each
//! served namespace of a cluster, and named in its ServiceAccounts.
//!
//! This module owns what a Kubernetes target is, as the Rancher client owns
//! its settings and `Selection`: the settings the configuration decides
//! ([`KubernetesSettings`], [`LeaderElection`]) and the decisions that need
//! no cluster, kept pure so they are tested without one:
//! - [`namespaces`]: which namespaces are served ([`NamespaceFilter`]),
//!   through name patterns ([`glob`]), label selectors ([`selector`]) and
//!   Rancher 2 projects;
//! - [`pull_secret`]: the Secret to write, and whether one found is ours,
//!   someone else's, or already up to date;
//! - [`service_account`]: the guarded JSON patch that names the Secret in a
//!   ServiceAccount's `imagePullSecrets`;
//! - [`names`]: the API server's rules for names, label keys and values;
//! - [`lease`]: leader election over a Lease, as a state machine (what to
//!   write, whether this replica leads).
//!
//! Beside them, the parts that talk to a cluster (docs/kubernetes.md):
//! - [`client`]: the kube client of a target, built on first need, with
//!   its timeouts and response-body limit, from the kubeconfig
//!   [`kubeconfig`] reads; [`error`] classifies failures;
//! - [`cluster`]: one function per request (list namespaces, read, create
//!   and replace a Secret, read and patch ServiceAccounts);
//! - [`serve`]: serving one namespace, the same for a cycle and a watch;
//! - [`watch`]: the watches that serve what changes between cycles.
//!
//! The target kind that drives them is `daemon::cycle::kubernetes_target`.

pub mod client;
pub mod cluster;
pub mod election;
pub mod error;
pub mod glob;
pub mod kubeconfig;
pub mod lease;
pub mod names;
pub mod namespaces;
pub mod pull_secret;
pub mod selector;
pub mod serve;
pub mod service_account;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

pub use namespaces::{NamespaceFilter, RancherProject};

/// The Secret name when `secret_name` is not given.
pub const DEFAULT_SECRET_NAME: &str = "ecr-credentials";
/// The ServiceAccount named when `service_accounts` is not given.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// The Lease name when `lease_name` is not given.
pub const DEFAULT_LEASE_NAME: &str = "rancher-ecr-credentials";
/// The lease duration when `lease_duration` is not given.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// One cluster, the namespaces to serve there, and from which sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSettings {
    /// Names the target in `/healthz`, metrics and errors, if given.
    pub name: Option<String>,
    /// `None`: `KUBECONFIG` or `~/.kube/config`, else the in-cluster
    /// service account.
    pub kubeconfig: Option<PathBuf>,
    /// A context of that kubeconfig; `None`: its current context.
    pub context: Option<String>,
    pub namespaces: NamespaceFilter,
    /// The pull Secret's name in every served namespace (a DNS-1123
    /// subdomain).
    pub secret_name: String,
    pub service_accounts: ServiceAccounts,
}

/// Which ServiceAccounts of a served namespace name the pull Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAccounts {
    /// None: pods name the Secret themselves (`service_accounts = []`).
    None,
    /// Every ServiceAccount (`["*"]`).
    All,
    /// These, where they exist (each a DNS-1123 subdomain).
    Named(Vec<String>),
}

impl ServiceAccounts {
    /// Whether the ServiceAccount `name` is to name the Secret.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            ServiceAccounts::None => false,
            ServiceAccounts::All => true,
            ServiceAccounts::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One daemon of several at a time, chosen by a Lease (coordination.k8s.io).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// The namespace of the Lease.
    pub namespace: String,
    pub lease_name: String,
    pub lease_duration: Duration,
    /// The cluster that holds the Lease, as for a target.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_accounts() {
        let named = ServiceAccounts::Named(vec!["default".into(), "builder".into()]);
        assert!(named.includes("builder") && !named.includes("other"));
        assert!(ServiceAccounts::All.includes("anything"));
        assert!(!ServiceAccounts::None.includes("default"));
    }
}
