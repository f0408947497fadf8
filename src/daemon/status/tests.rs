//! Freshness through cycles: written, failing, gone, late.

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
        clusters: Vec::new(),
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
        clusters: Vec::new(),
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
        clusters: Vec::new(),
        failures: Vec::new(),
        environments: vec![environment("1a5", Disposition::Served, true)],
    };
    status.record(&first, t0, t0 + HOUR);
    let late = CycleReport {
        clusters: Vec::new(),
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

fn aws_down() -> crate::daemon::cycle::CycleFailure {
    crate::daemon::cycle::CycleFailure::Ecr(crate::aws::EcrError::NoAuthorizationData)
}

#[test]
fn an_aws_outage_after_a_write_forgets_nothing() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let status = Status::new(Duration::from_secs(300), 0);
    status.record(&report(true), t0, t0 + HOUR);
    // ECR fails: the environment is served with nothing written.
    let mut outage = report(true);
    outage.failures.push(aws_down());
    outage.environments[0].outcomes.clear();
    status.record(&outage, t0 + HOUR, t0 + HOUR);
    let (healthy, body) = status.health(t0 + HOUR);
    assert!(healthy, "still within its deadline: {body}");
    let registry = &body["registries"][0];
    assert_eq!(registry["lastSuccess"], timestamp(t0), "{body}");
    assert!(registry["lastError"]
        .as_str()
        .unwrap()
        .contains("no authorization data"));
    assert_eq!(status.registries().len(), 1);
    let (healthy, body) = status.health(t0 + HOUR + Duration::from_secs(301));
    assert!(!healthy);
    assert_eq!(body["environments"][0]["state"], "stale", "{body}");
}

#[test]
fn environments_never_written_are_not_healthy_while_aws_fails() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let status = Status::new(Duration::from_secs(300), 0);
    let mut outage = report(true);
    outage.failures.push(aws_down());
    outage.environments[0].outcomes.clear();
    status.record(&outage, t0, t0 + HOUR);
    let (healthy, body) = status.health(t0);
    assert!(!healthy, "{body}");
    assert_eq!(body["environments"][0]["state"], "failed", "{body}");
}

#[test]
fn an_expired_token_is_not_fresh() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let status = Status::new(Duration::from_secs(300), 1);
    let mut written = report(true);
    written.environments[0].outcomes[0].expires_at = Some(t0 + HOUR);
    status.record(&written, t0, t0 + 6 * HOUR);
    assert!(status.health(t0 + HOUR - Duration::from_secs(1)).0);
    assert!(
        !status.health(t0 + HOUR).0,
        "expired before its refresh point"
    );
}

#[test]
fn only_a_whole_cycle_forgets_an_environment() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let status = Status::new(Duration::from_secs(300), 1);
    let both = CycleReport {
        clusters: Vec::new(),
        failures: Vec::new(),
        environments: vec![
            environment("1a5", Disposition::Served, true),
            environment("1a9", Disposition::Served, true),
        ],
    };
    status.record(&both, t0, t0 + HOUR);
    assert_eq!(status.registries().len(), 2);
    // A cycle that failed somewhere does not name 1a9: it is kept.
    let partial = CycleReport {
        clusters: Vec::new(),
        failures: vec![aws_down()],
        environments: vec![environment("1a5", Disposition::Served, true)],
    };
    status.record(&partial, t0, t0 + HOUR);
    let (_, body) = status.health(t0);
    assert_eq!(
        body["environments"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    assert_eq!(status.registries().len(), 2);
    // A whole cycle without it: 1a9 was deleted or deselected.
    let one = CycleReport {
        clusters: Vec::new(),
        failures: Vec::new(),
        environments: vec![environment("1a5", Disposition::Served, true)],
    };
    status.record(&one, t0, t0 + HOUR);
    assert_eq!(
        status.registries(),
        [("1a5".to_string(), host().to_string())]
    );
    let (_, body) = status.health(t0);
    assert_eq!(
        body["environments"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
}

#[test]
fn stored_errors_are_one_line_and_bounded() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let status = Status::new(Duration::from_secs(300), 1);
    let mut forged = report(false);
    forged.environments[0].outcomes[0].problems = vec![Problem::Unservable {
        reason: format!("bad\nlevel=info msg=forged{}", "x".repeat(100_000)),
    }];
    status.record(&forged, t0, t0 + HOUR);
    let (_, body) = status.health(t0);
    let error = body["registries"][0]["lastError"].as_str().unwrap();
    assert!(
        !error.contains('\n') && error.len() < 4096,
        "{}",
        error.len()
    );
}

#[test]
fn an_expiry_past_when_written_is_not_judged_by() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let status = Status::new(Duration::from_secs(300), 1);
    let mut written = report(true);
    written.environments[0].outcomes[0].expires_at = Some(t0 - HOUR);
    status.record(&written, t0, t0 + HOUR);
    assert!(status.health(t0).0, "an unusable expiry counts as none");
}
