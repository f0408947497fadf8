//! What a cycle did in a Kubernetes cluster: per served namespace, how
//! serving it ended. Beside the Rancher environments of the cycle's report,
//! read by the same consumers (`/healthz`, metrics, logs, `--check`).

use std::time::SystemTime;

use crate::daemon::kubernetes::serve::NamespaceOutcome;
use crate::registry_host::RegistryHost;

/// One Kubernetes target's cycle, once its namespaces were listed.
#[derive(Debug, Clone)]
pub struct ClusterReport {
    /// The target's label (its `name`, or `kubernetes`).
    pub target: String,
    /// One entry per served namespace (those being deleted left out).
    pub namespaces: Vec<NamespaceReport>,
}

/// One served namespace.
#[derive(Debug, Clone)]
pub struct NamespaceReport {
    pub namespace: String,
    pub outcome: NamespaceOutcome,
    /// The registry hosts of the Secret written (or wanted) there.
    pub hosts: Vec<RegistryHost>,
    /// When its earliest token expires.
    pub expires_at: Option<SystemTime>,
}

impl NamespaceReport {
    /// The state `/healthz` shows: fresh, conflict or failed.
    pub fn state(&self) -> &'static str {
        match &self.outcome {
            NamespaceOutcome::Served { .. } | NamespaceOutcome::Planned { .. } => "fresh",
            NamespaceOutcome::Conflict(_) => "conflict",
            NamespaceOutcome::Terminating | NamespaceOutcome::Failed { .. } => "failed",
        }
    }

    /// Why it is not fresh, if it is not.
    pub fn reason(&self) -> Option<String> {
        match &self.outcome {
            NamespaceOutcome::Conflict(reason) | NamespaceOutcome::Failed { reason, .. } => {
                Some(reason.clone())
            }
            NamespaceOutcome::Terminating => Some("being deleted".into()),
            _ => None,
        }
    }
}
