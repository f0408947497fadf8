//! Between refreshes, a Kubernetes target watches its cluster, so that a
//! namespace or ServiceAccount that appears later, and our Secret deleted
//! or changed by someone, is served within seconds with the Secret the last
//! cycle rendered ([`Held`]): no ECR call, no polling.
//!
//! Three kube-runtime watchers (list, then watch from the list's
//! resourceVersion; relist on `410 Gone`; re-watch when a stream ends;
//! jittered backoff on errors): namespaces, ServiceAccounts, and Secrets
//! narrowed to our Secret's name by a field selector. They read metadata
//! only (`metadata_watcher`): no Secret's data ever reaches this process
//! through them, and what is kept per object is its name and
//! resourceVersion (and, for a namespace, whether it is served), so memory
//! grows with the number of objects, never with their size.
//!
//! Each watch asks the server to end it after [`WATCH_TIMEOUT`] seconds and
//! is then re-established from the last resourceVersion (no relist), and
//! kube-runtime treats a stream with no line for that long plus 5 s as dead:
//! a silent watch is noticed within a minute.
//!
//! An event only marks its namespace; one worker serves marked namespaces,
//! each through `serve::serve_namespace`, which reads before it writes: our
//! own write comes back as an event, is read, found up to date, and left.
//! The first listing of each watch marks nothing the cycle that started
//! the watches just served, only what appeared since (a namespace it did
//! not serve, a Secret missing where it served).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::ObjectMeta;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::client::SECRET_PAGE;
use super::cluster::{metadata_api, Metadata};
use super::pull_secret::PullSecret;
use super::serve::{serve_namespace, NamespaceOutcome, Work};
use super::KubernetesSettings;
use crate::printable::printable;

/// Seconds after which the server ends each watch request.
pub const WATCH_TIMEOUT: u32 = 50;

/// The Secret the last cycle rendered, for the watches to serve with.
#[derive(Default)]
pub struct Held {
    secret: Mutex<Option<Arc<PullSecret>>>,
}

impl Held {
    pub fn hold(&self, secret: Arc<PullSecret>) {
        *lock(&self.secret) = Some(secret);
    }

    fn get(&self) -> Option<Arc<PullSecret>> {
        lock(&self.secret).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A target's running watches; they end when this is dropped.
pub struct Watches {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Namespaces marked for serving, shared by the watches and the worker.
#[derive(Default)]
struct Marks {
    pending: Mutex<BTreeSet<String>>,
    notify: Notify,
}

impl Marks {
    fn mark(&self, namespace: &str) {
        lock(&self.pending).insert(namespace.to_string());
        self.notify.notify_one();
    }
}

impl Watches {
    /// Starts the watches of `settings`' cluster through `client`, serving
    /// with what `held` holds; `served`: the namespaces the cycle that
    /// starts them served.
    pub fn start(
        client: Client,
        settings: Arc<KubernetesSettings>,
        label: String,
        held: Arc<Held>,
        served: HashSet<String>,
    ) -> Watches {
        let marks = Arc::new(Marks::default());
        let known = Known {
            served_by_cycle: served,
            ..Known::default()
        };
        let events = tokio::spawn(watch_events(
            client.clone(),
            settings.clone(),
            marks.clone(),
            known,
        ));
        let worker = tokio::spawn(serve_marked(client, settings, label, held, marks));
        Watches {
            tasks: vec![events, worker],
        }
    }
}

/// What the watches know of the cluster: names and resourceVersions.
#[derive(Default)]
struct Known {
    /// Namespace name -> whether it is served.
    namespaces: HashMap<String, bool>,
    /// Namespace -> our Secret's resourceVersion there.
    secrets: HashMap<String, String>,
    /// `namespace/name` -> resourceVersion, of the listed ServiceAccounts.
    accounts: HashMap<String, String>,
    /// The namespaces the cycle that started the watches served; emptied
    /// after the first listing of namespaces.
    served_by_cycle: HashSet<String>,
}

/// Which watch an event came from.
enum Kind {
    Namespace,
    Secret,
    Account,
}

/// Runs the three watches until the target is dropped, marking the
/// namespaces their events touch.
async fn watch_events(
    client: Client,
    settings: Arc<KubernetesSettings>,
    marks: Arc<Marks>,
    mut known: Known,
) {
    let config = || watcher::Config::default().timeout(WATCH_TIMEOUT);
    // One object type for the three (metadata of any kind), so the
    // watcher's code is in the binary once, not once per kind.
    let namespaces = watcher(metadata_api::<Namespace>(&client), config())
        .default_backoff()
        .map(|event| (Kind::Namespace, event.map(metadata)));
    let field = format!("metadata.name={}", settings.secret_name);
    let secrets_config = config().fields(&field).page_size(SECRET_PAGE);
    let secrets = watcher(metadata_api::<Secret>(&client), secrets_config)
        .default_backoff()
        .map(|event| (Kind::Secret, event.map(metadata)));
    let accounts = watcher(metadata_api::<ServiceAccount>(&client), config())
        .default_backoff()
        .map(|event| (Kind::Account, event.map(metadata)));
    let all =
        futures_util::stream::select(futures_util::stream::select(namespaces, secrets), accounts);
    let mut all = std::pin::pin!(all);
    let mut state = ListingState::default();
    while let Some((kind, event)) = all.next().await {
        match event {
            Ok(event) => known.apply(&kind, event, &settings, &marks, &mut state),
            // kube-runtime retries with backoff; said once per failure.
            Err(err) => warn!(
                "Kubernetes watch failed, retrying: {}",
                printable(&err.to_string())
            ),
        }
    }
}

/// An event's object reduced to its metadata.
fn metadata(event: Event<Metadata>) -> Event<ObjectMeta> {
    match event {
        Event::Apply(object) => Event::Apply(object.metadata),
        Event::Delete(object) => Event::Delete(object.metadata),
        Event::Init => Event::Init,
        Event::InitApply(object) => Event::InitApply(object.metadata),
        Event::InitDone => Event::InitDone,
    }
}

/// Per watch: whether its first listing is done, and what a listing in
/// progress has seen (to find what went while no watch was running).
#[derive(Default)]
struct ListingState {
    listed_once: [bool; 3],
    seen: [HashSet<String>; 3],
}

impl Kind {
    fn index(&self) -> usize {
        match self {
            Kind::Namespace => 0,
            Kind::Secret => 1,
            Kind::Account => 2,
        }
    }
}

impl Known {
    fn apply(
        &mut self,
        kind: &Kind,
        event: Event<ObjectMeta>,
        settings: &KubernetesSettings,
        marks: &Marks,
        state: &mut ListingState,
    ) {
        let index = kind.index();
        let first = !state.listed_once[index];
        match event {
            Event::Init => state.seen[index].clear(),
            Event::InitApply(object) => {
                if let Some(key) = self.key(kind, &object) {
                    state.seen[index].insert(key);
                }
                self.changed(kind, &object, settings, marks, first);
            }
            Event::InitDone => {
                let seen = std::mem::take(&mut state.seen[index]);
                self.listed(kind, &seen, marks, first);
                state.listed_once[index] = true;
            }
            Event::Apply(object) => self.changed(kind, &object, settings, marks, false),
            Event::Delete(object) => self.deleted(kind, &object, marks),
        }
    }

    fn key(&self, kind: &Kind, meta: &ObjectMeta) -> Option<String> {
        let name = meta.name.as_deref()?;
        Some(match kind {
            Kind::Namespace => name.to_string(),
            Kind::Secret => meta.namespace.clone()?,
            Kind::Account => format!("{}/{name}", meta.namespace.as_deref()?),
        })
    }

    /// An object added or changed. During the first listing only what the
    /// cycle did not serve is marked: a namespace not known to be served.
    fn changed(
        &mut self,
        kind: &Kind,
        meta: &ObjectMeta,
        settings: &KubernetesSettings,
        marks: &Marks,
        first_listing: bool,
    ) {
        let Some(name) = meta.name.as_deref() else {
            return;
        };
        let version = meta.resource_version.clone().unwrap_or_default();
        match kind {
            Kind::Namespace => {
                let labels = meta.labels.clone().unwrap_or_default();
                let served =
                    meta.deletion_timestamp.is_none() && settings.namespaces.serves(name, &labels);
                let was = self.namespaces.insert(name.to_string(), served);
                // Newly served (created, or relabelled into the filter);
                // on the first listing, served since the cycle listed.
                let new = match first_listing {
                    true => !self.served_by_cycle.contains(name),
                    false => was != Some(true),
                };
                if served && new {
                    marks.mark(name);
                }
            }
            Kind::Secret => {
                let Some(namespace) = meta.namespace.as_deref() else {
                    return;
                };
                let was = self.secrets.insert(namespace.to_string(), version.clone());
                if !first_listing && was.as_ref() != Some(&version) && self.serves(namespace) {
                    marks.mark(namespace);
                }
            }
            Kind::Account => {
                let Some(namespace) = meta.namespace.as_deref() else {
                    return;
                };
                if !settings.service_accounts.includes(name) {
                    return;
                }
                let key = format!("{namespace}/{name}");
                let was = self.accounts.insert(key, version.clone());
                if !first_listing && was.as_ref() != Some(&version) && self.serves(namespace) {
                    marks.mark(namespace);
                }
            }
        }
    }

    fn serves(&self, namespace: &str) -> bool {
        self.namespaces.get(namespace) == Some(&true)
    }

    fn deleted(&mut self, kind: &Kind, meta: &ObjectMeta, marks: &Marks) {
        let Some(key) = self.key(kind, meta) else {
            return;
        };
        match kind {
            // Forgotten once gone.
            Kind::Namespace => {
                self.namespaces.remove(&key);
            }
            // Ours (or a foreign one) deleted: put ours back.
            Kind::Secret => {
                self.secrets.remove(&key);
                if self.serves(&key) {
                    marks.mark(&key);
                }
            }
            Kind::Account => {
                self.accounts.remove(&key);
            }
        }
    }

    /// A listing is complete: what it no longer has went while no watch
    /// was running. After the first listing of Secrets, a served namespace
    /// without one is marked (deleted between the cycle and the watch).
    fn listed(&mut self, kind: &Kind, seen: &HashSet<String>, marks: &Marks, first: bool) {
        match kind {
            Kind::Namespace => {
                self.namespaces.retain(|name, _| seen.contains(name));
                self.served_by_cycle = HashSet::new();
            }
            Kind::Secret => {
                let gone: Vec<String> = self
                    .secrets
                    .keys()
                    .filter(|ns| !seen.contains(*ns))
                    .cloned()
                    .collect();
                for namespace in gone {
                    self.secrets.remove(&namespace);
                    if self.serves(&namespace) {
                        marks.mark(&namespace);
                    }
                }
                if first {
                    let missing = self
                        .namespaces
                        .iter()
                        .filter(|(ns, served)| **served && !self.secrets.contains_key(*ns));
                    for (namespace, _) in missing {
                        marks.mark(namespace);
                    }
                }
            }
            Kind::Account => self.accounts.retain(|key, _| seen.contains(key)),
        }
    }
}

/// Serves the marked namespaces, one at a time, with the held Secret.
async fn serve_marked(
    client: Client,
    settings: Arc<KubernetesSettings>,
    label: String,
    held: Arc<Held>,
    marks: Arc<Marks>,
) {
    loop {
        marks.notify.notified().await;
        let pending = std::mem::take(&mut *lock(&marks.pending));
        let Some(wanted) = held.get() else {
            continue;
        };
        let work = Work {
            client: &client,
            secret_name: &settings.secret_name,
            service_accounts: &settings.service_accounts,
            dry_run: false,
        };
        for namespace in pending {
            let outcome = serve_namespace(work, &namespace, &wanted).await;
            log_outcome(&label, &namespace, &outcome);
        }
    }
}

fn log_outcome(target: &str, namespace: &str, outcome: &NamespaceOutcome) {
    match outcome {
        NamespaceOutcome::Served { changes } if changes.is_empty() => {
            debug!(target, namespace, "namespace up to date")
        }
        NamespaceOutcome::Served { changes } | NamespaceOutcome::Planned { changes } => {
            info!(
                target,
                namespace,
                action = "repaired",
                "{}",
                changes.join(", ")
            )
        }
        NamespaceOutcome::Terminating => debug!(target, namespace, "namespace being deleted"),
        NamespaceOutcome::Conflict(reason) => {
            warn!(
                target,
                namespace,
                action = "conflict",
                "{}",
                printable(reason)
            )
        }
        NamespaceOutcome::Failed { reason, label, .. } => {
            warn!(
                target,
                namespace,
                action = "failed",
                cause = *label,
                "{}",
                printable(reason)
            )
        }
    }
}

#[cfg(test)]
mod tests;
