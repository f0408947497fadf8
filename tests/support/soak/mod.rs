//! The 30-day soak's world: a simulated clock, a seeded plan of faults,
//! and the in-process AWS and Rancher the daemon's real client code talks
//! to (`aws.rs`, `rancher.rs`).
//!
//! Everything runs on one tokio runtime whose clock is paused: a wait
//! costs no real time, and the runtime jumps to the next timer as soon as
//! every task waits. No socket is involved anywhere (a real socket's wait
//! would let the clock jump past every timeout), so a month of refresh
//! cycles, retries and timeouts runs in seconds, and the same seed gives
//! the same month.

pub mod aws;
pub mod checks;
pub mod rancher;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The region of the soak's one source.
pub const REGION: &str = "us-east-1";
/// The identity's own account, and another it may pull from.
pub const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
/// The Rancher environments served.
pub const PROJECTS: [&str; 3] = ["1a5", "1a7", "1a9"];

/// An ECR registry host.
pub fn host(account: &str, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.amazonaws.com")
}

/// The time of day the daemon sees: a fixed start plus tokio's (paused)
/// time since the soak began.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
    epoch: SystemTime,
}

impl Clock {
    /// Starts at 2027-01-15T08:00:00Z.
    pub fn start() -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
            epoch: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.epoch + self.start.elapsed()
    }

    /// Time since the soak began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Which side a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Aws,
    Rancher,
}

/// A stretch of time during which every request to one side fails.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub side: Side,
    pub from: Duration,
    pub to: Duration,
}

/// How likely each fault is, per request, outside outages.
#[derive(Debug, Clone, Copy)]
pub struct Odds {
    /// A 5xx answer.
    pub error: f64,
    /// AWS only: a throttling answer.
    pub throttle: f64,
    /// No answer until the client gives up.
    pub timeout: f64,
    /// The request is served but its answer is lost on the way back.
    pub lost: f64,
}

/// The seeded fault plan and what it did: the one source of randomness in
/// the soak (request order is deterministic under the paused clock, so
/// the same seed gives the same month).
pub struct Faults {
    clock: Clock,
    state: Mutex<FaultState>,
    outages: Vec<Outage>,
    pub odds: Odds,
}

struct FaultState {
    rng: fastrand::Rng,
    /// Faults injected, by kind.
    counts: BTreeMap<String, u64>,
    /// When the latest fault of any kind was injected.
    last: Option<SystemTime>,
}

/// What a request meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Served,
    Down,
    Error,
    Throttled,
    TimedOut,
    Lost,
}

impl Faults {
    /// `days` of outages drawn from `seed`: a few of each side, from ten
    /// minutes to ten hours long.
    pub fn new(seed: u64, clock: Clock, days: u64, odds: Odds) -> Arc<Faults> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let hour = 3600;
        let mut outages = Vec::new();
        for side in [Side::Aws, Side::Rancher] {
            for _ in 0..(days / 5).max(1) {
                let from = rng.u64(hour..days * 24 * hour);
                let length = rng.u64(600..10 * hour);
                outages.push(Outage {
                    side,
                    from: Duration::from_secs(from),
                    to: Duration::from_secs(from + length),
                });
            }
        }
        Arc::new(Faults {
            clock,
            state: Mutex::new(FaultState {
                rng,
                counts: BTreeMap::new(),
                last: None,
            }),
            outages,
            odds,
        })
    }

    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn outages(&self) -> &[Outage] {
        &self.outages
    }

    /// Draws the fate of one request to `side`, and counts it.
    pub fn draw(&self, side: Side) -> Fate {
        let elapsed = self.clock.elapsed();
        let down =
            (self.outages.iter()).any(|o| o.side == side && o.from <= elapsed && elapsed < o.to);
        let mut state = self.state();
        let fate = if down {
            Fate::Down
        } else {
            let odds = self.odds;
            let roll = state.rng.f64();
            let throttle = if side == Side::Aws {
                odds.throttle
            } else {
                0.0
            };
            let mut bound = 0.0;
            let mut fate = Fate::Served;
            for (chance, candidate) in [
                (odds.error, Fate::Error),
                (throttle, Fate::Throttled),
                (odds.timeout, Fate::TimedOut),
                (odds.lost, Fate::Lost),
            ] {
                bound += chance;
                if roll < bound {
                    fate = candidate;
                    break;
                }
            }
            fate
        };
        if fate != Fate::Served {
            state.last = Some(self.clock.now());
            let name = format!("{side:?} {fate:?}").to_lowercase();
            *state.counts.entry(name).or_default() += 1;
        }
        fate
    }

    /// A number in `range`, from the plan's generator.
    pub fn pick(&self, range: std::ops::Range<u64>) -> u64 {
        self.state().rng.u64(range)
    }

    /// A chance in [0, 1), from the plan's generator.
    pub fn chance(&self) -> f64 {
        self.state().rng.f64()
    }

    /// When the latest fault was injected, if any was.
    pub fn last_fault(&self) -> Option<SystemTime> {
        self.state().last
    }

    /// Faults injected so far, by kind.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.state().counts.clone()
    }
}
