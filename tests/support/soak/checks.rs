//! What the soak asserts between cycles, the registry churn it causes, and
//! the figures it reports (see tests/soak.rs for the list of promises).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rancher_ecr_credentials::daemon::metrics::Metrics;
use rancher_ecr_credentials::daemon::status::Status;
use serde_json::Value;

use super::aws::FakeEcr;
use super::{host, Clock, Faults, ACCOUNTS, PROJECTS, REGION};
use crate::support::rancher_sim::RancherSim;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// (environment, host) of a registry, as `/healthz` and `/metrics` name it.
type Key = (String, String);

/// The soak's observer: the world's handles and what it has seen.
pub struct Soak {
    seed: u64,
    clock: Clock,
    faults: Arc<Faults>,
    ecr: FakeEcr,
    sim: Arc<RancherSim>,
    status: Arc<Status>,
    metrics: Arc<Metrics>,
    started: std::time::Instant,
    next_churn: Duration,
    figures: Figures,
}

/// What a month came to.
#[derive(Debug, Default)]
pub struct Figures {
    pub seed: u64,
    pub days: u64,
    pub real_time: Duration,
    pub cycles: u64,
    pub failed_cycles: u64,
    pub aws_calls: u64,
    pub tokens_issued: usize,
    pub rancher_requests: usize,
    pub faults: BTreeMap<String, u64>,
    pub outage_hours: f64,
    pub registry_changes: u64,
    /// The longest a credential was seen holding an expired token.
    pub longest_expired: Duration,
    /// The same, counted from the later of the expiry and the last fault.
    pub longest_after_fault: Duration,
    pub first_day: Option<Size>,
    pub last_day: Option<Size>,
}

/// The daemon's state, as big as `/healthz` and `/metrics` show it.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub registries: usize,
    pub healthz_bytes: usize,
    pub registry_series: usize,
}

impl Soak {
    pub fn new(
        seed: u64,
        clock: Clock,
        faults: Arc<Faults>,
        ecr: FakeEcr,
        sim: Arc<RancherSim>,
        status: Arc<Status>,
        metrics: Arc<Metrics>,
    ) -> Soak {
        Soak {
            seed,
            clock,
            faults,
            ecr,
            sim,
            status,
            metrics,
            started: std::time::Instant::now(),
            next_churn: Duration::from_secs(12 * 3600),
            figures: Figures {
                seed,
                ..Figures::default()
            },
        }
    }

    /// Where the soak is, for failure messages.
    fn at(&self) -> String {
        let now = humantime::format_rfc3339_seconds(self.clock.now());
        format!("seed {} (SOAK_SEED={0} replays it), at {now}", self.seed)
    }

    /// Every registry Rancher lists that the source serves: (project,
    /// registry id, host).
    fn served(&self) -> Vec<(String, String, String)> {
        let served_hosts: Vec<String> = ACCOUNTS.iter().map(|a| host(a, REGION)).collect();
        let mut served = Vec::new();
        for project in PROJECTS {
            for registry in self.sim.registries(project) {
                if !registry.removed && served_hosts.contains(&registry.server_address) {
                    served.push((project.to_string(), registry.id, registry.server_address));
                }
            }
        }
        served
    }

    /// The live credentials of one registry: their passwords.
    fn passwords(&self, project: &str, registry: &str) -> Vec<String> {
        (self.sim.credentials(project).into_iter())
            .filter(|c| {
                c.registry_id == registry && !matches!(c.state.as_str(), "removed" | "purged")
            })
            .map(|c| c.secret_value.unwrap_or_default())
            .collect()
    }

    /// No duplicate credentials; no token expired longer than `window`
    /// after the last fault; `/healthz` not healthy while one it knows is
    /// expired; nothing written for hosts no source serves.
    pub fn check_tokens(&mut self, window: Duration) {
        let now = self.clock.now();
        let (healthy, body) = self.status.health(now);
        let known: HashSet<Key> = registries(&body).into_keys().collect();
        let last_fault = self.faults.last_fault();
        for (project, id, host) in self.served() {
            let passwords = self.passwords(&project, &id);
            let at = self.at();
            assert!(
                passwords.len() <= 1,
                "{at}: registry {id} ({host}) in {project} has {} credentials",
                passwords.len()
            );
            let Some(password) = passwords.first() else {
                continue;
            };
            let expiry = (self.ecr.expiry(password)).unwrap_or_else(|| {
                panic!("{at}: {host} in {project} holds a password ECR never gave")
            });
            let Ok(expired) = now.duration_since(expiry) else {
                continue;
            };
            let blamed = last_fault.map_or(expiry, |fault| fault.max(expiry));
            let after_fault = now.duration_since(blamed).unwrap_or_default();
            self.figures.longest_expired = self.figures.longest_expired.max(expired);
            self.figures.longest_after_fault = self.figures.longest_after_fault.max(after_fault);
            assert!(after_fault <= window, "{at}: {host} in {project} has held a token expired for {} ({} after the last fault), longer than the retry window {}", fmt_duration(expired), fmt_duration(after_fault), fmt_duration(window));
            let key = (project.clone(), host.clone());
            assert!(!healthy || !known.contains(&key), "{at}: /healthz says healthy while {host} in {project} holds a token expired for {}: {body}", fmt_duration(expired));
        }
        for project in PROJECTS {
            for registry in self
                .sim
                .registries(project)
                .into_iter()
                .filter(|r| !r.removed)
            {
                let served = self.served().iter().any(|(_, id, _)| *id == registry.id);
                let at = self.at();
                assert!(
                    served || self.passwords(project, &registry.id).is_empty(),
                    "{at}: a credential was written for {}, which no source serves",
                    registry.server_address
                );
            }
        }
    }

    /// After a cycle that did not fail: healthy, and `/healthz` and
    /// `/metrics` list exactly the registries Rancher lists, each with the
    /// expiry of the token its credential holds.
    pub fn after_cycle(&mut self, retry: bool) {
        self.figures.cycles += 1;
        self.figures.rancher_requests += self.sim.request_count();
        self.sim.clear_requests();
        if retry {
            self.figures.failed_cycles += 1;
            return;
        }
        let at = self.at();
        let (healthy, body) = self.status.health(self.clock.now());
        assert!(
            healthy,
            "{at}: /healthz is unhealthy after a clean cycle: {body}"
        );
        let mut expected = BTreeMap::new();
        for (project, id, host) in self.served() {
            let passwords = self.passwords(&project, &id);
            assert_eq!(
                passwords.len(),
                1,
                "{at}: {host} in {project} after a clean cycle"
            );
            let expiry = self.ecr.expiry(&passwords[0]).expect("a password ECR gave");
            expected.insert((project, host), unix_seconds(expiry));
        }
        let healthz: BTreeMap<Key, u64> = registries(&body);
        assert_eq!(
            healthz, expected,
            "{at}: /healthz's registries and their token expiries differ from Rancher's"
        );
        let metrics = self.metrics.encode();
        let series = series(
            &metrics,
            "rancher_ecr_credentials_token_expiry_timestamp_seconds",
        );
        assert_eq!(
            series, expected,
            "{at}: /metrics' token expiries differ from Rancher's"
        );
        let written = series_count(
            &metrics,
            "rancher_ecr_credentials_last_success_timestamp_seconds",
        );
        assert_eq!(
            written,
            expected.len(),
            "{at}: /metrics' last-success series differ from Rancher's registries"
        );
        let size = Size {
            registries: expected.len(),
            healthz_bytes: body.to_string().len(),
            registry_series: written + series.len(),
        };
        if self.figures.first_day.is_none() && self.clock.elapsed() >= DAY {
            self.figures.first_day = Some(size);
        }
        self.figures.last_day = Some(size);
    }

    /// Now and then a registry comes or goes: the identity's own or the
    /// other account's, in a random environment (each keeps one at least).
    pub fn churn(&mut self) {
        if self.clock.elapsed() < self.next_churn {
            return;
        }
        self.next_churn =
            self.clock.elapsed() + Duration::from_secs(self.faults.pick(6 * 3600..36 * 3600));
        let project = PROJECTS[self.faults.pick(0..PROJECTS.len() as u64) as usize];
        let here: Vec<(String, String)> = (self.served().into_iter())
            .filter(|(p, _, _)| p == project)
            .map(|(_, id, host)| (id, host))
            .collect();
        let account = ACCOUNTS[self.faults.pick(0..ACCOUNTS.len() as u64) as usize];
        let new_host = host(account, REGION);
        if self.faults.chance() < 0.5 && !here.iter().any(|(_, h)| *h == new_host) {
            self.sim.add_registry(project, &new_host, "active");
            self.figures.registry_changes += 1;
        } else if here.len() > 1 {
            let (id, _) = &here[self.faults.pick(0..here.len() as u64) as usize];
            self.sim.remove_registry(id);
            self.figures.registry_changes += 1;
        }
    }

    pub fn figures(mut self, days: u64) -> Figures {
        let outages = self.faults.outages();
        self.figures.days = days;
        self.figures.real_time = self.started.elapsed();
        self.figures.aws_calls = self.ecr.calls();
        self.figures.tokens_issued = self.ecr.tokens_issued();
        self.figures.faults = self.faults.counts();
        self.figures.outage_hours = outages
            .iter()
            .map(|o| (o.to - o.from).as_secs_f64() / 3600.0)
            .sum();
        self.figures
    }
}

impl Figures {
    /// The month's promises, once more as a whole.
    pub fn assert_held(&self, window: Duration) {
        let seed = self.seed;
        assert!(self.longest_after_fault <= window, "seed {seed}: {self}");
        assert!(
            self.faults.values().sum::<u64>() > 100,
            "seed {seed}: too few faults to mean anything: {self}"
        );
        assert!(
            self.registry_changes > 5,
            "seed {seed}: too little churn: {self}"
        );
        let (Some(first), Some(last)) = (self.first_day, self.last_day) else {
            panic!("seed {seed}: no clean cycle after the first day: {self}");
        };
        // The state follows Rancher: per registry, no bigger at the end.
        let per = |size: Size, bytes: usize| bytes as f64 / size.registries.max(1) as f64;
        assert!(
            per(last, last.healthz_bytes) <= per(first, first.healthz_bytes) * 1.2 + 400.0,
            "seed {seed}: /healthz grew: {self}"
        );
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = |s: Option<Size>| match s {
            Some(s) => format!(
                "{} registries, /healthz {} bytes, {} registry series",
                s.registries, s.healthz_bytes, s.registry_series
            ),
            None => "-".to_string(),
        };
        writeln!(
            f,
            "soak: seed {}: {} simulated days in {:.1} s",
            self.seed,
            self.days,
            self.real_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "  cycles {} ({} failed, retried), AWS calls {}, tokens issued {}, Rancher requests {}",
            self.cycles,
            self.failed_cycles,
            self.aws_calls,
            self.tokens_issued,
            self.rancher_requests
        )?;
        writeln!(
            f,
            "  faults injected {} ({:?}), outages {:.1} h in all",
            self.faults.values().sum::<u64>(),
            self.faults,
            self.outage_hours
        )?;
        writeln!(f, "  registry changes {}", self.registry_changes)?;
        writeln!(
            f,
            "  longest expired token {} ({} after the last fault)",
            fmt_duration(self.longest_expired),
            fmt_duration(self.longest_after_fault)
        )?;
        writeln!(f, "  state after day 1: {}", size(self.first_day))?;
        write!(f, "  state at the end: {}", size(self.last_day))
    }
}

fn fmt_duration(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// `/healthz`'s registries: (environment, host) -> token expiry.
fn registries(body: &Value) -> BTreeMap<Key, u64> {
    let listed = body["registries"].as_array().cloned().unwrap_or_default();
    (listed.iter())
        .map(|r| {
            let key = (text(&r["environment"]), text(&r["host"]));
            let expiry = humantime::parse_rfc3339(&text(&r["tokenExpiry"])).map_or(0, unix_seconds);
            (key, expiry)
        })
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// One metric's registry series: (environment, host) -> value, whole seconds.
fn series(metrics: &str, name: &str) -> BTreeMap<Key, u64> {
    let prefix = format!("{name}{{");
    (metrics.lines())
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (labels, value) = rest.split_once("} ")?;
            let label = |key: &str| {
                let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
                let end = labels[start..].find('"')? + start;
                Some(labels[start..end].to_string())
            };
            let value: f64 = value.trim().parse().ok()?;
            Some(((label("environment")?, label("host")?), value as u64))
        })
        .collect()
}

fn series_count(metrics: &str, name: &str) -> usize {
    series(metrics, name).len()
}
