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

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::daemon::cycle::{CycleReport, Disposition, EnvironmentReport};

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
}

/// Shared between the refresh loop (writer) and the health endpoint.
#[derive(Debug)]
pub struct Status {
    state: Mutex<State>,
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
            grace,
            expected,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a cycle; `next_refresh` is when the next one is planned.
    pub fn record(&self, report: &CycleReport, now: SystemTime, next_refresh: SystemTime) {
        let mut state = self.state();
        state.cycles += 1;
        let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
        state.cycle_error = (!failures.is_empty()).then(|| failures.join("; "));
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
        let previous: Vec<String> = state.environments.keys().cloned().collect();
        state.environments.clear();
        for environment in &report.environments {
            let id = match (
                &environment.id,
                previous.as_slice(),
                report.environments.len(),
            ) {
                (Some(_), _, _) => environment.label(),
                // The single environment, not rediscovered this cycle: the
                // one known before.
                (None, [known], 1) => known.clone(),
                (None, _, _) => "-".to_string(),
            };
            let mut errors: Vec<String> =
                environment.failures.iter().map(|f| f.to_string()).collect();
            if let Some(error) = &state.cycle_error {
                errors.push(error.clone());
            }
            let error = (!errors.is_empty()).then(|| errors.join("; "));
            if error.is_some() {
                for ((env, _), registry) in state.registries.iter_mut() {
                    if *env == id {
                        registry.last_error = error.clone();
                    }
                }
            }
            state.environments.insert(
                id.clone(),
                EnvironmentStatus {
                    id: environment.id.clone().unwrap_or_else(|| id.clone()),
                    rancher: environment.target.clone(),
                    name: environment.name.clone(),
                    orchestration: environment.orchestration.clone(),
                    disposition: environment.disposition.clone(),
                    error,
                },
            );
            self.record_outcomes(&mut state, &id, environment, now, next_refresh);
            // A registry no longer in a fully served environment (removed,
            // or given another address) is forgotten, not left to go stale.
            if environment.disposition == Disposition::Served && environment.failures.is_empty() {
                let current: Vec<String> = environment
                    .outcomes
                    .iter()
                    .map(|o| o.host.to_string())
                    .collect();
                state
                    .registries
                    .retain(|(env, host), _| *env != id || current.contains(host));
            }
        }
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
                let problems: Vec<String> =
                    outcome.problems.iter().map(|p| p.to_string()).collect();
                entry.last_error = Some(problems.join("; "));
            }
        }
    }

    /// Whether every environment served is fresh, and the JSON that says so.
    pub fn health(&self, now: SystemTime) -> (bool, Value) {
        let state = self.state();
        let fresh = |r: &RegistryStatus| {
            r.last_success.is_some() && r.refresh_deadline.is_some_and(|deadline| now <= deadline)
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
        let mut healthy = state.cycles > 0 && !state.environments.is_empty();
        let mut environments = Vec::new();
        for (id, environment) in &state.environments {
            let registries: Vec<(&(String, String), &RegistryStatus)> = state
                .registries
                .iter()
                .filter(|((env, _), _)| env == id)
                .collect();
            let all_fresh =
                registries.len() >= self.expected && registries.iter().all(|(_, r)| fresh(r));
            // Said even while its registries are still fresh.
            let late = (environment.disposition == Disposition::Late)
                .then(|| "still busy from an earlier cycle".to_string());
            let (verdict, reason, counts) = match &environment.disposition {
                Disposition::Skipped { reason, named } => ("skipped", Some(reason.clone()), *named),
                _ if all_fresh => ("fresh", late.or_else(|| environment.error.clone()), true),
                Disposition::Late => ("stale", late, true),
                _ if registries.iter().any(|(_, r)| r.last_success.is_some()) => {
                    ("stale", environment.error.clone(), true)
                }
                _ => ("failed", environment.error.clone(), true),
            };
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
        let body = json!({
            "status": status,
            "error": state.cycle_error,
            "environments": environments,
            "registries": registries,
        });
        (healthy, body)
    }
}

fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::reconcile::{Change, HostOutcome, Problem};
    use crate::registry_host::RegistryHost;

    const HOUR: Duration = Duration::from_secs(3600);

    fn host() -> RegistryHost {
        RegistryHost::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap()
    }

    fn report(up_to_date: bool) -> CycleReport {
        let outcome = HostOutcome {
            host: host(),
            expires_at: None,
            changes: vec![Change::Updated {
                registry_id: "1sp1".into(),
                credential_id: "1c1".into(),
            }],
            problems: if up_to_date {
                Vec::new()
            } else {
                vec![Problem::NoMatchingRegistry { host: host() }]
            },
        };
        CycleReport {
            failures: Vec::new(),
            environments: vec![EnvironmentReport {
                id: Some("1a5".into()),
                name: None,
                orchestration: None,
                target: None,
                disposition: Disposition::Served,
                outcomes: vec![outcome],
                failures: Vec::new(),
            }],
        }
    }

    #[test]
    fn starting_then_fresh_then_overdue() {
        let status = Status::new(Duration::from_secs(300), 1);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (healthy, body) = status.health(t0);
        assert!(!healthy);
        assert_eq!(body["status"], "starting");

        status.record(&report(true), t0, t0 + 6 * HOUR);
        let (healthy, body) = status.health(t0 + HOUR);
        assert!(healthy, "{body}");
        assert_eq!(body["registries"][0]["environment"], "1a5");
        assert_eq!(body["registries"][0]["lastError"], Value::Null);

        // Refreshes fail from now on: still fresh until the deadline passes.
        status.record(&report(false), t0 + 6 * HOUR, t0 + 6 * HOUR);
        let (healthy, body) = status.health(t0 + 6 * HOUR);
        assert!(healthy, "{body}");
        assert!(body["registries"][0]["lastError"]
            .as_str()
            .unwrap()
            .contains("AUTO_CREATE"));
        let (healthy, body) = status.health(t0 + 6 * HOUR + Duration::from_secs(301));
        assert!(!healthy);
        assert_eq!(body["status"], "unhealthy");
    }

    #[test]
    fn a_registry_gone_from_rancher_is_forgotten() {
        let status = Status::new(Duration::from_secs(300), 0);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        status.record(&report(true), t0, t0 + HOUR);
        // Next cycle the environment has no such registry any more.
        let mut gone = report(true);
        gone.environments[0].outcomes.clear();
        status.record(&gone, t0 + HOUR, t0 + 2 * HOUR);
        let (healthy, body) = status.health(t0 + 3 * HOUR);
        assert!(healthy, "{body}");
        assert_eq!(body["registries"], serde_json::json!([]));
        // A failed environment keeps what it knew.
        status.record(&report(true), t0, t0 + HOUR);
        let mut failed = report(true);
        failed.environments[0].outcomes.clear();
        failed.environments[0]
            .failures
            .push(crate::daemon::cycle::CycleFailure::Task("boom".into()));
        status.record(&failed, t0 + HOUR, t0 + 2 * HOUR);
        let (_, body) = status.health(t0 + HOUR);
        assert_eq!(body["registries"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn a_registry_that_never_arrives_keeps_it_red() {
        let status = Status::new(Duration::from_secs(300), 2);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        status.record(&report(true), t0, t0 + HOUR);
        assert!(!status.health(t0).0);
    }

    #[test]
    fn never_written_is_never_healthy() {
        let status = Status::new(Duration::from_secs(300), 1);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        status.record(&report(false), t0, t0 + HOUR);
        assert!(!status.health(t0).0);
    }

    fn environment(id: &str, disposition: Disposition, up_to_date: bool) -> EnvironmentReport {
        let mut report = report(up_to_date);
        let mut environment = report.environments.remove(0);
        environment.id = Some(id.into());
        environment.disposition = disposition;
        environment
    }

    #[test]
    fn each_environment_is_judged_and_only_named_skips_count() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let skipped = |named| Disposition::Skipped {
            reason: "the environment is inactive, not active".into(),
            named,
        };
        let cycle = |named| CycleReport {
            failures: Vec::new(),
            environments: vec![
                environment("1a5", Disposition::Served, true),
                environment("1a9", Disposition::Served, true),
                environment("1a12", skipped(named), false),
            ],
        };
        let status = Status::new(Duration::from_secs(300), 1);
        status.record(&cycle(false), t0, t0 + HOUR);
        let (healthy, body) = status.health(t0);
        assert!(healthy, "{body}");
        let states: Vec<&str> = body["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["skipped", "fresh", "fresh"], "{body}");

        let status = Status::new(Duration::from_secs(300), 1);
        status.record(&cycle(true), t0, t0 + HOUR);
        assert!(!status.health(t0).0);
    }

    #[test]
    fn a_late_environment_stays_fresh_until_its_deadline() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let status = Status::new(Duration::from_secs(300), 1);
        let first = CycleReport {
            failures: Vec::new(),
            environments: vec![environment("1a5", Disposition::Served, true)],
        };
        status.record(&first, t0, t0 + HOUR);
        let late = CycleReport {
            failures: Vec::new(),
            environments: vec![EnvironmentReport {
                outcomes: Vec::new(),
                ..environment("1a5", Disposition::Late, true)
            }],
        };
        status.record(&late, t0 + HOUR, t0 + 2 * HOUR);
        let (healthy, body) = status.health(t0 + HOUR);
        assert!(healthy, "{body}");
        assert_eq!(body["environments"][0]["state"], "fresh", "{body}");
        assert_eq!(
            body["environments"][0]["reason"], "still busy from an earlier cycle",
            "{body}"
        );
        let (healthy, body) = status.health(t0 + 2 * HOUR);
        assert!(!healthy);
        assert_eq!(body["environments"][0]["state"], "stale", "{body}");
    }
}
