//! An in-process simulator of the Rancher 1.6 ("Cattle") HTTP API, limited to
//! what a registry-credential updater touches: discovery (version roots,
//! schemas), projects (environments), `registry` and `registryCredential`.
//!
//! No Rancher 1.6 server can run where these tests run, so the simulator
//! follows the written contract, docs/rancher-api.md (`§n` below are its
//! sections; its closing section lists where the simulator departs from it),
//! and tests/simulator_*.rs pin the simulator to that contract through real
//! HTTP.
//!
//! This file is the test-facing API: start a server, seed projects (with
//! their orchestration and state), keys of every kind, project memberships,
//! registries and credentials; read back what a client wrote; inspect or
//! count the requests it made (with when each arrived and was answered); slow
//! every request down ([`RancherSim::set_latency`]), or those of one project
//! ([`RancherSim::set_project_latency`]). faults.rs adds scripted failures. Seeding
//! and serving stay cheap at benchmark scale (100 environments of 200
//! registries and credentials each). Behind it, one module per concern:
//!
//! * `state`: stored objects and the state machine (§5), with time measured in
//!   requests (see [`RancherSim::set_activation_delay`]);
//! * `schema`: the schemas as static tables (§3, §8);
//! * `routes`: URL parsing, dispatch and response headers (§2, §8);
//! * `auth`: who is asking, in which project, with which role (§1, §2);
//! * `collections`: filters, sort and pagination (§4);
//! * `render`: resources and errors as JSON (§3, §6);
//! * `writes`: create, update, actions, delete (§5);
//! * `faults`: scripted failures and races.

mod auth;
mod collections;
mod faults;
mod render;
mod routes;
mod schema;
mod state;
mod writes;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use tokio::task::JoinHandle;

use schema::{parse_id, Kind};
use state::{Credential, Key, Meta, Project, SimState};

/// Value of the `X-Rancher-Version` header.
pub const RANCHER_VERSION: &str = "v1.6.30";
/// Account id that admin keys (and the access-control-off fallback) run as.
/// Do not add a project with this id.
pub const ADMIN_ACCOUNT_ID: &str = "1a1";
/// `WWW-Authenticate` value sent with 401 responses (§1).
pub const AUTH_CHALLENGE: &str =
    "Basic realm=\"Enter API access key and secret key as username and password\"";

const ADMIN_ACCOUNT: u64 = 1;

/// Kind of API key, which decides scoping and the schema the caller sees (§1, §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Environment agent key (`X-API-Account-Kind: environment`), scoped to one project.
    Environment,
    /// Environment API key created in the UI (`X-API-Account-Kind: project`).
    Project,
    /// A user's account key (`user`): acts in the projects its user is a
    /// member of, with the member's role (§2 "Account keys and many environments").
    User,
    /// An admin's account key (`admin`): acts as owner in every project;
    /// unscoped lists show every project's objects.
    Admin,
}

impl KeyKind {
    fn header_value(self) -> &'static str {
        match self {
            KeyKind::Environment => "environment",
            KeyKind::Project => "project",
            KeyKind::User => "user",
            KeyKind::Admin => "admin",
        }
    }
}

/// A project member's role, least privileged first (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads only: registry and credential writes are refused (403).
    Readonly,
    /// May write registries and credentials, like a member.
    Restricted,
    Member,
    Owner,
}

/// A registry as stored (removed ones included).
#[derive(Clone, Debug)]
pub struct SimRegistry {
    pub id: String,
    pub server_address: String,
    pub removed: bool,
    pub account_id: String,
}

/// A registry credential as stored, secret included.
#[derive(Clone, Debug)]
pub struct SimCredential {
    pub id: String,
    pub registry_id: String,
    pub public_value: Option<String>,
    pub secret_value: Option<String>,
    pub email: Option<String>,
    pub state: String,
    pub account_id: String,
}

/// One HTTP request the simulator received.
#[derive(Clone, Debug)]
pub struct SimRequest {
    /// When it arrived and when it was answered, on one clock that ticks at
    /// every arrival and every answer: two requests were in flight together
    /// exactly when each arrived before the other was answered.
    pub arrived: u64,
    pub answered: u64,
    pub method: String,
    pub path_and_query: String,
    /// Status of the response the simulator sent.
    pub status: u16,
    /// Request body (lossy UTF-8).
    pub body: String,
    /// Request headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl SimRequest {
    /// Whether `self` and `other` were in flight at the same time.
    pub fn overlaps(&self, other: &SimRequest) -> bool {
        self.arrived < other.answered && other.arrived < self.answered
    }

    /// First value of request header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(value)
    }
}

struct Shared {
    state: Mutex<SimState>,
    addr: SocketAddr,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn must_parse_id(id: &str) -> u64 {
    parse_id(id).unwrap_or_else(|| panic!("not a Rancher id: {id:?}"))
}

/// Handle on a running simulator. Dropping it stops the server.
pub struct RancherSim {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for RancherSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RancherSim {
    /// Serves on `127.0.0.1` (a free port) on the current tokio runtime.
    /// Access control is on; there are no projects, keys or objects yet.
    pub async fn start() -> RancherSim {
        RancherSim::start_at(0).await
    }

    /// Like [`RancherSim::start`], on `127.0.0.1:port` (0 picks a free port).
    pub async fn start_at(port: u16) -> RancherSim {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the Rancher simulator's port");
        let addr = listener.local_addr().expect("the simulator's address");
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::new()),
            addr,
        });
        let app = Router::new()
            .fallback(routes::serve)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RancherSim { shared, server }
    }

    /// A simulator with no socket, answering only [`RancherSim::answer`]:
    /// for a client that runs under tokio's paused clock, where waiting on
    /// a real socket would let simulated time jump. Links it generates name
    /// `http://127.0.0.1:PORT`.
    pub fn unbound(port: u16) -> RancherSim {
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::new()),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        });
        let server = tokio::spawn(async {});
        RancherSim { shared, server }
    }

    /// Answers one request in this process, exactly as over HTTP.
    pub async fn answer(&self, request: axum::extract::Request) -> axum::response::Response {
        routes::serve(axum::extract::State(self.shared.clone()), request).await
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Adds an active Cattle project (environment), e.g. `"1a5"`, named
    /// `Environment 1a5`.
    pub fn add_project(&self, id: &str) {
        self.add_project_with(id, &format!("Environment {id}"), "cattle", "active");
    }

    /// Adds a project with its name, `orchestration` (`cattle`,
    /// `kubernetes`, `swarm`, `mesos`, `windows`) and `state` (`active`,
    /// `inactive`, `removed`, ...).
    pub fn add_project_with(&self, id: &str, name: &str, orchestration: &str, state: &str) {
        let num = must_parse_id(id);
        assert_ne!(
            num, ADMIN_ACCOUNT,
            "{ADMIN_ACCOUNT_ID} is the admin account"
        );
        let mut meta = Meta::new(num, state);
        meta.num = num;
        meta.name = Some(name.to_string());
        let orchestration = orchestration.to_string();
        let project = Project {
            meta,
            orchestration,
            members: Vec::new(),
        };
        self.shared.lock().projects.insert(num, project);
    }

    /// Adds an API key. `owner` is the project of Environment and Project
    /// keys, and the user account (e.g. `"1a20"`, not a project) of User and
    /// Admin keys; an Admin key without one runs as [`ADMIN_ACCOUNT_ID`].
    pub fn add_key(&self, access: &str, secret: &str, kind: KeyKind, owner: Option<&str>) {
        let owner = match (owner.map(must_parse_id), kind) {
            (Some(owner), _) => owner,
            (None, KeyKind::Admin) => ADMIN_ACCOUNT,
            (None, _) => panic!("{kind:?} keys need an owner"),
        };
        self.shared.lock().keys.push(Key {
            access: access.to_string(),
            secret: secret.to_string(),
            kind,
            owner,
        });
    }

    /// Makes user account `account` a member of `project` with `role`; an
    /// account may be added several times, the most privileged role wins.
    pub fn add_member(&self, project: &str, account: &str, role: Role) {
        let (num, account) = (must_parse_id(project), must_parse_id(account));
        let mut st = self.shared.lock();
        let project = st.projects.get_mut(&num);
        let project = project.unwrap_or_else(|| panic!("no project {num}"));
        project.members.push((account, role));
    }

    /// Adds a registry in `state` (no process running) and returns its id `1sp<n>`.
    pub fn add_registry(&self, project: &str, server_address: &str, state: &str) -> String {
        let meta = Meta::new(must_parse_id(project), state);
        let num = self.shared.lock().insert_registry(meta, server_address);
        Kind::Registry.format_id(num)
    }

    /// Adds a credential in `state` (no process running) and returns its id `1c<n>`.
    pub fn add_credential(
        &self,
        project: &str,
        registry_id: &str,
        public_value: &str,
        secret_value: &str,
        state: &str,
    ) -> String {
        let credential = Credential {
            meta: Meta::new(must_parse_id(project), state),
            registry: must_parse_id(registry_id),
            public_value: Some(public_value.to_string()),
            secret_value: Some(secret_value.to_string()),
            email: None,
        };
        let num = self.shared.lock().insert_credential(credential);
        Kind::Credential.format_id(num)
    }

    /// Marks a registry removed, as the remove process would: hidden from lists.
    pub fn remove_registry(&self, id: &str) {
        let num = must_parse_id(id);
        let mut st = self.shared.lock();
        let registry = st.registries.get_mut(&num);
        registry
            .unwrap_or_else(|| panic!("no registry {id}"))
            .meta
            .mark_removed();
    }

    /// All registries of `project`, removed ones included, id ascending.
    pub fn registries(&self, project: &str) -> Vec<SimRegistry> {
        let account = must_parse_id(project);
        let st = self.shared.lock();
        st.registries_in(account).map(|r| r.snapshot()).collect()
    }

    /// All credentials of `project` (with the stored secret), id ascending.
    pub fn credentials(&self, project: &str) -> Vec<SimCredential> {
        let account = must_parse_id(project);
        let st = self.shared.lock();
        st.credentials_in(account).map(|c| c.snapshot()).collect()
    }

    /// One credential by id, whatever its project.
    pub fn credential(&self, id: &str) -> Option<SimCredential> {
        let st = self.shared.lock();
        st.credentials.get(&parse_id(id)?).map(|c| c.snapshot())
    }

    /// Every HTTP request received so far, in order.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many HTTP requests were received so far (cheaper than `requests()`).
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Access control off: an unknown or missing key runs as admin (§1),
    /// unless the request has `X-ENFORCE-AUTHENTICATION: true`.
    pub fn set_access_control(&self, on: bool) {
        self.shared.lock().access_control = on;
    }

    /// Every request waits `latency` before it is served, as over a slow
    /// network; requests wait side by side, not one after another.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Requests scoped to `project`, by path (`…/projects/<id>/…`) or by
    /// `X-API-Project-Id`, wait `latency` instead of the global one: one
    /// slow environment among fast ones.
    pub fn set_project_latency(&self, project: &str, latency: Duration) {
        let project = must_parse_id(project);
        self.shared.lock().project_latency.insert(project, latency);
    }

    /// Objects created through the API stay `registering` until this many
    /// further requests have been served (default 1), then become `active`.
    pub fn set_activation_delay(&self, requests: usize) {
        self.shared.lock().activation_delay = requests as u64;
    }
}
