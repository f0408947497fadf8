//! What is known about each managed registry: when its credential was last
//! written, when its token expires, when the next refresh is due, and the
//! last error. `/healthz` is computed from it.
//!
//! Healthy means fresh: every registry host ECR gave a token for was written
//! successfully and is not past its refresh deadline (the planned refresh
//! plus the longest retry delay). A failing refresh therefore turns the
//! check red once the credential is overdue, not at the first hiccup, and a
//! daemon that never wrote anything (bad key, AccessDenied, no matching
//! registry) is never healthy. Errors are shown either way.
//!
//! With several environments, each one is judged on its own registries;
//! one that was named explicitly but is missing, inactive or not writable
//! keeps the check red, one merely listed under `all` and skipped does not.
//! Registries stay known between cycles, so a cycle that could not reach
//! Rancher does not make a fresh credential look stale.
//!
//! Kubernetes targets are judged per served namespace ([`clusters`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::daemon::cycle::{CycleReport, Disposition, EnvironmentReport};
use crate::daemon::kubernetes::election::{Leadership, Standing};
use crate::printable::printable;
use clusters::Clusters;

#[derive(Debug, Clone, Default)]
struct RegistryStatus {
    last_success: Option<SystemTime>,
    token_expiry: Option<SystemTime>,
    refresh_deadline: Option<SystemTime>,
    last_error: Option<String>,
}

/// An environment as the last cycle saw it.
#[derive(Debug, Clone)]
struct EnvironmentStatus {
    /// The environment's id in its Rancher.
    id: String,
    /// Its Rancher, when the config file names several.
    rancher: Option<String>,
    name: Option<String>,
    orchestration: Option<String>,
    disposition: Disposition,
    /// This cycle's failures in it, if any.
    error: Option<String>,
    /// Whether the last cycle served it whole: every registry Rancher lists
    /// there was looked at. An environment that could not be (AWS or
    /// Rancher failed) keeps what it knew, and is never fresh by default.
    complete: bool,
}

#[derive(Debug, Default)]
struct State {
    cycles: u64,
    /// A failure that hit the whole last cycle (ECR, the environment list).
    cycle_error: Option<String>,
    /// The environments of the last cycle, by id (`-` while unknown),
    /// after their Rancher's name when there are several.
    environments: BTreeMap<String, EnvironmentStatus>,
    /// Every registry written or tried, by environment and host.
    registries: BTreeMap<(String, String), RegistryStatus>,
    /// The Kubernetes targets' namespaces.
    clusters: Clusters,
}

/// Shared between the refresh loop (writer) and the health endpoint.
#[derive(Debug)]
pub struct Status {
    state: Mutex<State>,
    /// The leader election, when there is one (`[leader_election]`).
    election: Mutex<Option<Leadership>>,
    grace: Duration,
    /// How many registries ECR should give tokens for (the configured
    /// registry ids, or the caller's one): one that never arrives, or never
    /// decodes, keeps the check red. 0 under ECR_DISCOVER and the config
    /// file, where an environment may rightly have no ECR registry.
    expected: usize,
}

impl Status {
    /// `grace`: how long past a planned refresh a credential still counts
    /// as fresh (the retry backoff's ceiling).
    pub fn new(grace: Duration, expected: usize) -> Status {
        Status {
            state: Mutex::new(State::default()),
            election: Mutex::new(None),
            grace,
            expected,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a cycle; `next_refresh` is when the next one is planned.
    ///
    /// What is known survives any failure: a registry is forgotten only
    /// when a cycle that failed nowhere no longer finds it (Rancher no
    /// longer lists it, or the selection no longer names its environment).
    pub fn record(&self, report: &CycleReport, now: SystemTime, next_refresh: SystemTime) {
        let mut state = self.state();
        state.cycles += 1;
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| printable(&f.to_string()))
            .collect();
        state.cycle_error = (!failures.is_empty()).then(|| failures.join("; "));
        state.clusters.record(report, now, next_refresh, self.grace);
        if report.environments.is_empty() {
            // Nothing reached an environment: every registry keeps its
            // freshness, and shows why this cycle did nothing.
            if let Some(error) = state.cycle_error.clone() {
                for registry in state.registries.values_mut() {
                    registry.last_error = Some(error.clone());
                }
            }
            return;
        }
        // Without a cycle-wide failure the report names every environment
        // there is; with one, those it does not name are kept as they were.
        let whole_cycle = report.failures.is_empty();
        let previous = std::mem::take(&mut state.environments);
        let known: Vec<&String> = previous.keys().collect();
        let mut seen = BTreeMap::new();
        for environment in &report.environments {
            let id = match (&environment.id, known.as_slice(), report.environments.len()) {
                (Some(_), _, _) => environment.label(),
                // The single environment, not rediscovered this cycle: the
                // one known before.
                (None, [known], 1) => (*known).clone(),
                (None, _, _) => "-".to_string(),
            };
            let status = self.record_environment(&mut state, &id, environment, whole_cycle);
            self.record_outcomes(&mut state, &id, environment, now, next_refresh);
            seen.insert(id, status);
        }
        if whole_cycle {
            state
                .registries
                .retain(|(env, _), _| seen.contains_key(env));
        } else {
            for (id, mut kept) in previous {
                if let std::collections::btree_map::Entry::Vacant(entry) = seen.entry(id) {
                    kept.error = state.cycle_error.clone();
                    kept.complete = false;
                    entry.insert(kept);
                }
            }
        }
        state.environments = seen;
    }

    /// One environment's entry; forgets the registries a complete cycle no
    /// longer found there.
    fn record_environment(
        &self,
        state: &mut State,
        id: &str,
        environment: &EnvironmentReport,
        whole_cycle: bool,
    ) -> EnvironmentStatus {
        let mut errors: Vec<String> = environment
            .failures
            .iter()
            .map(|f| printable(&f.to_string()))
            .collect();
        errors.extend(state.cycle_error.clone());
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        if error.is_some() {
            for ((env, _), registry) in state.registries.iter_mut() {
                if env == id {
                    registry.last_error = error.clone();
                }
            }
        }
        let complete = whole_cycle
            && environment.disposition == Disposition::Served
            && environment.failures.is_empty();
        if complete {
            // A registry no longer in a fully served environment (removed,
            // or given another address) is forgotten, not left to go stale.
            let current: Vec<String> = environment
                .outcomes
                .iter()
                .map(|o| o.host.to_string())
                .collect();
            state
                .registries
                .retain(|(env, host), _| env != id || current.contains(host));
        }
        EnvironmentStatus {
            id: environment.id.clone().unwrap_or_else(|| id.to_string()),
            rancher: environment.target.clone(),
            name: environment.name.clone(),
            orchestration: environment.orchestration.clone(),
            disposition: environment.disposition.clone(),
            error,
            complete,
        }
    }

    /// Makes a Kubernetes target count before its first cycle: until its
    /// namespaces are listed, the check is red.
    pub fn expect_kubernetes(&self, target: &str) {
        self.state().clusters.expect(target);
    }

    /// Every served namespace known, as (target, namespace).
    pub fn namespaces(&self) -> Vec<(String, String)> {
        self.state().clusters.keys()
    }

    /// Every registry known, as (environment, host): what the metrics keep.
    pub fn registries(&self) -> Vec<(String, String)> {
        self.state().registries.keys().cloned().collect()
    }

    fn record_outcomes(
        &self,
        state: &mut State,
        id: &str,
        environment: &EnvironmentReport,
        now: SystemTime,
        next_refresh: SystemTime,
    ) {
        for outcome in &environment.outcomes {
            let key = (id.to_string(), outcome.host.to_string());
            let entry = state.registries.entry(key).or_default();
            if outcome.is_up_to_date() {
                entry.last_success = Some(now);
                entry.token_expiry = outcome.expires_at;
                entry.refresh_deadline = Some(next_refresh + self.grace);
                entry.last_error = None;
            } else {
                let problems: Vec<String> = outcome
                    .problems
                    .iter()
                    .map(|p| printable(&p.to_string()))
                    .collect();
                entry.last_error = Some(problems.join("; "));
            }
        }
    }

    /// Whether every target is fresh (or, with an election, this replica a
    /// healthy standby), and the JSON that says so.
    pub fn health(&self, now: SystemTime) -> (bool, Value) {
        let (healthy, mut body) = self.targets_health(now);
        let election = self.election.lock().unwrap_or_else(|e| e.into_inner());
        match election.as_ref() {
            Some(leadership) => {
                let healthy = add_leader(&mut body, healthy, &leadership.standing());
                (healthy, body)
            }
            None => (healthy, body),
        }
    }

    /// Whether every target's registries and namespaces are fresh, and the
    /// JSON that says so.
    fn targets_health(&self, now: SystemTime) -> (bool, Value) {
        let state = self.state();
        // Written, not past its refresh point by more than the retry
        // window, and its token not expired. An expiry already past when
        // the token was written is unusable (the scheduler ignores it too,
        // docs/ecr.md), so it is not judged by.
        let fresh = |r: &RegistryStatus| {
            let Some(written) = r.last_success else {
                return false;
            };
            r.refresh_deadline.is_some_and(|deadline| now <= deadline)
                && r.token_expiry
                    .is_none_or(|expiry| expiry <= written || now < expiry)
        };
        let registry_json = |(env, host): &(String, String), r: &RegistryStatus| {
            json!({
                "host": host,
                "environment": env,
                "fresh": fresh(r),
                "lastSuccess": r.last_success.map(timestamp),
                "tokenExpiry": r.token_expiry.map(timestamp),
                "refreshDeadline": r.refresh_deadline.map(timestamp),
                "lastError": r.last_error,
            })
        };
        let (clusters_healthy, kubernetes) = state.clusters.health(now);
        let mut healthy = state.cycles > 0
            && (!state.environments.is_empty() || state.clusters.any())
            && clusters_healthy;
        let mut environments = Vec::new();
        for (id, environment) in &state.environments {
            let registries: Vec<(&(String, String), &RegistryStatus)> = state
                .registries
                .iter()
                .filter(|((env, _), _)| env == id)
                .collect();
            let fresh_flags: Vec<bool> = registries.iter().map(|(_, r)| fresh(r)).collect();
            let written = registries.iter().any(|(_, r)| r.last_success.is_some());
            let (verdict, reason, counts) = self.verdict(environment, &fresh_flags, written);
            if counts && verdict != "fresh" {
                healthy = false;
            }
            let mut entry = json!({
                "id": environment.id,
                "name": environment.name,
                "orchestration": environment.orchestration,
                "state": verdict,
                "reason": reason,
                "registries": registries.iter().map(|(key, r)| registry_json(key, r)).collect::<Vec<_>>(),
            });
            if let Some(rancher) = &environment.rancher {
                entry["rancher"] = json!(rancher);
            }
            environments.push(entry);
        }
        let status = if state.cycles == 0 {
            "starting"
        } else if healthy {
            "ok"
        } else {
            "unhealthy"
        };
        let registries: Vec<Value> = state
            .registries
            .iter()
            .map(|(key, r)| registry_json(key, r))
            .collect();
        let mut body = json!({
            "status": status,
            "error": state.cycle_error,
            "environments": environments,
            "registries": registries,
        });
        add_kubernetes(&mut body, &state.clusters, kubernetes);
        (healthy, body)
    }

    /// Shows the leader election in `/healthz` from now on.
    pub fn follow_election(&self, leadership: Leadership) {
        *self.election.lock().unwrap_or_else(|e| e.into_inner()) = Some(leadership);
    }
}

/// The `leader` entry; a standby is healthy while it can read the Lease
/// (it could take over), whatever its (empty) targets say.
fn add_leader(body: &mut Value, healthy: bool, standing: &Standing) -> bool {
    body["leader"] = json!({
        "leading": standing.leading,
        "holder": standing.holder,
        "identity": standing.identity,
        "error": standing.error,
    });
    if standing.leading {
        return healthy;
    }
    body["status"] = json!(if standing.reachable {
        "standby"
    } else {
        "unhealthy"
    });
    standing.reachable
}

/// The `kubernetes` entries, and the targets never listed in `error`;
/// nothing without a Kubernetes target, so a Rancher-only body is as it was.
fn add_kubernetes(body: &mut Value, clusters: &Clusters, entries: Vec<Value>) {
    if !clusters.any() {
        return;
    }
    let unlisted = clusters.unlisted();
    if !unlisted.is_empty() {
        let mut errors: Vec<String> = body["error"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect();
        errors.extend(unlisted);
        body["error"] = json!(errors.join("; "));
    }
    body["kubernetes"] = json!(entries);
}

impl Status {
    /// An environment's state, the reason shown, and whether it counts
    /// against health: `fresh` holds one flag per registry known there,
    /// `written` whether any was ever written.
    fn verdict(
        &self,
        environment: &EnvironmentStatus,
        fresh: &[bool],
        written: bool,
    ) -> (&'static str, Option<String>, bool) {
        // An environment with no registry is fresh only when it was served
        // whole (under ECR_DISCOVER it may rightly have none).
        let all_fresh = fresh.len() >= self.expected
            && fresh.iter().all(|fresh| *fresh)
            && (environment.complete || !fresh.is_empty());
        // Said even while its registries are still fresh.
        let late = (environment.disposition == Disposition::Late)
            .then(|| "still busy from an earlier cycle".to_string());
        match &environment.disposition {
            Disposition::Skipped { reason, named } => ("skipped", Some(reason.clone()), *named),
            _ if all_fresh => ("fresh", late.or_else(|| environment.error.clone()), true),
            Disposition::Late => ("stale", late, true),
            _ if written => ("stale", environment.error.clone(), true),
            _ => ("failed", environment.error.clone(), true),
        }
    }
}

fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

mod clusters;
#[cfg(test)]
mod tests;
