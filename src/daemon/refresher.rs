//! One turn of the daemon's loop, and what it tells the world: refresh
//! every target, plan the next turn, record status and metrics, log.
//!
//! [`Refresher`] owns the loop's state between turns (the updater, the
//! scheduler, what was last said about left-out environments), and takes
//! the time of day from its caller: the daemon passes the system clock, and
//! the 30-day soak test a simulated one, so both run exactly this code.
//! Waiting for the next turn is the caller's (`tokio::time::sleep`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use tracing::{debug, error, info, warn};

use super::cycle::{CycleReport, Disposition, EnvironmentReport, Updater};
use super::kubernetes::serve::NamespaceOutcome;
use super::metrics::{Metrics, RegistryLabels};
use super::reconcile::Problem;
use super::schedule::{Plan, Scheduler, CYCLE_TIMEOUT};
use super::status::Status;
use crate::printable::printable;

/// The refresh loop's state between turns.
pub struct Refresher {
    updater: Updater,
    scheduler: Scheduler,
    status: Arc<Status>,
    metrics: Arc<Metrics>,
    left_out: LeftOut,
}

impl Refresher {
    /// `status` and `metrics` are shared with the health listener.
    pub fn new(
        updater: Updater,
        scheduler: Scheduler,
        status: Arc<Status>,
        metrics: Arc<Metrics>,
    ) -> Refresher {
        Refresher {
            updater,
            scheduler,
            status,
            metrics,
            left_out: LeftOut::default(),
        }
    }

    /// One cycle over every target, recorded and logged; returns the plan
    /// of the next (how long to wait, whether it is a retry). `clock` tells
    /// the time of day once the cycle is over.
    pub async fn cycle(&mut self, clock: impl Fn() -> SystemTime) -> Plan {
        self.metrics.cycle_started();
        // On shutdown (see `run`) an in-flight request is dropped: Rancher
        // applies a PUT whole or not at all, and the next start rewrites it.
        let report = tokio::time::timeout(CYCLE_TIMEOUT, self.updater.refresh())
            .await
            .unwrap_or_else(|_| CycleReport::timed_out(CYCLE_TIMEOUT));
        let now = clock();
        let expiries = report.expiries();
        let plan = self.scheduler.after_cycle(now, report.outcome(), expiries);
        let delay = humantime::format_duration(plan.delay);
        if plan.warn_unusable_expiry {
            warn!(
                "ECR gave a token without a usable expiry (missing or in the past); \
                 refreshing every {delay}"
            );
        }
        let next_refresh = now + plan.delay;
        self.status.record(&report, now, next_refresh);
        record_metrics(&self.metrics, &self.status, &report, now);
        log_report(&report, Some(next_refresh));
        self.left_out.log_changes(&report);
        if plan.retry {
            warn!(attempt = self.scheduler.failures(), "retrying in {delay}");
        } else {
            info!("next refresh in {delay}");
        }
        plan
    }
}

/// The cycle's metrics; registry series follow what `status` (recorded
/// first) knows.
fn record_metrics(metrics: &Metrics, status: &Status, report: &CycleReport, now: SystemTime) {
    for cause in report.failure_labels() {
        metrics.failure(cause);
    }
    let labels = |environment: &EnvironmentReport, host: String| RegistryLabels {
        host,
        environment: environment
            .id
            .as_ref()
            .map(|_| environment.label())
            .unwrap_or_default(),
        namespace: String::new(),
    };
    for (environment, outcome) in report.outcomes().filter(|(_, o)| o.is_up_to_date()) {
        let labels = labels(environment, outcome.host.to_string());
        metrics.registry_written(&labels, now, outcome.expires_at);
    }
    for (target, namespace) in report.namespaces().filter(|(_, n)| n.outcome.is_fresh()) {
        for host in &namespace.hosts {
            let labels = RegistryLabels {
                host: host.to_string(),
                environment: target.to_string(),
                namespace: namespace.namespace.clone(),
            };
            metrics.registry_written(&labels, now, namespace.expires_at);
        }
    }
    // The registries and namespaces /healthz knows, no more and no fewer:
    // a series lives through any failure, until Rancher (or the selection,
    // or the cluster) drops it.
    let known: HashSet<(String, String)> = status.registries().into_iter().collect();
    let namespaces: HashSet<(String, String)> = status.namespaces().into_iter().collect();
    metrics.retain_registries(|labels| {
        if !labels.namespace.is_empty() {
            let key = (labels.environment.clone(), labels.namespace.clone());
            return namespaces.contains(&key);
        }
        let environment = match labels.environment.as_str() {
            "" => "-",
            label => label,
        };
        known.contains(&(environment.to_string(), labels.host.clone()))
    });
    metrics.environments(report.environments.iter().map(|e| match e.disposition {
        Disposition::Served if !e.failures.is_empty() => "failed",
        Disposition::Served => "served",
        Disposition::Skipped { .. } => "skipped",
        Disposition::Late => "late",
    }));
}

/// Environments left out (skipped or late), logged when that changes, not
/// every cycle.
#[derive(Default)]
pub(super) struct LeftOut {
    said: HashMap<String, String>,
}

impl LeftOut {
    pub(super) fn log_changes(&mut self, report: &CycleReport) {
        let mut now_said = HashMap::new();
        for environment in &report.environments {
            let id = environment.label().to_string();
            let reason = match &environment.disposition {
                Disposition::Served => continue,
                Disposition::Skipped { reason, .. } => format!("skipped: {reason}"),
                Disposition::Late => {
                    "late: still busy from an earlier cycle, not waited for".to_string()
                }
            };
            if self.said.get(&id) != Some(&reason) {
                warn!(
                    environment = id,
                    name = environment.name.as_deref().unwrap_or("-"),
                    "environment {}",
                    printable(&reason)
                );
            }
            now_said.insert(id, reason);
        }
        for id in self.said.keys().filter(|id| !now_said.contains_key(*id)) {
            info!(environment = id.as_str(), "environment served again");
        }
        self.said = now_said;
    }
}

/// One line per registry and cycle: host, environment, action, ids, and
/// when the next refresh (or retry) is due. Problems say what to do.
pub(super) fn log_report(report: &CycleReport, next_refresh: Option<SystemTime>) {
    let next_refresh = next_refresh
        .map(|at| humantime::format_rfc3339_seconds(at).to_string())
        .unwrap_or_else(|| "-".to_string());
    let failures = report.failures.iter().map(|f| ("-".to_string(), f)).chain(
        report
            .environments
            .iter()
            .flat_map(|e| e.failures.iter().map(move |f| (e.label(), f))),
    );
    for (environment, failure) in failures {
        error!(
            environment = environment.as_str(),
            action = "failed",
            cause = failure.label(),
            next_refresh,
            "{}",
            printable(&failure.to_string())
        );
    }
    log_namespaces(report, &next_refresh);
    for (environment, outcome) in report.outcomes() {
        let label = environment.label();
        let environment = label.as_str();
        let host = outcome.host.as_str();
        for change in &outcome.changes {
            let (registry, credential) = change.ids();
            info!(
                host,
                environment,
                action = change.action(),
                registry,
                credential,
                next_refresh,
                "registry credential {}",
                change.action()
            );
        }
        for problem in &outcome.problems {
            let cause = problem.label();
            match problem {
                Problem::Rancher { .. } | Problem::Token(_) => {
                    error!(
                        host,
                        environment,
                        action = "failed",
                        cause,
                        next_refresh,
                        "{}",
                        printable(&problem.to_string())
                    )
                }
                _ => warn!(
                    host,
                    environment,
                    action = "skipped",
                    cause,
                    next_refresh,
                    "{}",
                    printable(&problem.to_string())
                ),
            }
        }
    }
}

/// One line per namespace where something was written or went wrong; a
/// namespace already up to date is said only at debug level.
fn log_namespaces(report: &CycleReport, next_refresh: &str) {
    for (target, namespace) in report.namespaces() {
        let ns = namespace.namespace.as_str();
        match &namespace.outcome {
            NamespaceOutcome::Served { changes } | NamespaceOutcome::Planned { changes }
                if changes.is_empty() =>
            {
                debug!(target, namespace = ns, next_refresh, "namespace up to date")
            }
            NamespaceOutcome::Served { changes } => info!(
                target,
                namespace = ns,
                action = "written",
                next_refresh,
                "{}",
                changes.join(", ")
            ),
            NamespaceOutcome::Planned { changes } => info!(
                target,
                namespace = ns,
                action = "planned",
                "would {}",
                changes.join(", ")
            ),
            NamespaceOutcome::Conflict(reason) => warn!(
                target,
                namespace = ns,
                action = "conflict",
                cause = "kubernetes_secret_conflict",
                next_refresh,
                "{}",
                printable(reason)
            ),
            NamespaceOutcome::Failed { reason, label, .. } => error!(
                target,
                namespace = ns,
                action = "failed",
                cause = *label,
                next_refresh,
                "{}",
                printable(reason)
            ),
            NamespaceOutcome::Terminating => {}
        }
    }
}
