use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::*;

const LEASE: Duration = Duration::from_secs(15);

fn elector(identity: &str) -> Elector {
    Elector::new(identity.into(), Timings::from_lease_duration(LEASE))
}

fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(1_800_000_000_123_456)
}

/// A Lease as the server would hold it after `step` was written.
fn stored(step: &Step, version: u32) -> ReadLease {
    let record = match step {
        Step::Create(record) | Step::Update { record, .. } => record.clone(),
        Step::Wait { .. } => panic!("nothing written"),
    };
    ReadLease {
        record,
        resource_version: version.to_string(),
    }
}

#[test]
fn timings_follow_client_go() {
    let timings = Timings::from_lease_duration(LEASE);
    assert_eq!(timings.renew_deadline, Duration::from_secs(10));
    assert_eq!(timings.retry_period, Duration::from_secs(2));
    // client-go refuses anything else: lease > deadline > 1.2 x retry.
    for seconds in [5, 15, 60, 600] {
        let t = Timings::from_lease_duration(Duration::from_secs(seconds));
        assert!(t.lease_duration > t.renew_deadline);
        assert!(t.renew_deadline > t.retry_period.mul_f64(1.2));
    }
}

#[test]
fn micro_time_has_exactly_six_fractional_digits() {
    assert_eq!(micro_time(wall()), "2027-01-15T08:00:00.123456Z");
    assert_eq!(
        micro_time(UNIX_EPOCH + Duration::from_secs(1)),
        "1970-01-01T00:00:01.000000Z"
    );
}

#[test]
fn the_first_replica_creates_the_lease_and_leads() {
    let now = Instant::now();
    let mut a = elector("a");
    assert!(!a.leads(now));
    let step = a.step(None, now, wall());
    let Step::Create(record) = &step else {
        panic!("{step:?}");
    };
    assert_eq!(record.holder.as_deref(), Some("a"));
    assert_eq!(record.lease_duration_seconds, 15);
    assert_eq!(record.transitions, 0);
    assert_eq!(record.acquire_time, record.renew_time);
    a.written(record.clone(), now);
    assert!(a.leads(now));
    assert_eq!(a.holder(), Some("a"));
}

#[test]
fn the_leader_renews_keeping_acquire_time_and_transitions() {
    let start = Instant::now();
    let mut a = elector("a");
    let created = a.step(None, start, wall());
    let lease = stored(&created, 1);
    a.written(lease.record.clone(), start);
    let later = wall() + Duration::from_secs(2);
    let step = a.step(Some(&lease), start + Duration::from_secs(2), later);
    let Step::Update {
        resource_version,
        record,
    } = &step
    else {
        panic!("{step:?}");
    };
    assert_eq!(resource_version, "1");
    assert_eq!(record.acquire_time, lease.record.acquire_time);
    assert_eq!(record.transitions, 0);
    assert_eq!(
        record.renew_time.as_deref(),
        Some(micro_time(later).as_str())
    );
}

#[test]
fn another_replica_waits_until_the_holder_is_silent_for_a_lease() {
    let start = Instant::now();
    let mut a = elector("a");
    let lease = stored(&a.step(None, start, wall()), 1);
    let mut b = elector("b");
    // b first sees the record now: its clock starts here, whatever
    // renewTime says.
    assert_eq!(
        b.step(Some(&lease), start, wall()),
        Step::Wait { holder: "a".into() }
    );
    assert!(!b.leads(start));
    assert_eq!(b.holder(), Some("a"));
    let almost = start + LEASE - Duration::from_millis(1);
    assert!(matches!(
        b.step(Some(&lease), almost, wall()),
        Step::Wait { .. }
    ));
    // Silent for a whole lease: b takes over, guarded by the version read.
    let step = b.step(Some(&lease), start + LEASE, wall());
    let Step::Update {
        resource_version,
        record,
    } = &step
    else {
        panic!("{step:?}");
    };
    assert_eq!(resource_version, "1");
    assert_eq!(record.holder.as_deref(), Some("b"));
    assert_eq!(record.transitions, 1);
}

#[test]
fn a_renewal_seen_restarts_the_silence() {
    let start = Instant::now();
    let mut a = elector("a");
    let first = stored(&a.step(None, start, wall()), 1);
    let mut b = elector("b");
    b.step(Some(&first), start, wall());
    // a renews at 10 s: b sees a changed record and waits a whole lease
    // from then, although renewTime's clock may be far off.
    let renewed = ReadLease {
        record: LeaseRecord {
            renew_time: Some("1999-01-01T00:00:00.000000Z".into()),
            ..first.record.clone()
        },
        resource_version: "2".into(),
    };
    let ten = start + Duration::from_secs(10);
    assert!(matches!(
        b.step(Some(&renewed), ten, wall()),
        Step::Wait { .. }
    ));
    let twenty = start + Duration::from_secs(20);
    assert!(matches!(
        b.step(Some(&renewed), twenty, wall()),
        Step::Wait { .. }
    ));
    assert!(matches!(
        b.step(Some(&renewed), ten + LEASE, wall()),
        Step::Update { .. }
    ));
}

#[test]
fn a_released_lease_is_taken_at_once() {
    let now = Instant::now();
    let released = ReadLease {
        record: LeaseRecord {
            holder: Some(String::new()),
            lease_duration_seconds: 1,
            transitions: 4,
            ..LeaseRecord::default()
        },
        resource_version: "9".into(),
    };
    let mut b = elector("b");
    let step = b.step(Some(&released), now, wall());
    let Step::Update { record, .. } = &step else {
        panic!("{step:?}");
    };
    assert_eq!(record.holder.as_deref(), Some("b"));
    assert_eq!(record.transitions, 5);
}

#[test]
fn leadership_ends_at_the_renew_deadline_before_anyone_may_take_over() {
    let start = Instant::now();
    let mut a = elector("a");
    let step = a.step(None, start, wall());
    a.written(stored(&step, 1).record, start);
    let deadline = Timings::from_lease_duration(LEASE).renew_deadline;
    assert!(a.leads(start + deadline - Duration::from_millis(1)));
    assert!(!a.leads(start + deadline));
    assert!(deadline < LEASE);
}

#[test]
fn a_lost_race_is_not_leadership() {
    let now = Instant::now();
    let mut b = elector("b");
    let step = b.step(None, now, wall());
    assert!(matches!(step, Step::Create(_)));
    // Another replica created it first: 409.
    b.conflicted();
    assert!(!b.leads(now));
}

#[test]
fn a_leader_that_sees_another_holder_stops_leading() {
    let start = Instant::now();
    let mut a = elector("a");
    let step = a.step(None, start, wall());
    a.written(stored(&step, 1).record, start);
    let taken = ReadLease {
        record: LeaseRecord {
            holder: Some("b".into()),
            lease_duration_seconds: 15,
            transitions: 1,
            ..LeaseRecord::default()
        },
        resource_version: "3".into(),
    };
    let one = start + Duration::from_secs(1);
    assert_eq!(
        a.step(Some(&taken), one, wall()),
        Step::Wait { holder: "b".into() }
    );
    assert!(!a.leads(one));
}
