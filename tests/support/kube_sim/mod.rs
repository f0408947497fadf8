//! An in-process simulator of the kube-apiserver, limited to what the
//! Kubernetes target touches: namespaces, Secrets, ServiceAccounts and
//! coordination.k8s.io/v1 Leases, plus the discovery kubectl reads first.
//!
//! No apiserver can run where these tests run, so the simulator follows the
//! written contract, docs/kubernetes-api.md, and tests/simulator_kube*.rs
//! pin it to that contract through raw HTTP and through the real kubectl.
//!
//! This file is the test-facing API: start a server, mint tokens, seed and
//! read objects, deny verbs (RBAC), terminate namespaces, compact the
//! history, and read the request log. faults.rs adds scripted failures.
//! Behind it, one module per concern:
//!
//! * `kinds`: the four resources and the discovery documents;
//! * `routes`: URL parsing, authentication, RBAC, dispatch;
//! * `state`: the store, the resourceVersion counter, the event history;
//! * `list` and `select`: lists, pages, label and field selectors;
//! * `watch`: event streams, bookmarks, 410s;
//! * `writes`, `validate`, `patch`, `apply`: writes and their rules;
//! * `status`: error bodies; `faults`: scripted failures.

mod apply;
mod faults;
pub mod kinds;
mod list;
mod patch;
mod routes;
mod select;
mod state;
mod status;
mod validate;
mod watch;
mod writes;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

pub use kinds::Resource;
use state::{Denial, SimState};

/// The body of an APF rejection ([`KubeSim::throttle_next`]): text, not a Status.
pub const APF_MESSAGE: &str = "Too many requests, please try again later.\n";

/// The token [`KubeSim::start`] accepts, and the user it names.
pub const TOKEN: &str = "kube-sim-token";
pub const USER: &str = "system:serviceaccount:ops:updater";

/// One HTTP request the simulator answered.
#[derive(Clone, Debug)]
pub struct SimRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (`""` without one).
    pub query: String,
    pub content_type: String,
    pub accept: String,
    pub user_agent: String,
    /// The bearer token it carried (`""` without one): which client asked.
    pub bearer: String,
    pub status: u16,
    pub body: String,
}

impl SimRequest {
    fn new(inc: &routes::Incoming, query: Option<&str>, status: StatusCode) -> SimRequest {
        let header = |name: &str| {
            let value = inc.headers.get(name).and_then(|v| v.to_str().ok());
            value.unwrap_or("").to_string()
        };
        SimRequest {
            method: inc.method.to_string(),
            path: inc.path.clone(),
            query: query.unwrap_or("").to_string(),
            content_type: header("content-type"),
            accept: header("accept"),
            user_agent: header("user-agent"),
            bearer: (header("authorization").strip_prefix("Bearer "))
                .unwrap_or_default()
                .to_string(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&inc.body).into_owned(),
        }
    }

    /// Whether the request changed (or tried to change) something.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

struct Shared {
    state: Mutex<SimState>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handle on a running simulator. Dropping it stops the server.
pub struct KubeSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl KubeSim {
    /// Serves on `127.0.0.1` (a free port) on the current tokio runtime,
    /// with [`TOKEN`] as [`USER`] and no objects at all.
    pub async fn start() -> KubeSim {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the kube simulator's port");
        let addr = listener.local_addr().expect("the simulator's address");
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::new()),
        });
        let app = Router::new()
            .fallback(routes::serve)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let sim = KubeSim {
            shared,
            addr,
            server,
        };
        sim.add_token(TOKEN, USER);
        sim
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepts bearer `token` as `user`.
    pub fn add_token(&self, token: &str, user: &str) {
        self.shared.lock().tokens.insert(token.into(), user.into());
    }

    /// Refuses `token` from now on (401), as after a rotation.
    pub fn remove_token(&self, token: &str) {
        self.shared.lock().tokens.remove(token);
    }

    /// Requests without an `Authorization` header run as `system:anonymous`
    /// (an apiserver with `--anonymous-auth` and a permissive authorizer).
    /// kubectl needs it over plain HTTP: client-go sends credentials only
    /// over TLS.
    pub fn set_anonymous(&self, allowed: bool) {
        self.shared.lock().anonymous = allowed;
    }

    /// A kubeconfig (JSON, which is YAML) for this server and `token`.
    pub fn kubeconfig(&self, token: &str) -> String {
        json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "sim",
            "clusters": [{"name": "sim", "cluster": {"server": self.url()}}],
            "users": [{"name": "sim", "user": {"token": token}}],
            "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim"}}],
        })
        .to_string()
    }

    /// Stores `object` as a write through the API would (defaulting and
    /// validation included, panicking on a 422), bypassing RBAC and
    /// preconditions; returns it as stored.
    pub fn put(&self, resource: Resource, object: Value) -> Value {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .expect("metadata.name")
            .to_string();
        let mut object = object;
        object["kind"] = json!(resource.kind());
        object["apiVersion"] = json!(resource.api_version());
        let key = (resource, namespace, name);
        let stored = {
            let mut st = self.shared.lock();
            let old = st.get(&key).cloned();
            let object = validate::admit(resource, object, old.as_ref())
                .unwrap_or_else(|err| panic!("{}", err.message));
            st.put(key, object)
        };
        writes::spawn_default_service_accounts(&self.shared);
        stored
    }

    /// Creates (or updates) namespace `name` with `labels`.
    pub fn add_namespace(&self, name: &str, labels: &[(&str, &str)]) -> Value {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        self.put(
            Resource::Namespaces,
            json!({"metadata": {"name": name, "labels": labels}}),
        )
    }

    /// The stored object, if any (`namespace` `""` for namespaces).
    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        let key = (resource, namespace.to_string(), name.to_string());
        self.shared.lock().get(&key).cloned()
    }

    /// Every stored object of `resource`, by namespace then name.
    pub fn list(&self, resource: Resource) -> Vec<Value> {
        let st = self.shared.lock();
        let objects = st.objects.iter().filter(|(key, _)| key.0 == resource);
        objects.map(|(_, object)| object.clone()).collect()
    }

    /// Removes the object at once (a DELETED event); false when absent.
    pub fn remove(&self, resource: Resource, namespace: &str, name: &str) -> bool {
        let key = (resource, namespace.to_string(), name.to_string());
        self.shared.lock().remove(&key).is_some()
    }

    /// Starts deleting namespace `name` as a DELETE would: deletionTimestamp
    /// and phase `Terminating`; creates in it are refused from now on.
    pub fn terminate_namespace(&self, name: &str) {
        let mut st = self.shared.lock();
        let key = (Resource::Namespaces, String::new(), name.to_string());
        let mut object = st
            .get(&key)
            .cloned()
            .unwrap_or_else(|| panic!("no namespace {name}"));
        object["metadata"]["deletionTimestamp"] = json!(state::now());
        object["status"]["phase"] = json!("Terminating");
        st.put(key, object);
    }

    /// Finishes a namespace's deletion as its controller would: every object
    /// in it, then the namespace itself, are removed.
    pub fn purge_namespace(&self, name: &str) {
        let mut st = self.shared.lock();
        let inside: Vec<_> = (st.objects.keys())
            .filter(|k| k.1 == name)
            .cloned()
            .collect();
        for key in inside {
            st.remove(&key);
        }
        st.remove(&(Resource::Namespaces, String::new(), name.to_string()));
    }

    /// RBAC refuses `verb` on `resource` in `namespace` (`None`: everywhere,
    /// cluster scope included) to every user.
    pub fn deny(&self, verb: &str, resource: Resource, namespace: Option<&str>) {
        let denial = Denial {
            verb: verb.to_string(),
            resource,
            namespace: namespace.map(str::to_string),
        };
        self.shared.lock().denials.push(denial);
    }

    /// Lifts every denial.
    pub fn allow_all(&self) {
        self.shared.lock().denials.clear();
    }

    /// The store's current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().rv
    }

    /// Forgets the event history: watches and list pages from any older
    /// resourceVersion now get 410 Expired.
    pub fn compact(&self) {
        self.shared.lock().compact();
    }

    /// Keeps only the last `events` changes (default 10 000).
    pub fn set_history_limit(&self, events: usize) {
        self.shared.lock().history_limit = events;
    }

    /// When a new namespace gets its `default` ServiceAccount: at once
    /// (`Some(ZERO)`, the default), after a delay, or never (`None`).
    pub fn set_default_service_account_delay(&self, delay: Option<Duration>) {
        self.shared.lock().default_sa_delay = delay;
    }

    /// How often watches that allow bookmarks get one (default 60 s);
    /// applies to watches started afterwards.
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.shared.lock().bookmark_interval = interval;
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many writes (POST, PUT, PATCH, DELETE) were received.
    pub fn write_count(&self) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.is_write())
            .count()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }
}
