//! The `[leader_election]` table as the file grammar knows it: typed and
//! spanned, decided by the daemon (`daemon::config`), which alone runs
//! several replicas that must agree on one writer.
//!
//! ```toml
//! [leader_election]
//! namespace = "ecr"                       # required: where the Lease is
//! lease_name = "rancher-ecr-credentials"  # the default
//! lease_duration = "15s"                  # the default
//! kubeconfig = "/etc/kube/config"         # optional, as for a target
//! context = "prod"                        # optional
//! ```

use serde::Deserialize;
use toml::Spanned;

/// The keys of `[leader_election]`, each with its place in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderElectionTable {
    pub namespace: Option<Spanned<String>>,
    pub lease_name: Option<Spanned<String>>,
    pub lease_duration: Option<Spanned<String>>,
    pub kubeconfig: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
}
