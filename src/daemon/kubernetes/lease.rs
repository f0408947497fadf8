//! Leader election over a `coordination.k8s.io/v1` Lease, as a pure state
//! machine: given what the Lease holds now, what to write (create it, renew
//! it, take it over) or to wait; given how the write went, whether this
//! replica leads. The task that GETs and PUTs the Lease drives it; keeping
//! the decisions here means every timing rule is tested without a cluster
//! or a clock.
//!
//! It follows client-go's algorithm, which every controller in a cluster
//! uses, so that replicas of different builds (or a future client-go
//! controller) agree:
//! - a Lease held by another identity is taken over only when its record
//!   has not changed for its `leaseDurationSeconds`, judged by *our* clock
//!   from the moment we saw it change, never from its `renewTime` (so clock
//!   skew between nodes does not matter, only its rate);
//! - every write carries the `resourceVersion` read, so of two candidates
//!   only one wins (the other gets 409);
//! - the leader renews about every retry period, and stops leading when no
//!   renewal succeeded within the renew deadline, before anyone may take
//!   over (the lease duration).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// A Lease's spec, as read or to be written. Times are MicroTime text
/// (RFC 3339 with exactly six fractional digits), as the API server keeps
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseRecord {
    pub holder: Option<String>,
    pub lease_duration_seconds: i32,
    pub acquire_time: Option<String>,
    pub renew_time: Option<String>,
    pub transitions: i32,
}

/// The Lease as read: its record and the `resourceVersion` a write must
/// carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLease {
    pub record: LeaseRecord,
    pub resource_version: String,
}

/// What to do with the Lease now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// None exists: create it, held by us.
    Create(LeaseRecord),
    /// Write it, guarded by the `resourceVersion` read: a renewal of ours,
    /// or a takeover of an expired or released one.
    Update {
        resource_version: String,
        record: LeaseRecord,
    },
    /// Another replica holds it, and it has not expired.
    Wait { holder: String },
}

/// The timings of one election, from the lease duration as client-go
/// derives them (15 s, 10 s, 2 s by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a holder's silence makes its Lease free for others.
    pub lease_duration: Duration,
    /// How long a leader goes on leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often the Lease is read (and a leader renews).
    pub retry_period: Duration,
}

impl Timings {
    /// Renew deadline two thirds of the lease, retry period two fifteenths:
    /// client-go's 15 s / 10 s / 2 s, scaled.
    pub fn from_lease_duration(lease_duration: Duration) -> Timings {
        Timings {
            lease_duration,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: lease_duration * 2 / 15,
        }
    }
}

/// One replica's view of the election.
#[derive(Debug)]
pub struct Elector {
    identity: String,
    timings: Timings,
    /// The record last seen, and when (by our clock) it last changed.
    observed: Option<(LeaseRecord, Instant)>,
    /// When our last write of the Lease succeeded, while we lead.
    renewed: Option<Instant>,
}

impl Elector {
    pub fn new(identity: String, timings: Timings) -> Elector {
        Elector {
            identity,
            timings,
            observed: None,
            renewed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// Whether this replica leads at `now`: its last renewal is younger
    /// than the renew deadline (shorter than the lease, so it stops before
    /// anyone may take over).
    pub fn leads(&self, now: Instant) -> bool {
        self.renewed
            .is_some_and(|at| now.saturating_duration_since(at) < self.timings.renew_deadline)
    }

    /// The holder as last seen, if any.
    pub fn holder(&self) -> Option<&str> {
        let (record, _) = self.observed.as_ref()?;
        record.holder.as_deref().filter(|h| !h.is_empty())
    }

    /// What to do, given the Lease as just read (`None`: it does not
    /// exist) at `now`, with `wall` the time of day to write.
    pub fn step(&mut self, read: Option<&ReadLease>, now: Instant, wall: SystemTime) -> Step {
        let stamp = micro_time(wall);
        let Some(read) = read else {
            self.observed = None;
            return Step::Create(self.fresh_record(&stamp, 0));
        };
        let record = &read.record;
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|(seen, _)| seen != record);
        if changed {
            self.observed = Some((record.clone(), now));
        }
        let holder = record.holder.clone().filter(|h| !h.is_empty());
        let update = |record| Step::Update {
            resource_version: read.resource_version.clone(),
            record,
        };
        match holder {
            Some(holder) if holder == self.identity => update(LeaseRecord {
                renew_time: Some(stamp),
                lease_duration_seconds: self.duration_seconds(),
                ..record.clone()
            }),
            Some(holder) if !self.expired(record, now) => {
                self.renewed = None;
                Step::Wait { holder }
            }
            _ => update(self.fresh_record(&stamp, record.transitions.saturating_add(1))),
        }
    }

    /// The write of `step` succeeded at `now` and left `written`.
    pub fn written(&mut self, written: LeaseRecord, now: Instant) {
        self.renewed = Some(now);
        self.observed = Some((written, now));
    }

    /// The write failed: a 409 means another replica wrote first (read
    /// again); anything else leaves leadership to run out at the renew
    /// deadline.
    pub fn conflicted(&mut self) {
        self.renewed = None;
    }

    /// Whether the holder of `record` has been silent for its lease.
    fn expired(&self, record: &LeaseRecord, now: Instant) -> bool {
        let Some((_, since)) = &self.observed else {
            return true;
        };
        let lease = match u64::try_from(record.lease_duration_seconds) {
            Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
            _ => self.timings.lease_duration,
        };
        now.saturating_duration_since(*since) >= lease
    }

    fn fresh_record(&self, stamp: &str, transitions: i32) -> LeaseRecord {
        LeaseRecord {
            holder: Some(self.identity.clone()),
            lease_duration_seconds: self.duration_seconds(),
            acquire_time: Some(stamp.to_string()),
            renew_time: Some(stamp.to_string()),
            transitions,
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.timings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

/// A MicroTime: RFC 3339, UTC, exactly six fractional digits.
pub fn micro_time(at: SystemTime) -> String {
    humantime::format_rfc3339_micros(at).to_string()
}

#[cfg(test)]
mod tests;
