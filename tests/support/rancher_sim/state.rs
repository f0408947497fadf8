//! What the simulated server stores: projects, API keys, registries and
//! credentials, and the state machine of docs/rancher-api.md §5.
//!
//! Time here advances by requests, not by the clock: each request the server
//! receives gets the next serial number, and a process started during request
//! `n` with delay `d` completes when request `n + d + 1` arrives. Tests then
//! see `registering` or `deactivating` exactly as long as they choose, and
//! never wait on a timer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use super::faults::Faults;
use super::schema::Kind;
use super::{KeyKind, Role, SimCredential, SimRegistry, SimRequest};

pub(super) struct Key {
    pub access: String,
    pub secret: String,
    pub kind: KeyKind,
    /// The environment of environment and project keys; the user account of
    /// user and admin keys.
    pub owner: u64,
}

/// An environment; its `meta.account` is its own number.
pub(super) struct Project {
    pub meta: Meta,
    pub orchestration: String,
    /// (user account, role); one account may hold several (§2).
    pub members: Vec<(u64, Role)>,
}

impl Project {
    /// The most privileged role `account` holds here (§2).
    pub(super) fn role_of(&self, account: u64) -> Option<Role> {
        let roles = self.members.iter().filter(|(member, _)| *member == account);
        roles.map(|(_, role)| *role).max()
    }

    pub(super) fn is_active(&self) -> bool {
        self.meta.state == "active"
    }
}

/// What registries and credentials have in common.
pub(super) struct Meta {
    pub num: u64,
    pub account: u64,
    pub uuid: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub state: String,
    pub created: SystemTime,
    /// Set by the remove process, with `removeTime`.
    pub removed: Option<SystemTime>,
    pending: Option<Pending>,
}

/// A running process: the state it ends in and the last serial it is still running at.
struct Pending {
    process: Process,
    target: String,
    until: u64,
}

impl Meta {
    /// An object of `account` in `state`, with no process running; its
    /// number is set when it is stored.
    pub(super) fn new(account: u64, state: &str) -> Meta {
        let now = SystemTime::now();
        Meta {
            num: 0,
            account,
            uuid: new_uuid(),
            name: None,
            description: None,
            state: state.to_string(),
            created: now,
            removed: matches!(state, "removed" | "purging" | "purged").then_some(now),
            pending: None,
        }
    }

    pub(super) fn mark_removed(&mut self) {
        self.state = "removed".to_string();
        self.removed = Some(SystemTime::now());
        self.pending = None;
    }

    /// Completes the running process if request `serial` is past its end, and returns it.
    fn settle(&mut self, serial: u64) -> Option<Process> {
        let pending = self.pending.take_if(|p| p.until < serial)?;
        self.state = pending.target;
        if pending.process == Process::REMOVE {
            self.removed = Some(SystemTime::now());
        }
        Some(pending.process)
    }
}

pub(super) struct Registry {
    pub meta: Meta,
    pub server_address: String,
}

impl Registry {
    pub(super) fn snapshot(&self) -> SimRegistry {
        SimRegistry {
            id: Kind::Registry.format_id(self.meta.num),
            server_address: self.server_address.clone(),
            removed: self.meta.removed.is_some(),
            account_id: Kind::Project.format_id(self.meta.account),
        }
    }
}

pub(super) struct Credential {
    pub meta: Meta,
    pub registry: u64,
    pub public_value: Option<String>,
    pub secret_value: Option<String>,
    pub email: Option<String>,
}

impl Credential {
    pub(super) fn snapshot(&self) -> SimCredential {
        SimCredential {
            id: Kind::Credential.format_id(self.meta.num),
            registry_id: Kind::Registry.format_id(self.registry),
            public_value: self.public_value.clone(),
            secret_value: self.secret_value.clone(),
            email: self.email.clone(),
            state: self.meta.state.clone(),
            account_id: Kind::Project.format_id(self.meta.account),
        }
    }
}

pub(super) struct SimState {
    pub projects: BTreeMap<u64, Project>,
    pub keys: Vec<Key>,
    pub registries: BTreeMap<u64, Registry>,
    pub credentials: BTreeMap<u64, Credential>,
    pub requests: Vec<SimRequest>,
    pub faults: Faults,
    pub access_control: bool,
    /// How long every request waits before it is served.
    pub latency: Duration,
    /// How long requests scoped to one project wait instead.
    pub project_latency: BTreeMap<u64, Duration>,
    /// Advances at every arrival and every response (see `SimRequest`).
    pub clock: u64,
    /// Requests a created object stays `registering` for.
    pub activation_delay: u64,
    /// Serial number of the request being served.
    pub serial: u64,
    /// Objects that may have a process running.
    running: Vec<(Kind, u64)>,
    /// (account, number) of every registry and credential: a request reads
    /// one account's objects without walking every account's.
    registries_of: BTreeSet<(u64, u64)>,
    credentials_of: BTreeSet<(u64, u64)>,
}

impl SimState {
    pub(super) fn new() -> SimState {
        SimState {
            projects: BTreeMap::new(),
            keys: Vec::new(),
            registries: BTreeMap::new(),
            credentials: BTreeMap::new(),
            requests: Vec::new(),
            faults: Faults::default(),
            access_control: true,
            latency: Duration::ZERO,
            project_latency: BTreeMap::new(),
            clock: 0,
            activation_delay: 1,
            serial: 0,
            running: Vec::new(),
            registries_of: BTreeSet::new(),
            credentials_of: BTreeSet::new(),
        }
    }

    pub(super) fn registries_in(&self, account: u64) -> impl Iterator<Item = &Registry> {
        let nums = self.registries_of.range((account, 0)..=(account, u64::MAX));
        nums.filter_map(|(_, num)| self.registries.get(num))
    }

    pub(super) fn credentials_in(&self, account: u64) -> impl Iterator<Item = &Credential> {
        let nums = self
            .credentials_of
            .range((account, 0)..=(account, u64::MAX));
        nums.filter_map(|(_, num)| self.credentials.get(num))
    }

    /// Stores a registry and returns its number.
    pub(super) fn insert_registry(&mut self, meta: Meta, server_address: &str) -> u64 {
        let num = next_num(&self.registries);
        let meta = Meta { num, ..meta };
        let server_address = server_address.to_string();
        self.registries_of.insert((meta.account, num));
        self.registries.insert(
            num,
            Registry {
                meta,
                server_address,
            },
        );
        num
    }

    /// Stores a credential and returns its number.
    pub(super) fn insert_credential(&mut self, credential: Credential) -> u64 {
        let num = next_num(&self.credentials);
        let meta = Meta {
            num,
            ..credential.meta
        };
        self.credentials_of.insert((meta.account, num));
        self.credentials
            .insert(num, Credential { meta, ..credential });
        num
    }

    pub(super) fn meta_mut(&mut self, kind: Kind, num: u64) -> Option<&mut Meta> {
        match kind {
            Kind::Registry => self.registries.get_mut(&num).map(|r| &mut r.meta),
            Kind::Credential => self.credentials.get_mut(&num).map(|c| &mut c.meta),
            _ => None,
        }
    }

    /// Starts `process` on an object if its state allows it (else false);
    /// it completes once `delay` more requests have been served.
    pub(super) fn start(&mut self, kind: Kind, num: u64, process: Process, delay: u64) -> bool {
        let until = self.serial + delay;
        let Some(meta) = self.meta_mut(kind, num) else {
            return false;
        };
        if !process.can_start(&meta.state) {
            return false;
        }
        let target = process.target.unwrap_or(&meta.state).to_string();
        meta.state = match process.running {
            Some(running) => running.to_string(),
            None => format!("updating-{}", meta.state),
        };
        meta.pending = Some(Pending {
            process,
            target,
            until,
        });
        self.running.push((kind, num));
        true
    }

    /// Starts serving the next request: completes the processes whose time
    /// has come. Purging a registry removes its credentials (§5).
    /// How long a request scoped to `project` (if any) waits.
    pub(super) fn latency_for(&self, project: Option<u64>) -> Duration {
        let own = project.and_then(|p| self.project_latency.get(&p));
        own.copied().unwrap_or(self.latency)
    }

    /// The next tick of the arrival-and-response clock.
    pub(super) fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub(super) fn next_request(&mut self) {
        self.serial += 1;
        let serial = self.serial;
        let mut purged = Vec::new();
        let mut running = std::mem::take(&mut self.running);
        running.retain(|&(kind, num)| {
            let Some(meta) = self.meta_mut(kind, num) else {
                return false;
            };
            if meta.settle(serial) == Some(Process::PURGE) && kind == Kind::Registry {
                purged.push(num);
            }
            meta.pending.is_some()
        });
        self.running = running;
        if !purged.is_empty() {
            let credentials = self.credentials.values_mut();
            for credential in credentials.filter(|c| purged.contains(&c.registry)) {
                if credential.meta.removed.is_none() {
                    credential.meta.mark_removed();
                }
            }
        }
    }
}

/// Numbers are never reused, even after a purge: one past the highest.
fn next_num<T>(map: &BTreeMap<u64, T>) -> u64 {
    map.last_key_value().map_or(1, |(num, _)| num + 1)
}

pub(super) fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    bytes.fill_with(|| fastrand::u8(..));
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A process of §5: the states it starts from, the state shown while it
/// runs, and the state it ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Process {
    pub name: &'static str,
    from: &'static [&'static str],
    /// `None`: `updating-<the state it started from>`.
    running: Option<&'static str>,
    /// `None`: back to the state it started from.
    target: Option<&'static str>,
}

#[rustfmt::skip]
impl Process {
    pub(super) const CREATE: Process = Process {
        name: "create", from: &["requested"], running: Some("registering"), target: Some("active"),
    };
    const UPDATE: Process = Process {
        name: "update", from: &["inactive", "active"], running: None, target: None,
    };
    const ACTIVATE: Process = Process {
        name: "activate", from: &["inactive", "registering"], running: Some("activating"),
        target: Some("active"),
    };
    const DEACTIVATE: Process = Process {
        name: "deactivate",
        from: &["requested", "registering", "active", "activating", "updating-active",
                "updating-inactive"],
        running: Some("deactivating"), target: Some("inactive"),
    };
    pub(super) const REMOVE: Process = Process {
        name: "remove",
        from: &["requested", "inactive", "registering", "updating-active", "updating-inactive"],
        running: Some("removing"), target: Some("removed"),
    };
    const PURGE: Process = Process {
        name: "purge", from: &["removed"], running: Some("purging"), target: Some("purged"),
    };

    /// The actions a resource may list, in the order it lists them; `create`
    /// and `restore` are never available as actions.
    pub(super) const LISTED: [Process; 5] =
        [Process::UPDATE, Process::ACTIVATE, Process::DEACTIVATE, Process::REMOVE, Process::PURGE];
}

impl Process {
    pub(super) fn from_action(name: &str) -> Option<Process> {
        Process::LISTED.into_iter().find(|p| p.name == name)
    }

    pub(super) fn can_start(self, state: &str) -> bool {
        self.from.contains(&state)
    }
}

/// States in which `transitioning` is `yes` (§3).
pub(super) fn is_transitioning(state: &str) -> bool {
    #[rustfmt::skip]
    const RUNNING: [&str; 7] = [
        "requested", "registering", "activating", "deactivating", "removing", "purging", "restoring",
    ];
    RUNNING.contains(&state) || state.starts_with("updating-")
}
