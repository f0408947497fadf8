//! When to refresh next: pure arithmetic over token expiries and failures.
//!
//! After a good cycle the next one comes at the earlier of the configured
//! interval and half of the shortest remaining token lifetime, so a token is
//! rewritten long before it lapses even if ECR shortens lifetimes
//! (docs/ecr-facts.md). After a failed cycle, retries back off exponentially
//! with jitter.

use std::time::{Duration, SystemTime};

use crate::config::RetryPolicy;

/// Never refresh more often than this after a success, whatever the expiry says.
const MIN_REFRESH: Duration = Duration::from_secs(10);
/// What a token without a usable expiry is assumed to live (docs/ecr-facts.md).
const ASSUMED_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// When nothing could be written for reasons a person must fix (no
/// matching registry, only deactivated ones), look again this often.
pub const RECHECK_WITHOUT_REGISTRY: Duration = Duration::from_secs(10 * 60);

/// The delay until the next refresh after a successful cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextRefresh {
    pub delay: Duration,
    /// True when some token had no usable expiry (missing, or already past,
    /// as moto's 2015 timestamps are), so only the interval applied to it.
    pub expiry_unusable: bool,
}

pub fn next_refresh(
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
pub struct Backoff {
    policy: RetryPolicy,
    failures: u32,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Backoff {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// The delay before the next attempt: `min * 2^failures`, capped at
    /// `max`, then drawn uniformly from its upper half so that several
    /// updaters do not retry in step.
    pub fn next_delay(&mut self) -> Duration {
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

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
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
}
