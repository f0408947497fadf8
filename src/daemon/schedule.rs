//! When to refresh next, and the retry policy: pure arithmetic over token
//! expiries and failures, and the one home of every timing rule.
//!
//! After a good cycle the next one comes at the earlier of the configured
//! interval and half of the shortest remaining token lifetime, so a token is
//! rewritten long before it lapses even if ECR shortens lifetimes
//! (docs/ecr.md). After a failed cycle, retries back off exponentially
//! with jitter. A cycle that failed for a reason only a person can fix (no
//! matching registry) is looked at again soon, without backoff.
//! [`Scheduler`] holds that state between cycles; time is passed in, so all
//! of it is tested without sleeping.

use std::time::{Duration, SystemTime};

/// Never refresh more often than this after a success, whatever the expiry says.
const MIN_REFRESH: Duration = Duration::from_secs(10);
/// What a token without a usable expiry is assumed to live (docs/ecr.md).
const ASSUMED_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// When nothing could be written for reasons a person must fix (no
/// matching registry, only deactivated ones), look again this often.
const RECHECK_WITHOUT_REGISTRY: Duration = Duration::from_secs(10 * 60);

/// The longest refresh interval accepted: ECR tokens live 12 hours.
pub const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(12 * 3600);
/// The longest retry delay accepted.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// The longest a whole cycle may take (each request also has its own
/// timeout), so nothing can stall the loop past a token's life.
pub const CYCLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How failed cycles are retried (RETRY_MIN_DELAY, RETRY_MAX_DELAY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// How long past its planned refresh a credential still counts as
    /// fresh: one full retry delay, so one failed attempt is not an alarm.
    pub fn grace(&self) -> Duration {
        self.max_delay
    }
}

/// How a cycle ended, as far as timing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleOutcome {
    /// Every credential holds its new token.
    Done,
    /// Nothing failed that retrying could fix, but something waits for a
    /// person (a registry to add or activate).
    NeedsAttention,
    /// AWS or Rancher trouble that may go away if tried again.
    Failed,
}

/// When the next cycle runs, as decided after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Whole milliseconds, so logged durations stay readable.
    pub delay: Duration,
    /// True when this is a retry after a failure.
    pub retry: bool,
    /// True the first time a token without a usable expiry is seen.
    pub warn_unusable_expiry: bool,
}

/// The timing state kept between cycles.
#[derive(Debug, Clone)]
pub struct Scheduler {
    interval: Duration,
    backoff: Backoff,
    warned_about_expiry: bool,
}

impl Scheduler {
    pub fn new(interval: Duration, retry: RetryPolicy) -> Scheduler {
        Scheduler {
            interval,
            backoff: Backoff::new(retry),
            warned_about_expiry: false,
        }
    }

    /// Plans the next cycle after one that ended with `outcome`, having
    /// written tokens with these expiries.
    pub fn after_cycle(
        &mut self,
        now: SystemTime,
        outcome: CycleOutcome,
        expiries: impl IntoIterator<Item = Option<SystemTime>>,
    ) -> Plan {
        let mut warn_unusable_expiry = false;
        let delay = if outcome == CycleOutcome::Failed {
            self.backoff.next_delay()
        } else {
            self.backoff.reset();
            let next = next_refresh(now, expiries, self.interval);
            if next.expiry_unusable && !self.warned_about_expiry {
                self.warned_about_expiry = true;
                warn_unusable_expiry = true;
            }
            match outcome {
                CycleOutcome::NeedsAttention => next.delay.min(RECHECK_WITHOUT_REGISTRY),
                _ => next.delay,
            }
        };
        Plan {
            delay: Duration::from_millis(delay.as_millis() as u64),
            retry: outcome == CycleOutcome::Failed,
            warn_unusable_expiry,
        }
    }

    /// Failed cycles in a row.
    pub fn failures(&self) -> u32 {
        self.backoff.failures()
    }
}

/// The delay until the next refresh after a successful cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NextRefresh {
    delay: Duration,
    /// True when some token had no usable expiry (missing, or already past,
    /// as moto's 2015 timestamps are), so only the interval applied to it.
    expiry_unusable: bool,
}

fn next_refresh(
    now: SystemTime,
    expiries: impl IntoIterator<Item = Option<SystemTime>>,
    interval: Duration,
) -> NextRefresh {
    let mut delay = interval;
    let mut expiry_unusable = false;
    for expiry in expiries {
        match expiry.and_then(|at| at.duration_since(now).ok()) {
            Some(remaining) if !remaining.is_zero() => delay = delay.min(remaining / 2),
            // As if the token had just been issued for the usual 12 hours.
            _ => {
                expiry_unusable = true;
                delay = delay.min(ASSUMED_LIFETIME / 2);
            }
        }
    }
    NextRefresh {
        delay: delay.max(MIN_REFRESH.min(interval)),
        expiry_unusable,
    }
}

/// Exponential backoff with jitter for failed cycles.
#[derive(Debug, Clone)]
struct Backoff {
    policy: RetryPolicy,
    failures: u32,
}

impl Backoff {
    fn new(policy: RetryPolicy) -> Backoff {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// The delay before the next attempt: `min * 2^failures`, capped at
    /// `max`, then drawn uniformly from its upper half so that several
    /// updaters do not retry in step.
    fn next_delay(&mut self) -> Duration {
        let exponent = self.failures.min(31);
        self.failures = self.failures.saturating_add(1);
        let ceiling = self
            .policy
            .min_delay
            .saturating_mul(1u32 << exponent)
            .min(self.policy.max_delay);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }

    fn reset(&mut self) {
        self.failures = 0;
    }

    fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn half_the_remaining_lifetime_or_the_interval() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let in_12h = Some(now + 12 * HOUR);
        let in_4h = Some(now + 4 * HOUR);
        assert_eq!(next_refresh(now, [in_12h], 6 * HOUR).delay, 6 * HOUR);
        assert_eq!(next_refresh(now, [in_12h], 8 * HOUR).delay, 6 * HOUR);
        assert_eq!(next_refresh(now, [in_12h, in_4h], 6 * HOUR).delay, 2 * HOUR);
        assert!(!next_refresh(now, [in_12h], 6 * HOUR).expiry_unusable);
    }

    #[test]
    fn past_or_missing_expiry_falls_back_to_the_interval() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let in_2015 = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_420_070_400));
        let next = next_refresh(now, [in_2015, None], 6 * HOUR);
        assert_eq!(next.delay, 6 * HOUR);
        assert!(next.expiry_unusable);
        // Even with the longest interval, half the usual lifetime at most.
        assert_eq!(next_refresh(now, [None], 12 * HOUR).delay, 6 * HOUR);
        assert_eq!(next_refresh(now, [None], HOUR).delay, HOUR);
    }

    #[test]
    fn never_hammers_on_a_nearly_expired_token() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let next = next_refresh(now, [Some(now + Duration::from_secs(2))], 6 * HOUR);
        assert_eq!(next.delay, MIN_REFRESH);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut backoff = Backoff::new(RetryPolicy {
            min_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        });
        let expected_ceilings = [2, 4, 8, 16, 32, 60, 60, 60];
        for ceiling in expected_ceilings {
            let ceiling = Duration::from_secs(ceiling);
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
        for _ in 0..100 {
            assert!(backoff.next_delay() <= Duration::from_secs(60));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(2));
    }

    #[test]
    fn scheduler_backs_off_then_resets_and_rechecks_soon() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let retry = RetryPolicy {
            min_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        };
        let mut scheduler = Scheduler::new(6 * HOUR, retry);
        let failed = scheduler.after_cycle(now, CycleOutcome::Failed, []);
        assert!(failed.retry && failed.delay <= Duration::from_secs(2));
        scheduler.after_cycle(now, CycleOutcome::Failed, []);
        assert_eq!(scheduler.failures(), 2);

        let expiry = Some(now + 12 * HOUR);
        let done = scheduler.after_cycle(now, CycleOutcome::Done, [expiry]);
        assert_eq!((done.delay, done.retry), (6 * HOUR, false));
        assert_eq!(scheduler.failures(), 0);

        let waiting = scheduler.after_cycle(now, CycleOutcome::NeedsAttention, [expiry]);
        assert_eq!(waiting.delay, RECHECK_WITHOUT_REGISTRY);
        assert!(!waiting.retry);
    }

    #[test]
    fn an_unusable_expiry_is_warned_about_once() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let retry = RetryPolicy {
            min_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        };
        let mut scheduler = Scheduler::new(6 * HOUR, retry);
        assert!(
            scheduler
                .after_cycle(now, CycleOutcome::Done, [None])
                .warn_unusable_expiry
        );
        assert!(
            !scheduler
                .after_cycle(now, CycleOutcome::Done, [None])
                .warn_unusable_expiry
        );
    }
}
