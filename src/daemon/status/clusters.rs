//! Freshness of each served namespace of each Kubernetes target, for the
//! `kubernetes` array of `/healthz`.
//!
//! As for a Rancher registry: a namespace is fresh when the last cycle
//! served it (Secret and ServiceAccounts), it is not past its refresh
//! deadline, and its token has not expired. One that failed since it was
//! last served is `stale` while that Secret still holds, `failed` when it
//! never was; a foreign Secret of our name is a `conflict`. A target whose
//! namespaces were never listed keeps the check red (it has no entry to be
//! fresh), and a listing that fails keeps what was known, with the error.
//! A namespace no longer served (deleted, or out of the filter) is
//! forgotten when a listing no longer has it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::daemon::cycle::{CycleFailure, CycleReport, NamespaceReport};
use crate::printable::printable;

#[derive(Debug, Clone, Default)]
struct NamespaceStatus {
    /// `fresh`, `conflict` or `failed`, as the last cycle ended there.
    last: &'static str,
    reason: Option<String>,
    last_success: Option<SystemTime>,
    token_expiry: Option<SystemTime>,
    refresh_deadline: Option<SystemTime>,
}

/// Every Kubernetes target's namespaces as the cycles saw them.
#[derive(Debug, Default)]
pub(super) struct Clusters {
    /// Target label -> whether its namespaces were ever listed, and the
    /// last cycle's error there.
    targets: BTreeMap<String, (bool, Option<String>)>,
    namespaces: BTreeMap<(String, String), NamespaceStatus>,
}

impl Clusters {
    /// Records a cycle's Kubernetes part.
    pub(super) fn record(
        &mut self,
        report: &CycleReport,
        now: SystemTime,
        next_refresh: SystemTime,
        grace: Duration,
    ) {
        for failure in &report.failures {
            if let CycleFailure::Kubernetes { target, error } = failure {
                let entry = self.targets.entry(target.clone()).or_default();
                entry.1 = Some(printable(&error.to_string()));
            }
        }
        // A token that could not be had keeps every target from writing.
        let token_error = report
            .failures
            .iter()
            .find(|f| matches!(f, CycleFailure::Token(_)))
            .map(|f| printable(&f.to_string()));
        if let Some(error) = &token_error {
            for entry in self.targets.values_mut() {
                entry.1 = Some(error.clone());
            }
        }
        for cluster in &report.clusters {
            self.targets.insert(cluster.target.clone(), (true, None));
            let listed: Vec<&str> = cluster
                .namespaces
                .iter()
                .map(|n| n.namespace.as_str())
                .collect();
            self.namespaces.retain(|(target, ns), _| {
                target != &cluster.target || listed.contains(&ns.as_str())
            });
            for namespace in &cluster.namespaces {
                let key = (cluster.target.clone(), namespace.namespace.clone());
                let entry = self.namespaces.entry(key).or_default();
                record_namespace(entry, namespace, now, next_refresh + grace);
            }
        }
    }

    /// Registers a target before its first cycle, so that it counts.
    pub(super) fn expect(&mut self, target: &str) {
        self.targets.entry(target.to_string()).or_default();
    }

    /// Whether there is any Kubernetes target.
    pub(super) fn any(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Whether every target was listed and every namespace is fresh, and
    /// the `kubernetes` entries that say so.
    pub(super) fn health(&self, now: SystemTime) -> (bool, Vec<Value>) {
        let mut healthy = self.targets.values().all(|(listed, _)| *listed);
        let mut entries = Vec::new();
        for ((target, namespace), status) in &self.namespaces {
            let (state, reason) = verdict(status, now);
            healthy &= state == "fresh";
            let target_error = self.targets.get(target).and_then(|(_, e)| e.clone());
            entries.push(json!({
                "target": target,
                "namespace": namespace,
                "state": state,
                "reason": reason.or(target_error),
                "lastSuccess": status.last_success.map(super::timestamp),
                "tokenExpiry": status.token_expiry.map(super::timestamp),
            }));
        }
        (healthy, entries)
    }

    /// The targets never listed, with why, for the body's `error`.
    pub(super) fn unlisted(&self) -> Vec<String> {
        self.targets
            .iter()
            .filter(|(_, (listed, _))| !listed)
            .map(|(target, (_, error))| match error {
                Some(error) => format!("Kubernetes target {target}: not listed yet: {error}"),
                None => format!("Kubernetes target {target}: not listed yet"),
            })
            .collect()
    }

    /// Every namespace known, as (target, namespace): what metrics keep.
    pub(super) fn keys(&self) -> Vec<(String, String)> {
        self.namespaces.keys().cloned().collect()
    }
}

fn record_namespace(
    entry: &mut NamespaceStatus,
    namespace: &NamespaceReport,
    now: SystemTime,
    deadline: SystemTime,
) {
    entry.last = namespace.state();
    entry.reason = namespace.reason().map(|r| printable(&r));
    if namespace.outcome.is_fresh() {
        entry.last_success = Some(now);
        entry.token_expiry = namespace.expires_at;
        entry.refresh_deadline = Some(deadline);
    }
}

/// A namespace's state now, and why it is not fresh.
fn verdict(status: &NamespaceStatus, now: SystemTime) -> (&'static str, Option<String>) {
    let holds = status.last_success.is_some_and(|written| {
        status
            .refresh_deadline
            .is_some_and(|deadline| now <= deadline)
            && status
                .token_expiry
                .is_none_or(|expiry| expiry <= written || now < expiry)
    });
    match status.last {
        "conflict" => ("conflict", status.reason.clone()),
        "fresh" if holds => ("fresh", None),
        "fresh" => ("stale", Some("past its refresh deadline".into())),
        _ if holds => ("stale", status.reason.clone()),
        _ => ("failed", status.reason.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::cycle::ClusterReport;
    use crate::daemon::kubernetes::serve::NamespaceOutcome;

    const HOUR: Duration = Duration::from_secs(3600);

    fn namespace(name: &str, outcome: NamespaceOutcome) -> NamespaceReport {
        NamespaceReport {
            namespace: name.into(),
            outcome,
            hosts: Vec::new(),
            expires_at: None,
        }
    }

    fn cycle(namespaces: Vec<NamespaceReport>) -> CycleReport {
        CycleReport {
            clusters: vec![ClusterReport {
                target: "prod".into(),
                namespaces,
            }],
            ..CycleReport::default()
        }
    }

    fn served() -> NamespaceOutcome {
        NamespaceOutcome::Served {
            changes: Vec::new(),
        }
    }

    fn forbidden() -> NamespaceOutcome {
        NamespaceOutcome::Failed {
            reason: "403 Forbidden".into(),
            label: "kubernetes_forbidden",
            retryable: false,
        }
    }

    #[test]
    fn never_healthy_before_the_first_listing() {
        let mut clusters = Clusters::default();
        clusters.expect("prod");
        let t0 = SystemTime::UNIX_EPOCH + HOUR * 1000;
        assert!(!clusters.health(t0).0);
        assert_eq!(clusters.unlisted().len(), 1);
        clusters.record(&cycle(vec![]), t0, t0 + HOUR, HOUR);
        assert!(clusters.health(t0).0, "listed, nothing to serve");
    }

    #[test]
    fn each_namespace_judged_on_its_own() {
        let mut clusters = Clusters::default();
        let t0 = SystemTime::UNIX_EPOCH + HOUR * 1000;
        let first = cycle(vec![
            namespace("a", served()),
            namespace("b", forbidden()),
            namespace(
                "c",
                NamespaceOutcome::Conflict("Secret c/ecr is not ours".into()),
            ),
        ]);
        clusters.record(&first, t0, t0 + HOUR, HOUR);
        let (healthy, entries) = clusters.health(t0);
        assert!(!healthy);
        let states: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e["namespace"].as_str().unwrap(),
                    e["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(states, [("a", "fresh"), ("b", "failed"), ("c", "conflict")]);
        assert_eq!(entries[1]["reason"], "403 Forbidden");
        // Fixed: every namespace fresh; one gone is forgotten.
        let second = cycle(vec![namespace("a", served()), namespace("b", served())]);
        clusters.record(&second, t0, t0 + HOUR, HOUR);
        let (healthy, entries) = clusters.health(t0);
        assert!(healthy, "{entries:?}");
        assert_eq!(entries.len(), 2);
        // Then a failure: stale while the Secret holds, past the deadline
        // unhealthy.
        let third = cycle(vec![namespace("a", forbidden()), namespace("b", served())]);
        clusters.record(&third, t0 + HOUR, t0 + HOUR * 2, HOUR);
        let (_, entries) = clusters.health(t0 + HOUR);
        assert_eq!(entries[0]["state"], "stale");
        assert!(!clusters.health(t0 + HOUR * 3).0);
    }
}
