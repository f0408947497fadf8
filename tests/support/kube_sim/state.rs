//! The store: every object under one global, strictly increasing
//! resourceVersion, and a bounded history of the changes, which serves
//! watches from an older resourceVersion, consistent list pages (a snapshot
//! is the present with the later changes undone) and the 410s once that
//! history no longer reaches back far enough.
//!
//! A write whose result equals the stored object is a no-op: no new
//! resourceVersion, no event (docs/kubernetes-api.md §6).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::apply::Owners;
use super::faults::Faults;
use super::kinds::Resource;
use super::SimRequest;

/// Where an object lives: resource, namespace (`""` for namespaces), name.
pub type Key = (Resource, String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn word(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, with the object before it (for selector transitions and
/// for undoing it in a snapshot).
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub key: Key,
    pub object: Value,
    pub old: Option<Value>,
}

/// An RBAC denial: `verb` on `resource` in `namespace` (`None`: everywhere).
#[derive(Clone, Debug)]
pub struct Denial {
    pub verb: String,
    pub resource: Resource,
    pub namespace: Option<String>,
}

/// What running watches obey besides the store: a drop generation (each
/// bump ends every open stream), an error generation (each bump ends every
/// open stream with an ERROR event of `error_code`) and silence (no line is
/// sent while set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchControl {
    pub drops: u64,
    pub errors: u64,
    pub error_code: u16,
    pub silent: bool,
}

pub struct SimState {
    pub rv: u64,
    pub objects: BTreeMap<Key, Value>,
    pub history: VecDeque<Event>,
    pub history_limit: usize,
    /// Watches and snapshots need a resourceVersion at least this.
    pub compacted: u64,
    pub owners: HashMap<Key, Owners>,
    /// Bearer token → user name.
    pub tokens: HashMap<String, String>,
    /// Requests without credentials run as `system:anonymous`.
    pub anonymous: bool,
    pub denials: Vec<Denial>,
    pub faults: Faults,
    pub requests: Vec<SimRequest>,
    /// When a new namespace gets its `default` ServiceAccount (`None`: never).
    pub default_sa_delay: Option<Duration>,
    /// Namespaces created since the routes last looked, awaiting their SA.
    pub pending_default_sa: Vec<String>,
    pub bookmark_interval: Duration,
    pub changes: tokio::sync::watch::Sender<u64>,
    pub control: tokio::sync::watch::Sender<WatchControl>,
}

/// RFC 3339 in whole seconds, UTC (creationTimestamp, deletionTimestamp).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub fn new_uid() -> String {
    let mut bytes = [0u8; 16];
    bytes.fill_with(|| fastrand::u8(..));
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The object without what the store stamps on every write.
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    object
}

impl SimState {
    pub fn new() -> SimState {
        SimState {
            rv: 1000,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: 10_000,
            compacted: 1000,
            owners: HashMap::new(),
            tokens: HashMap::new(),
            anonymous: false,
            denials: Vec::new(),
            faults: Faults::default(),
            requests: Vec::new(),
            default_sa_delay: Some(Duration::ZERO),
            pending_default_sa: Vec::new(),
            bookmark_interval: Duration::from_secs(60),
            changes: tokio::sync::watch::channel(1000).0,
            control: tokio::sync::watch::channel(WatchControl::default()).0,
        }
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Stores `object` under `key`, stamping uid, creationTimestamp and a new
    /// resourceVersion; returns what is stored (the old object for a no-op).
    pub fn put(&mut self, key: Key, mut object: Value) -> Value {
        let old = self.objects.get(&key).cloned();
        if let Some(old) = &old {
            for field in ["uid", "creationTimestamp"] {
                object["metadata"][field] = old["metadata"][field].clone();
            }
            if comparable(old) == comparable(&object) {
                return old.clone();
            }
        } else {
            object["metadata"]["uid"] = json!(new_uid());
            object["metadata"]["creationTimestamp"] = json!(now());
        }
        let rv = self.bump();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        if key.0 == Resource::Namespaces && old.is_none() {
            self.pending_default_sa.push(key.2.clone());
        }
        self.objects.insert(key.clone(), object.clone());
        let kind = match old {
            Some(_) => EventType::Modified,
            None => EventType::Added,
        };
        self.record(Event {
            rv,
            kind,
            key,
            object: object.clone(),
            old,
        });
        object
    }

    /// Removes the object; returns its last state, stamped with the
    /// deletion's resourceVersion.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let old = self.objects.remove(key)?;
        self.owners.remove(key);
        let rv = self.bump();
        let mut object = old.clone();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let kind = EventType::Deleted;
        let event = Event {
            rv,
            kind,
            key: key.clone(),
            object: object.clone(),
            old: Some(old),
        };
        self.record(event);
        Some(object)
    }

    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, event: Event) {
        self.history.push_back(event);
        while self.history.len() > self.history_limit {
            let dropped = self.history.pop_front().expect("a non-empty history");
            self.compacted = dropped.rv;
        }
        self.changes.send_replace(self.rv);
    }

    /// Forgets the whole history: every older resourceVersion is now too old.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// The events of `resource` after `rv`, or `None` when the history no
    /// longer reaches back to `rv`.
    pub fn events_after(&self, resource: Resource, rv: u64) -> Option<Vec<Event>> {
        if rv < self.compacted {
            return None;
        }
        let events = self
            .history
            .iter()
            .filter(|e| e.rv > rv && e.key.0 == resource);
        Some(events.cloned().collect())
    }

    /// The objects of `resource` as they were at `rv` (`None`: compacted).
    pub fn snapshot_at(&self, resource: Resource, rv: u64) -> Option<BTreeMap<Key, Value>> {
        let later = self.events_after(resource, rv)?;
        let mut objects: BTreeMap<Key, Value> = (self.objects.iter())
            .filter(|(key, _)| key.0 == resource)
            .map(|(key, object)| (key.clone(), object.clone()))
            .collect();
        for event in later.iter().rev() {
            match &event.old {
                Some(old) => objects.insert(event.key.clone(), old.clone()),
                None => objects.remove(&event.key),
            };
        }
        Some(objects)
    }

    /// Whether namespace `name` exists and is being deleted.
    pub fn terminating(&self, name: &str) -> bool {
        let key = (Resource::Namespaces, String::new(), name.to_string());
        self.objects
            .get(&key)
            .is_some_and(|ns| ns["status"]["phase"] == "Terminating")
    }

    pub fn namespace_exists(&self, name: &str) -> bool {
        let key = (Resource::Namespaces, String::new(), name.to_string());
        self.objects.contains_key(&key)
    }

    /// The denial, if any, of `verb` on `resource` in `namespace`.
    pub fn denied(&self, verb: &str, resource: Resource, namespace: Option<&str>) -> bool {
        self.denials.iter().any(|d| {
            d.verb == verb
                && d.resource == resource
                && (d.namespace.is_none() || d.namespace.as_deref() == namespace)
        })
    }
}
