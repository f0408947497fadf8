//! In-process simulator of the Rancher 1.6 ("Cattle") HTTP API, limited to what the
//! ECR credential updater touches: API discovery (version roots, schemas), projects
//! (environments), `registry` and `registryCredential`.
//!
//! No real Rancher 1.6 server can run in the test environment, so this simulator
//! follows the written contract in `shared/docs/rancher-1.6-api.md` (called "the doc"
//! below; `§n` are its sections). `tests/simulator.rs` pins the behaviour so that the
//! simulator cannot silently drift from the doc.
//!
//! What is simulated:
//!
//! * **Authentication (§1).** HTTP Basic only. Keys are added with
//!   [`RancherSim::add_key`]: environment agent keys ([`KeyKind::Environment`]), UI
//!   environment API keys ([`KeyKind::Project`]) and admin keys ([`KeyKind::Admin`]).
//!   With access control on, a missing or bad key gives 401 plus `WWW-Authenticate`
//!   (unless `X-API-No-Challenge: true`). With access control off, an unknown key
//!   runs as admin (account `1a1`) unless `X-ENFORCE-AUTHENTICATION: true`.
//! * **URL layout (§2).** `/v1` and `/v2-beta`; `GET /` lists both versions. Repeated
//!   `/` collapse, a trailing `/` is ignored. `/{ver}/projects/{pid}/{type}...` (more
//!   than four path segments) is project-scoped and every generated URL carries the
//!   `/projects/{pid}` sub-context; `/{ver}/projects/{pid}` alone is the project
//!   resource. `X-API-Project-Id` and `?projectId=` also select a project (no
//!   sub-context). Type names are case-insensitive, singular or plural.
//! * **Resources (§3)** with every schema field (nulls included), `createdTS`,
//!   transitioning fields, lowercased links and state-dependent actions;
//!   `secretValue` is read-on-create-only. `email` exists on `registryCredential`
//!   only on `/v1` with a project-kind key (frozen `v1-project` schema).
//! * **Collections (§3, §4)**: the full collection JSON, `collectionFilters` with
//!   modifiers (other query keys such as `serverAddress` are silently ignored),
//!   repeated keys AND-ed, reference ids parsed, sort/order, offset markers `m<n>`,
//!   default limit 100 (max 3000), removed objects hidden unless `_removed=true`,
//!   non-admin callers confined to their project.
//! * **Writes (§5)**: create (201, `registering`, required/min-length/reference
//!   validation, `ServerAddressUsed`), partial update (200), actions (202 with the
//!   transitioning state), DELETE (200 from removable states, 405 otherwise).
//! * **Errors (§6)** with the exact body shape, and the headers of §8 on every API
//!   response (`X-API-Schemas`, `X-Rancher-Version`, account headers after auth).
//!
//! Time in the simulator advances by requests: every request the server receives
//! (API or not) increments a serial number, and pending state transitions complete
//! when their serial has passed. A created object stays `registering` while
//! [`RancherSim::set_activation_delay`] further requests are served (default 1) and is
//! `active` from the one after; an action's transitioning state (`deactivating`, ...)
//! completes on the next request.
//!
//! Every request is recorded (see [`RancherSim::requests`]) with its method, path and
//! query, request body and headers, and the response status.
//!
//! Choices where the doc is silent or only [inferred]:
//!
//! * Admin keys (and the access-control-off fallback) run as account `1a1`; an admin
//!   create without a selected project lands in that account, as in Cattle.
//! * The account headers always describe the key (`X-API-USER-ID` equals
//!   `X-API-ACCOUNT-ID`), also when an admin selects a project.
//! * `DELETE` answers 200 with the object in `removing`; it is `removed` (with
//!   `removed`/`removeTime` set) from the next request on, like an action.
//! * `PUT` is accepted in every state; `secretValue` is never readable outside POST
//!   responses, whoever asks.
//! * String filters compare case-insensitively (MySQL's default collation).
//! * Responses carry a `Content-Length` instead of being chunked.

use std::cmp::Ordering;
use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

/// Value of the `X-Rancher-Version` header.
pub const RANCHER_VERSION: &str = "v1.6.30";
/// Account id that admin keys (and the access-control-off fallback) run as.
/// Do not add a project with this id.
pub const ADMIN_ACCOUNT_ID: &str = "1a1";
/// `WWW-Authenticate` value sent with 401 responses (§1).
pub const AUTH_CHALLENGE: &str =
    "Basic realm=\"Enter API access key and secret key as username and password\"";

const ADMIN_ACCOUNT: u64 = 1;
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 3000;

// ---------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------

/// Kind of API key, which decides scoping and the schema the caller sees (§1, §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Environment agent key (`X-API-ACCOUNT-KIND: environment`), scoped to one project.
    Environment,
    /// Environment API key created in the UI (`X-API-ACCOUNT-KIND: project`).
    Project,
    /// Admin account key: may access every project; unscoped lists show all projects.
    Admin,
}

impl KeyKind {
    fn header_value(self) -> &'static str {
        match self {
            KeyKind::Environment => "environment",
            KeyKind::Project => "project",
            KeyKind::Admin => "admin",
        }
    }
}

/// A registry as stored by the simulator (test view, includes removed ones).
#[derive(Clone, Debug)]
pub struct SimRegistry {
    pub id: String,
    pub server_address: String,
    pub state: String,
    pub removed: bool,
    pub account_id: String,
}

/// A registry credential as stored by the simulator, including the secret.
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

/// One HTTP request received by the simulator.
#[derive(Clone, Debug)]
pub struct SimRequest {
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
    /// First value of request header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
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
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime. Access control
    /// is on; there are no projects, keys or objects yet.
    pub async fn start() -> RancherSim {
        RancherSim::start_at(0).await
    }

    /// Like [`RancherSim::start`], on `127.0.0.1:port` (0 picks a free port).
    pub async fn start_at(port: u16) -> RancherSim {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind Rancher simulator listener");
        let addr = listener
            .local_addr()
            .expect("Rancher simulator local address");
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::new()),
            addr,
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RancherSim { shared, server }
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Adds an active project (environment), e.g. `"1a5"`.
    pub fn add_project(&self, id: &str) {
        let num = must_parse_id(id);
        assert_ne!(
            num, ADMIN_ACCOUNT,
            "{ADMIN_ACCOUNT_ID} is the admin account"
        );
        let mut st = self.shared.lock();
        let uuid = new_uuid();
        st.projects.insert(
            num,
            Project {
                name: format!("Environment {id}"),
                uuid,
                created_ms: now_ms(),
            },
        );
    }

    /// Adds an API key. Environment and Project keys belong to `project`; Admin keys
    /// have none and may access every project.
    pub fn add_key(&self, access: &str, secret: &str, kind: KeyKind, project: Option<&str>) {
        let project = project.map(must_parse_id);
        assert!(
            kind == KeyKind::Admin || project.is_some(),
            "{kind:?} keys need a project"
        );
        self.shared.lock().keys.push(Key {
            access: access.to_string(),
            secret: secret.to_string(),
            kind,
            project: if kind == KeyKind::Admin {
                None
            } else {
                project
            },
        });
    }

    /// Adds a registry in `state` (no pending transition) and returns its id `1sp<n>`.
    pub fn add_registry(&self, project: &str, server_address: &str, state: &str) -> String {
        let account = must_parse_id(project);
        let num = self
            .shared
            .lock()
            .insert_registry(account, server_address, state);
        format_id(Kind::Registry, num)
    }

    /// Simulates a concurrent writer: just before the next POST is handled,
    /// an active registry with `server_address` appears in `project`.
    pub fn add_registry_before_next_post(&self, project: &str, server_address: &str) {
        let account = must_parse_id(project);
        self.shared
            .lock()
            .before_next_post
            .push((account, server_address.to_string()));
    }

    /// The next `n` API requests with `method` whose path contains
    /// `path_part` answer `status` (after the `fail_next` ones).
    pub fn fail_matching(&self, method: &str, path_part: &str, n: usize, status: u16) {
        self.shared.lock().fail_rules.push(FailRule {
            method: method.to_string(),
            path_part: path_part.to_string(),
            remaining: n,
            status,
        });
    }

    /// Adds a credential in `state` (no pending transition) and returns its id `1c<n>`.
    pub fn add_credential(
        &self,
        project: &str,
        registry_id: &str,
        public_value: &str,
        secret_value: &str,
        state: &str,
    ) -> String {
        let account = must_parse_id(project);
        let registry = must_parse_id(registry_id);
        let mut st = self.shared.lock();
        st.next_credential += 1;
        let num = st.next_credential;
        st.credentials.insert(
            num,
            Credential {
                meta: Meta::seeded(num, account, state),
                registry,
                public_value: Some(public_value.to_string()),
                secret_value: Some(secret_value.to_string()),
                email: None,
            },
        );
        format_id(Kind::Credential, num)
    }

    /// Marks a registry removed (state `removed`, `removed`/`removeTime` set), as the
    /// remove process would. Removed registries are hidden from lists.
    pub fn remove_registry(&self, id: &str) {
        let num = must_parse_id(id);
        let mut st = self.shared.lock();
        let registry = st
            .registries
            .get_mut(&num)
            .unwrap_or_else(|| panic!("no registry {id}"));
        registry.meta.mark_removed(now_ms());
    }

    /// All registries of `project`, removed ones included, id ascending.
    pub fn registries(&self, project: &str) -> Vec<SimRegistry> {
        let account = must_parse_id(project);
        let st = self.shared.lock();
        st.registries
            .values()
            .filter(|r| r.meta.account == account)
            .map(Registry::snapshot)
            .collect()
    }

    /// All credentials of `project` (with the stored secret), id ascending.
    pub fn credentials(&self, project: &str) -> Vec<SimCredential> {
        let account = must_parse_id(project);
        let st = self.shared.lock();
        st.credentials
            .values()
            .filter(|c| c.meta.account == account)
            .map(Credential::snapshot)
            .collect()
    }

    /// One registry by id, whatever its project.
    pub fn registry(&self, id: &str) -> Option<SimRegistry> {
        let num = parse_id(id)?;
        self.shared
            .lock()
            .registries
            .get(&num)
            .map(Registry::snapshot)
    }

    /// One credential by id, whatever its project.
    pub fn credential(&self, id: &str) -> Option<SimCredential> {
        let num = parse_id(id)?;
        self.shared
            .lock()
            .credentials
            .get(&num)
            .map(Credential::snapshot)
    }

    /// Every HTTP request received so far, in order.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// The next `n` API requests get `status` with a Rancher error body, before auth.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut st = self.shared.lock();
        st.fail_remaining = n;
        st.fail_status = status;
    }

    /// Access control off: an unknown or missing key runs as admin (§1 gotcha),
    /// unless the request has `X-ENFORCE-AUTHENTICATION: true`.
    pub fn set_access_control(&self, on: bool) {
        self.shared.lock().access_control = on;
    }

    /// Objects created through the API stay `registering` until this many further
    /// requests have been served (default 1), then become `active`.
    pub fn set_activation_delay(&self, requests: usize) {
        self.shared.lock().activation_delay = requests as u64;
    }
}

// ---------------------------------------------------------------------------
// Stored state
// ---------------------------------------------------------------------------

struct Shared {
    state: Mutex<SimState>,
    addr: SocketAddr,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Key {
    access: String,
    secret: String,
    kind: KeyKind,
    project: Option<u64>,
}

struct Project {
    name: String,
    uuid: String,
    created_ms: i64,
}

/// Fields shared by registries and credentials.
struct Meta {
    num: u64,
    account: u64,
    uuid: String,
    name: Option<String>,
    description: Option<String>,
    state: String,
    created_ms: i64,
    removed_ms: Option<i64>,
    remove_time_ms: Option<i64>,
    pending: Option<Pending>,
}

impl Meta {
    /// Metadata for an object seeded by a test helper, already in `state`.
    fn seeded(num: u64, account: u64, state: &str) -> Meta {
        let now = now_ms();
        let gone = matches!(state, "removed" | "purging" | "purged");
        Meta {
            num,
            account,
            uuid: new_uuid(),
            name: None,
            description: None,
            state: state.to_string(),
            created_ms: now,
            removed_ms: gone.then_some(now),
            remove_time_ms: gone.then_some(now),
            pending: None,
        }
    }

    fn mark_removed(&mut self, now: i64) {
        self.state = "removed".to_string();
        self.removed_ms = Some(now);
        self.remove_time_ms = Some(now);
        self.pending = None;
    }

    /// Starts `process`; it completes on the first request whose serial is > `after`.
    fn start(&mut self, process: Process, after: u64) {
        let target = process.target(&self.state);
        self.state = process.transitioning(&self.state);
        self.pending = Some(Pending {
            process,
            target,
            after,
        });
    }

    /// Completes the pending process if its time has come; returns it.
    fn settle(&mut self, serial: u64, now: i64) -> Option<Process> {
        if self.pending.as_ref()?.after >= serial {
            return None;
        }
        let pending = self.pending.take()?;
        self.state = pending.target;
        if pending.process == Process::Remove {
            self.removed_ms = Some(now);
            self.remove_time_ms = Some(now);
        }
        Some(pending.process)
    }
}

struct Pending {
    process: Process,
    target: String,
    after: u64,
}

struct Registry {
    meta: Meta,
    server_address: String,
}

impl Registry {
    fn snapshot(&self) -> SimRegistry {
        SimRegistry {
            id: format_id(Kind::Registry, self.meta.num),
            server_address: self.server_address.clone(),
            state: self.meta.state.clone(),
            removed: self.meta.removed_ms.is_some(),
            account_id: format_id(Kind::Project, self.meta.account),
        }
    }
}

struct Credential {
    meta: Meta,
    registry: u64,
    public_value: Option<String>,
    secret_value: Option<String>,
    email: Option<String>,
}

impl Credential {
    fn snapshot(&self) -> SimCredential {
        SimCredential {
            id: format_id(Kind::Credential, self.meta.num),
            registry_id: format_id(Kind::Registry, self.registry),
            public_value: self.public_value.clone(),
            secret_value: self.secret_value.clone(),
            email: self.email.clone(),
            state: self.meta.state.clone(),
            account_id: format_id(Kind::Project, self.meta.account),
        }
    }
}

/// A targeted failure (see `RancherSim::fail_matching`).
struct FailRule {
    method: String,
    path_part: String,
    remaining: usize,
    status: u16,
}

struct SimState {
    before_next_post: Vec<(u64, String)>,
    fail_rules: Vec<FailRule>,
    projects: BTreeMap<u64, Project>,
    keys: Vec<Key>,
    registries: BTreeMap<u64, Registry>,
    credentials: BTreeMap<u64, Credential>,
    next_registry: u64,
    next_credential: u64,
    requests: Vec<SimRequest>,
    fail_remaining: usize,
    fail_status: u16,
    access_control: bool,
    activation_delay: u64,
    serial: u64,
}

impl SimState {
    /// Adds a registry in `state` and returns its number.
    fn insert_registry(&mut self, account: u64, server_address: &str, state: &str) -> u64 {
        self.next_registry += 1;
        let num = self.next_registry;
        self.registries.insert(
            num,
            Registry {
                meta: Meta::seeded(num, account, state),
                server_address: server_address.to_string(),
            },
        );
        num
    }
}

impl SimState {
    fn new() -> SimState {
        SimState {
            projects: BTreeMap::new(),
            keys: Vec::new(),
            registries: BTreeMap::new(),
            credentials: BTreeMap::new(),
            next_registry: 0,
            next_credential: 0,
            requests: Vec::new(),
            fail_remaining: 0,
            fail_status: 500,
            before_next_post: Vec::new(),
            fail_rules: Vec::new(),
            access_control: true,
            activation_delay: 1,
            serial: 0,
        }
    }

    /// Completes due transitions. Purging a registry removes its credentials (§5).
    fn settle(&mut self) {
        let (serial, now) = (self.serial, now_ms());
        let mut purged = Vec::new();
        for registry in self.registries.values_mut() {
            if registry.meta.settle(serial, now) == Some(Process::Purge) {
                purged.push(registry.meta.num);
            }
        }
        for credential in self.credentials.values_mut() {
            credential.meta.settle(serial, now);
            if purged.contains(&credential.registry) && credential.meta.removed_ms.is_none() {
                credential.meta.mark_removed(now);
            }
        }
    }

    fn meta_mut(&mut self, kind: Kind, num: u64) -> Option<&mut Meta> {
        match kind {
            Kind::Registry => self.registries.get_mut(&num).map(|r| &mut r.meta),
            Kind::Credential => self.credentials.get_mut(&num).map(|c| &mut c.meta),
            _ => None,
        }
    }

    /// Rows of `kind` (all accounts, removed included).
    fn items(&self, kind: Kind) -> Vec<Item> {
        match kind {
            Kind::Registry => self.registries.values().map(registry_item).collect(),
            Kind::Credential => self.credentials.values().map(credential_item).collect(),
            Kind::Project => self
                .projects
                .iter()
                .map(|(num, p)| project_item(*num, p))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn item(&self, kind: Kind, num: u64) -> Option<Item> {
        match kind {
            Kind::Registry => self.registries.get(&num).map(registry_item),
            Kind::Credential => self.credentials.get(&num).map(credential_item),
            Kind::Project => self.projects.get(&num).map(|p| project_item(num, p)),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Processes and states (§5)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Process {
    Create,
    Update,
    Activate,
    Deactivate,
    Remove,
    Purge,
}

/// Actions in the order they are listed in `resource.actions`.
const LISTED_ACTIONS: [Process; 5] = [
    Process::Update,
    Process::Activate,
    Process::Deactivate,
    Process::Remove,
    Process::Purge,
];

impl Process {
    fn action_name(self) -> &'static str {
        match self {
            Process::Create => "create",
            Process::Update => "update",
            Process::Activate => "activate",
            Process::Deactivate => "deactivate",
            Process::Remove => "remove",
            Process::Purge => "purge",
        }
    }

    fn start_states(self) -> &'static [&'static str] {
        match self {
            Process::Create => &["requested"],
            Process::Update => &["inactive", "active"],
            Process::Activate => &["inactive", "registering"],
            Process::Deactivate => &[
                "requested",
                "registering",
                "active",
                "activating",
                "updating-active",
                "updating-inactive",
            ],
            Process::Remove => &[
                "requested",
                "inactive",
                "registering",
                "updating-active",
                "updating-inactive",
            ],
            Process::Purge => &["removed"],
        }
    }

    fn can_start(self, state: &str) -> bool {
        self.start_states().contains(&state)
    }

    fn transitioning(self, from: &str) -> String {
        match self {
            Process::Create => "registering".to_string(),
            Process::Update => format!("updating-{from}"),
            Process::Activate => "activating".to_string(),
            Process::Deactivate => "deactivating".to_string(),
            Process::Remove => "removing".to_string(),
            Process::Purge => "purging".to_string(),
        }
    }

    fn target(self, from: &str) -> String {
        match self {
            Process::Create | Process::Activate => "active".to_string(),
            Process::Update => from.to_string(),
            Process::Deactivate => "inactive".to_string(),
            Process::Remove => "removed".to_string(),
            Process::Purge => "purged".to_string(),
        }
    }
}

fn is_transitioning_state(state: &str) -> bool {
    matches!(
        state,
        "requested"
            | "registering"
            | "activating"
            | "deactivating"
            | "removing"
            | "purging"
            | "restoring"
            | "updating-active"
            | "updating-inactive"
    )
}

// ---------------------------------------------------------------------------
// Schemas (§3, §8)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ApiVersion,
    Error,
    Project,
    Registry,
    Credential,
    Schema,
}

/// Filter/value class of a field, which decides modifiers and comparisons (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Str,
    Date,
    Int,
    Enum,
    Reference,
    Boolean,
    /// The `id` field: compared by parsed id.
    Id,
}

impl Class {
    fn modifiers(self) -> &'static [&'static str] {
        match self {
            Class::Str => &["eq", "ne", "prefix", "like", "notlike", "null", "notnull"],
            Class::Date | Class::Int | Class::Id => {
                &["eq", "ne", "lt", "lte", "gt", "gte", "null", "notnull"]
            }
            Class::Enum | Class::Reference | Class::Boolean => &["eq", "ne", "null", "notnull"],
        }
    }
}

#[derive(Clone, Debug)]
struct Field {
    name: &'static str,
    ty: &'static str,
    create: bool,
    update: bool,
    required: bool,
    nullable: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    read_on_create_only: bool,
    options: &'static [&'static str],
}

impl Field {
    /// A read-only, nullable field.
    fn ro(name: &'static str, ty: &'static str) -> Field {
        Field {
            name,
            ty,
            create: false,
            update: false,
            required: false,
            nullable: true,
            min_length: None,
            max_length: None,
            read_on_create_only: false,
            options: &[],
        }
    }

    /// A creatable and updatable optional string.
    fn cu(name: &'static str, ty: &'static str, max: usize) -> Field {
        Field {
            create: true,
            update: true,
            max_length: Some(max),
            ..Field::ro(name, ty)
        }
    }

    fn to_json(&self) -> Value {
        let mut f = json!({
            "type": self.ty,
            "create": self.create,
            "update": self.update,
            "required": self.required,
            "nullable": self.nullable,
            "readOnCreateOnly": self.read_on_create_only,
        });
        if let Some(min) = self.min_length {
            f["minLength"] = json!(min);
        }
        if let Some(max) = self.max_length {
            f["maxLength"] = json!(max);
        }
        if !self.options.is_empty() {
            f["options"] = json!(self.options);
        }
        f
    }
}

struct Schema {
    id: &'static str,
    plural: &'static str,
    base_type: &'static str,
    has_collection: bool,
    resource_methods: &'static [&'static str],
    collection_methods: &'static [&'static str],
    /// Alphabetical, like the JSON output.
    fields: Vec<Field>,
    /// `collectionFilters` with their class (DB columns; may name hidden fields).
    filters: &'static [(&'static str, Class)],
    actions: &'static [&'static str],
    action_output: &'static str,
}

impl Schema {
    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Class of a filter that is applicable (in `collectionFilters` and `resourceFields`).
    fn filter_class(&self, name: &str) -> Option<Class> {
        let (_, class) = self.filters.iter().find(|(n, _)| *n == name)?;
        self.field(name)?;
        Some(*class)
    }
}

const STATE_OPTIONS: &[&str] = &[
    "activating",
    "active",
    "deactivating",
    "inactive",
    "purged",
    "purging",
    "registering",
    "removed",
    "removing",
    "requested",
    "restoring",
    "updating-active",
    "updating-inactive",
];

const REGISTRY_FILTERS: &[(&str, Class)] = &[
    ("accountId", Class::Reference),
    ("agentId", Class::Reference),
    ("created", Class::Date),
    ("description", Class::Str),
    ("driverName", Class::Str),
    ("external", Class::Boolean),
    ("externalId", Class::Str),
    ("id", Class::Id),
    ("kind", Class::Str),
    ("name", Class::Str),
    ("physicalTotalSizeMb", Class::Int),
    ("removeTime", Class::Date),
    ("removed", Class::Date),
    ("state", Class::Enum),
    ("uuid", Class::Str),
    ("virtualTotalSizeMb", Class::Int),
    ("volumeAccessMode", Class::Str),
    ("zoneId", Class::Reference),
];

const CREDENTIAL_FILTERS: &[(&str, Class)] = &[
    ("accountId", Class::Reference),
    ("created", Class::Date),
    ("description", Class::Str),
    ("id", Class::Id),
    ("kind", Class::Str),
    ("name", Class::Str),
    ("publicValue", Class::Str),
    ("registryId", Class::Reference),
    ("removeTime", Class::Date),
    ("removed", Class::Date),
    ("secretValue", Class::Str),
    ("state", Class::Enum),
    ("uuid", Class::Str),
];

const PROJECT_FILTERS: &[(&str, Class)] = &[
    ("created", Class::Date),
    ("description", Class::Str),
    ("id", Class::Id),
    ("kind", Class::Str),
    ("name", Class::Str),
    ("removed", Class::Date),
    ("state", Class::Enum),
    ("uuid", Class::Str),
];

const OBJECT_ACTIONS: &[&str] = &[
    "activate",
    "create",
    "deactivate",
    "purge",
    "remove",
    "restore",
    "update",
];

/// Fields every registry/credential/project carries (state, timestamps, ...).
fn common_fields() -> Vec<Field> {
    vec![
        Field::ro("created", "date"),
        Field::ro("id", "string"),
        Field::ro("kind", "string"),
        Field::ro("removed", "date"),
        Field {
            options: STATE_OPTIONS,
            ..Field::ro("state", "enum")
        },
        Field {
            options: &["yes", "no", "error"],
            ..Field::ro("transitioning", "enum")
        },
        Field::ro("transitioningMessage", "string"),
        Field::ro("transitioningProgress", "int"),
        Field::ro("uuid", "string"),
    ]
}

fn sorted(mut fields: Vec<Field>) -> Vec<Field> {
    fields.sort_by(|a, b| a.name.cmp(b.name));
    fields
}

/// The schema of `kind` as seen by the caller; `email` selects the frozen
/// `v1-project` variant of `registryCredential` (§2, §3).
fn schema_for(kind: Kind, email: bool) -> Schema {
    const RESOURCE_RW: &[&str] = &["GET", "PUT", "DELETE"];
    const COLLECTION_RW: &[&str] = &["GET", "POST"];
    const GET: &[&str] = &["GET"];
    let base = Schema {
        id: "",
        plural: "",
        base_type: "",
        has_collection: false,
        resource_methods: GET,
        collection_methods: &[],
        fields: Vec::new(),
        filters: &[],
        actions: &[],
        action_output: "",
    };
    match kind {
        Kind::Registry => {
            let mut fields = common_fields();
            fields.extend([
                Field::ro("accountId", "reference[account]"),
                Field::ro("blockDevicePath", "string"),
                Field::cu("description", "string", 1024),
                Field::ro("driverName", "string"),
                Field::ro("externalId", "string"),
                Field::cu("name", "string", 255),
                Field {
                    create: true,
                    required: true,
                    nullable: false,
                    min_length: Some(1),
                    ..Field::ro("serverAddress", "string")
                },
                Field::ro("volumeAccessMode", "string"),
                Field::ro("volumeCapabilities", "array[string]"),
            ]);
            Schema {
                id: "registry",
                plural: "registries",
                base_type: "storagePool",
                has_collection: true,
                resource_methods: RESOURCE_RW,
                collection_methods: COLLECTION_RW,
                fields: sorted(fields),
                filters: REGISTRY_FILTERS,
                actions: OBJECT_ACTIONS,
                action_output: "storagePool",
            }
        }
        Kind::Credential => {
            let mut fields = common_fields();
            fields.extend([
                Field::ro("accountId", "reference[account]"),
                Field::cu("description", "string", 1024),
                Field::cu("name", "string", 255),
                Field::cu("publicValue", "string", 4096),
                Field {
                    create: true,
                    required: true,
                    nullable: false,
                    ..Field::ro("registryId", "reference[registry]")
                },
                Field {
                    read_on_create_only: true,
                    ..Field::cu("secretValue", "password", 4096)
                },
            ]);
            if email {
                fields.push(Field {
                    create: true,
                    update: true,
                    required: true,
                    nullable: false,
                    min_length: Some(1),
                    ..Field::ro("email", "string")
                });
            }
            Schema {
                id: "registryCredential",
                plural: "registryCredentials",
                base_type: "credential",
                has_collection: true,
                resource_methods: RESOURCE_RW,
                collection_methods: COLLECTION_RW,
                fields: sorted(fields),
                filters: CREDENTIAL_FILTERS,
                actions: OBJECT_ACTIONS,
                action_output: "credential",
            }
        }
        Kind::Project => {
            let mut fields = common_fields();
            fields.push(Field::ro("description", "string"));
            fields.push(Field::ro("name", "string"));
            Schema {
                id: "project",
                plural: "projects",
                base_type: "account",
                has_collection: true,
                collection_methods: GET,
                fields: sorted(fields),
                filters: PROJECT_FILTERS,
                ..base
            }
        }
        Kind::Schema => Schema {
            id: "schema",
            plural: "schemas",
            base_type: "schema",
            has_collection: true,
            collection_methods: GET,
            fields: vec![
                Field::ro("collectionMethods", "array[string]"),
                Field::ro("id", "string"),
                Field::ro("pluralName", "string"),
                Field::ro("resourceFields", "map[json]"),
                Field::ro("resourceMethods", "array[string]"),
            ],
            ..base
        },
        Kind::ApiVersion => Schema {
            id: "apiVersion",
            plural: "apiVersions",
            base_type: "apiVersion",
            fields: vec![Field::ro("id", "string")],
            ..base
        },
        Kind::Error => Schema {
            id: "error",
            plural: "errors",
            base_type: "error",
            resource_methods: &[],
            fields: vec![
                Field::ro("code", "string"),
                Field::ro("detail", "string"),
                Field::ro("fieldName", "string"),
                Field::ro("message", "string"),
                Field::ro("status", "int"),
            ],
            ..base
        },
    }
}

const ALL_KINDS: [Kind; 6] = [
    Kind::ApiVersion,
    Kind::Error,
    Kind::Project,
    Kind::Registry,
    Kind::Credential,
    Kind::Schema,
];

/// Resolves a URL type name: case-insensitive, singular or plural (§2).
fn resolve_type(name: &str) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    ALL_KINDS.into_iter().find(|kind| {
        let s = schema_for(*kind, false);
        s.id.eq_ignore_ascii_case(&lower) || s.plural.eq_ignore_ascii_case(&lower)
    })
}

// ---------------------------------------------------------------------------
// Ids, times, uuids
// ---------------------------------------------------------------------------

fn format_id(kind: Kind, num: u64) -> String {
    match kind {
        Kind::Registry => format!("1sp{num}"),
        Kind::Credential => format!("1c{num}"),
        _ => format!("1a{num}"),
    }
}

/// Parses `"1" + letters + digits`; the letters are not checked against a type (§2).
fn parse_id(id: &str) -> Option<u64> {
    let rest = id.strip_prefix('1')?;
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    if digits.len() == rest.len()
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

fn must_parse_id(id: &str) -> u64 {
    parse_id(id).unwrap_or_else(|| panic!("not a Rancher id: {id:?}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `yyyy-MM-dd'T'HH:mm:ss'Z'` (§3).
fn format_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// A random version-4-looking UUID (no extra dependency needed).
fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = || {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, AtomicOrdering::Relaxed));
        h.finish()
    };
    let (a, b) = (random(), random());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------------------
// Rows: the internal view of an object used for filtering, sorting and rendering
// ---------------------------------------------------------------------------

/// One object as a map of its raw field values (secret included).
struct Item {
    kind: Kind,
    num: u64,
    account: u64,
    state: String,
    created_ms: i64,
    removed_ms: Option<i64>,
    raw: Map<String, Value>,
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn opt_date(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(format_date(ms)))
}

fn meta_item(kind: Kind, meta: &Meta) -> Item {
    let transitioning = is_transitioning_state(&meta.state);
    let mut raw = Map::new();
    raw.insert(
        "accountId".into(),
        json!(format_id(Kind::Project, meta.account)),
    );
    raw.insert("created".into(), json!(format_date(meta.created_ms)));
    raw.insert("description".into(), opt_str(&meta.description));
    raw.insert("id".into(), json!(format_id(kind, meta.num)));
    raw.insert("name".into(), opt_str(&meta.name));
    raw.insert("removed".into(), opt_date(meta.removed_ms));
    raw.insert("removeTime".into(), opt_date(meta.remove_time_ms));
    raw.insert("state".into(), json!(meta.state));
    raw.insert(
        "transitioning".into(),
        json!(if transitioning { "yes" } else { "no" }),
    );
    raw.insert(
        "transitioningMessage".into(),
        if transitioning {
            json!("In Progress")
        } else {
            Value::Null
        },
    );
    raw.insert("transitioningProgress".into(), Value::Null);
    raw.insert("uuid".into(), json!(meta.uuid));
    Item {
        kind,
        num: meta.num,
        account: meta.account,
        state: meta.state.clone(),
        created_ms: meta.created_ms,
        removed_ms: meta.removed_ms,
        raw,
    }
}

fn registry_item(r: &Registry) -> Item {
    let mut item = meta_item(Kind::Registry, &r.meta);
    item.raw.insert("kind".into(), json!("registry"));
    item.raw
        .insert("serverAddress".into(), json!(r.server_address));
    for name in [
        "blockDevicePath",
        "driverName",
        "externalId",
        "volumeAccessMode",
        "volumeCapabilities",
    ] {
        item.raw.insert(name.into(), Value::Null);
    }
    item
}

fn credential_item(c: &Credential) -> Item {
    let mut item = meta_item(Kind::Credential, &c.meta);
    item.raw.insert("kind".into(), json!("registryCredential"));
    item.raw.insert(
        "registryId".into(),
        json!(format_id(Kind::Registry, c.registry)),
    );
    item.raw
        .insert("publicValue".into(), opt_str(&c.public_value));
    item.raw
        .insert("secretValue".into(), opt_str(&c.secret_value));
    item.raw.insert("email".into(), opt_str(&c.email));
    item
}

fn project_item(num: u64, p: &Project) -> Item {
    let mut raw = Map::new();
    raw.insert("created".into(), json!(format_date(p.created_ms)));
    raw.insert("description".into(), Value::Null);
    raw.insert("id".into(), json!(format_id(Kind::Project, num)));
    raw.insert("kind".into(), json!("project"));
    raw.insert("name".into(), json!(p.name));
    raw.insert("removed".into(), Value::Null);
    raw.insert("state".into(), json!("active"));
    raw.insert("transitioning".into(), json!("no"));
    raw.insert("transitioningMessage".into(), Value::Null);
    raw.insert("transitioningProgress".into(), Value::Null);
    raw.insert("uuid".into(), json!(p.uuid));
    Item {
        kind: Kind::Project,
        num,
        account: num,
        state: "active".into(),
        created_ms: p.created_ms,
        removed_ms: None,
        raw,
    }
}

// ---------------------------------------------------------------------------
// Requests, replies, errors
// ---------------------------------------------------------------------------

struct QueryPair {
    raw: String,
    key: String,
    value: String,
}

struct Incoming {
    method: Method,
    headers: HeaderMap,
    /// Decoded non-empty path segments (`//` collapsed, trailing `/` ignored).
    segments: Vec<String>,
    query: Vec<QueryPair>,
    /// `None` when the body could not be read.
    body: Option<Bytes>,
    /// `scheme://host[:port]` for generated URLs.
    base: String,
    /// Request URL without query, normalised.
    self_url: String,
}

impl Incoming {
    fn query_first(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|q| q.key == key)
            .map(|q| q.value.as_str())
    }

    fn header_is_true(&self, name: &str) -> bool {
        header_str(&self.headers, name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn new(status: u16, body: Value) -> Result<Reply, ApiError> {
        Ok(Reply { status, body })
    }
}

#[derive(Debug)]
struct ApiError {
    status: u16,
    code: String,
    message: Option<String>,
    field_name: Option<String>,
    challenge: bool,
}

impl ApiError {
    /// Plain status error: code and message from `messages.properties` (§6).
    fn status(status: u16) -> ApiError {
        let code = match status {
            400 => "Bad Request".to_string(),
            401 => "Unauthorized".to_string(),
            403 => "Forbidden".to_string(),
            404 => "Not Found".to_string(),
            405 => "Method not allowed".to_string(),
            409 => "Conflict".to_string(),
            500 => "Internal Server Error".to_string(),
            other => StatusCode::from_u16(other)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error")
                .to_string(),
        };
        ApiError::coded(status, &code)
    }

    fn coded(status: u16, code: &str) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: Some(code.to_string()),
            field_name: None,
            challenge: false,
        }
    }

    /// 422 validation error with `fieldName` and a null message.
    fn validation(code: &str, field: &str) -> ApiError {
        ApiError {
            status: 422,
            code: code.to_string(),
            message: None,
            field_name: Some(field.to_string()),
            challenge: false,
        }
    }

    fn not_found() -> ApiError {
        ApiError::status(404)
    }

    fn method_not_allowed() -> ApiError {
        ApiError::status(405)
    }

    fn to_json(&self) -> Value {
        let mut body = json!({
            "id": new_uuid(),
            "type": "error",
            "links": {},
            "actions": {},
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "detail": null,
            "baseType": "error",
        });
        if let Some(field) = &self.field_name {
            body["fieldName"] = json!(field);
        }
        body
    }
}

/// The authenticated caller.
#[derive(Clone)]
struct Caller {
    kind: KeyKind,
    account: u64,
    /// Own project of environment/project keys.
    project: Option<u64>,
    name: String,
}

/// Per-request context once the caller and scope are known.
struct Ctx<'a> {
    inc: &'a Incoming,
    method: Method,
    /// `<base>/<ver>[/projects/<pid>]`: prefix of every generated URL.
    api_base: String,
    /// `<base>/<ver>`, without sub-context.
    version_base: String,
    /// Account whose objects are visible; `None` = all (admin, unscoped).
    scope: Option<u64>,
    /// Whether `registryCredential.email` exists for this caller.
    email: bool,
    action_links: bool,
}

impl Ctx<'_> {
    fn schema(&self, kind: Kind) -> Schema {
        schema_for(kind, self.email)
    }

    fn visible(&self, account: u64) -> bool {
        self.scope.is_none_or(|s| s == account)
    }

    /// Read-on-create-only values are echoed only in POST responses (§3).
    fn echo_secrets(&self) -> bool {
        self.method == Method::POST
    }
}

// ---------------------------------------------------------------------------
// HTTP entry point
// ---------------------------------------------------------------------------

async fn serve(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let base = base_url(&parts.headers, shared.addr);
    let raw_segments: Vec<&str> = raw_path.split('/').filter(|s| !s.is_empty()).collect();
    let inc = Incoming {
        method: parts.method.clone(),
        segments: raw_segments
            .iter()
            .map(|s| percent_decode(s, false))
            .collect(),
        query: parse_query(&raw_query),
        self_url: format!("{base}/{}", raw_segments.join("/")),
        base,
        body,
        headers: parts.headers.clone(),
    };

    let mut st = shared.lock();
    st.serial += 1;
    st.settle();
    let response = dispatch(&mut st, &inc);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| raw_path.clone(), |pq| pq.as_str().to_string());
    st.requests.push(SimRequest {
        method: parts.method.to_string(),
        path_and_query,
        status: response.status().as_u16(),
        body: inc
            .body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    });
    response
}

/// Splits off the version and project sub-context, runs the API and adds headers.
fn dispatch(st: &mut SimState, inc: &Incoming) -> Response {
    let segs = &inc.segments;
    let version = match segs.first().map(String::as_str) {
        None => "v1", // `/`: the root version's schemas (§2)
        Some("v1") => "v1",
        Some("v2-beta") => "v2-beta",
        Some(_) => return non_api_not_found(),
    };
    // `/{ver}/projects/{pid}/...` with more than 4 segments is project-scoped.
    let (path_project, rest) = if segs.len() > 3 && segs[1] == "projects" {
        (Some(segs[2].clone()), &segs[3..])
    } else {
        (None, segs.get(1..).unwrap_or(&[]))
    };
    let sub_context = path_project
        .as_ref()
        .map(|p| format!("/projects/{p}"))
        .unwrap_or_default();
    let api_base = format!("{}/{version}{sub_context}", inc.base);
    let schemas_url = format!("{api_base}/schemas");

    let mut caller = None;
    let result = api(st, inc, version, path_project, rest, api_base, &mut caller);
    let (status, body, challenge) = match result {
        Ok(reply) => (reply.status, reply.body, false),
        Err(err) => {
            let challenge = err.challenge
                && !inc.header_is_true("x-api-no-challenge")
                && !header_str(&inc.headers, "connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("upgrade"));
            (err.status, err.to_json(), challenge)
        }
    };
    api_response(status, &body, &schemas_url, caller.as_ref(), challenge)
}

fn api(
    st: &mut SimState,
    inc: &Incoming,
    version: &'static str,
    path_project: Option<String>,
    rest: &[String],
    api_base: String,
    caller_out: &mut Option<Caller>,
) -> Result<Reply, ApiError> {
    if st.fail_remaining > 0 {
        st.fail_remaining -= 1;
        return Err(ApiError::status(st.fail_status));
    }
    let path = format!("/{}", inc.segments.join("/"));
    if let Some(rule) = st.fail_rules.iter_mut().find(|rule| {
        rule.remaining > 0 && rule.method == inc.method.as_str() && path.contains(&rule.path_part)
    }) {
        rule.remaining -= 1;
        return Err(ApiError::status(rule.status));
    }
    if inc.method == Method::POST {
        for (account, address) in std::mem::take(&mut st.before_next_post) {
            st.insert_registry(account, &address, "active");
        }
    }
    // `_method=` override for POST (§8).
    let method = match inc.query_first("_method") {
        Some(m) if inc.method == Method::POST => {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap_or(Method::POST)
        }
        _ => inc.method.clone(),
    };

    let caller = authenticate(st, inc)?;
    *caller_out = Some(caller.clone());
    let requested = path_project
        .or_else(|| header_str(&inc.headers, "x-api-project-id").map(str::to_string))
        .or_else(|| inc.query_first("projectId").map(str::to_string));
    let scope = resolve_scope(st, &caller, requested.as_deref())?;

    let ctx = Ctx {
        inc,
        method,
        api_base,
        version_base: format!("{}/{version}", inc.base),
        scope,
        email: version == "v1" && caller.kind == KeyKind::Project,
        action_links: header_str(&inc.headers, "x-api-action-links").is_some()
            || inc.query_first("_actionLinks") == Some("true"),
    };

    if inc.segments.is_empty() {
        return root(&ctx);
    }
    let Some(type_name) = rest.first() else {
        return version_root(&ctx, version);
    };
    let kind = resolve_type(type_name).ok_or_else(ApiError::not_found)?;
    match kind {
        Kind::Schema => schemas_route(&ctx, &rest[1..]),
        Kind::Project => project_route(st, &ctx, &rest[1..]),
        Kind::Registry | Kind::Credential => object_route(st, &ctx, kind, &rest[1..]),
        Kind::ApiVersion | Kind::Error => Err(ApiError::not_found()),
    }
}

/// Basic auth (§1). Returns the caller, or 401 / 409 `MultipleKeys`.
fn authenticate(st: &SimState, inc: &Incoming) -> Result<Caller, ApiError> {
    if let Some((access, secret)) = basic_credentials(&inc.headers) {
        let matching: Vec<&Key> = st.keys.iter().filter(|k| k.access == access).collect();
        if matching.len() > 1 {
            return Err(ApiError::coded(409, "MultipleKeys"));
        }
        if let Some(key) = matching.first().filter(|k| k.secret == secret) {
            match key.kind {
                KeyKind::Admin => return Ok(admin_caller()),
                KeyKind::Environment | KeyKind::Project => {
                    // An inactive or missing environment yields no account (401).
                    let project = key
                        .project
                        .and_then(|num| Some((num, st.projects.get(&num)?)));
                    if let Some((num, project)) = project {
                        return Ok(Caller {
                            kind: key.kind,
                            account: num,
                            project: Some(num),
                            name: project.name.clone(),
                        });
                    }
                }
            }
        }
    }
    if !st.access_control && !inc.header_is_true("x-enforce-authentication") {
        return Ok(admin_caller());
    }
    Err(ApiError {
        challenge: true,
        ..ApiError::status(401)
    })
}

fn admin_caller() -> Caller {
    Caller {
        kind: KeyKind::Admin,
        account: ADMIN_ACCOUNT,
        project: None,
        name: "admin".to_string(),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = header_str(headers, "authorization")?;
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 2 || !parts[0].eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(parts[1])
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (access, secret) = text.split_once(':')?;
    Some((access.to_string(), secret.to_string()))
}

/// Project selection via path, `X-API-Project-Id` or `projectId` (§2).
fn resolve_scope(
    st: &SimState,
    caller: &Caller,
    requested: Option<&str>,
) -> Result<Option<u64>, ApiError> {
    let Some(requested) = requested else {
        return Ok(caller.project);
    };
    let num = parse_id(requested).ok_or_else(|| ApiError::coded(400, "InvalidFormat"))?;
    if !st.projects.contains_key(&num) {
        return Err(ApiError::status(403));
    }
    match caller.kind {
        KeyKind::Admin => Ok(Some(num)),
        _ if caller.project == Some(num) => Ok(Some(num)),
        _ => Err(ApiError::status(403)),
    }
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

fn require_get(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.method == Method::GET {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed())
    }
}

fn version_json(base: &str, version: &str) -> Value {
    let api = format!("{base}/{version}");
    json!({
        "id": version,
        "type": "apiVersion",
        "baseType": "apiVersion",
        "links": {
            "self": api,
            "schemas": format!("{api}/schemas"),
            "projects": format!("{api}/projects"),
            "registries": format!("{api}/registries"),
            "registryCredentials": format!("{api}/registrycredentials"),
        },
        "actions": {},
    })
}

/// `GET /`: collection of API versions with `links.latest` (§8).
fn root(ctx: &Ctx) -> Result<Reply, ApiError> {
    require_get(ctx)?;
    let base = &ctx.inc.base;
    Reply::new(
        200,
        json!({
            "type": "collection",
            "resourceType": "apiVersion",
            "links": {"self": format!("{base}/"), "latest": format!("{base}/v2-beta")},
            "createTypes": {},
            "actions": {},
            "data": [version_json(base, "v1"), version_json(base, "v2-beta")],
            "sortLinks": {},
            "pagination": null,
            "sort": null,
            "filters": {},
            "createDefaults": {},
        }),
    )
}

/// `GET /v1`, `/v2-beta` (§2 discovery, §8).
fn version_root(ctx: &Ctx, version: &str) -> Result<Reply, ApiError> {
    require_get(ctx)?;
    Reply::new(200, version_json(&ctx.inc.base, version))
}

fn schema_json(ctx: &Ctx, s: &Schema) -> Value {
    let mut links =
        json!({"self": format!("{}/schemas/{}", ctx.api_base, s.id.to_ascii_lowercase())});
    if s.has_collection {
        links["collection"] = json!(format!(
            "{}/{}",
            ctx.api_base,
            s.plural.to_ascii_lowercase()
        ));
    }
    let fields: Map<String, Value> = s
        .fields
        .iter()
        .map(|f| (f.name.to_string(), f.to_json()))
        .collect();
    let actions: Map<String, Value> = s
        .actions
        .iter()
        .map(|a| {
            (
                a.to_string(),
                json!({"input": null, "output": s.action_output}),
            )
        })
        .collect();
    let filters: Map<String, Value> = s
        .filters
        .iter()
        .map(|(name, class)| (name.to_string(), json!({"modifiers": class.modifiers()})))
        .collect();
    json!({
        "id": s.id,
        "type": "schema",
        "links": links,
        "actions": {},
        "pluralName": s.plural,
        "resourceMethods": s.resource_methods,
        "collectionMethods": s.collection_methods,
        "resourceFields": fields,
        "resourceActions": actions,
        "collectionFilters": filters,
        "collectionActions": {},
        "collectionFields": {},
        "includeableLinks": [],
    })
}

/// `…/schemas` and `…/schemas/<id>` (§2, §8).
fn schemas_route(ctx: &Ctx, rest: &[String]) -> Result<Reply, ApiError> {
    match rest {
        [] => {
            require_get(ctx)?;
            let data: Vec<Value> = ALL_KINDS
                .iter()
                .map(|k| schema_json(ctx, &ctx.schema(*k)))
                .collect();
            Reply::new(
                200,
                json!({
                    "type": "collection",
                    "resourceType": "schema",
                    "links": {"self": format!("{}/schemas", ctx.api_base)},
                    "createTypes": {},
                    "actions": {},
                    "data": data,
                }),
            )
        }
        [id] => {
            let kind = resolve_type(id).ok_or_else(ApiError::not_found)?;
            require_get(ctx)?;
            Reply::new(200, schema_json(ctx, &ctx.schema(kind)))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `…/projects` and `…/projects/<id>` (the project resource, §2).
fn project_route(st: &SimState, ctx: &Ctx, rest: &[String]) -> Result<Reply, ApiError> {
    match rest {
        [] => {
            require_get(ctx)?;
            let items = st
                .items(Kind::Project)
                .into_iter()
                .filter(|i| ctx.visible(i.account))
                .collect();
            Reply::new(200, list(ctx, Kind::Project, items, &ctx.inc.self_url))
        }
        [id] => {
            let item = visible_item(st, ctx, Kind::Project, id)?;
            require_get(ctx)?;
            Reply::new(200, render(ctx, &item))
        }
        _ => Err(ApiError::not_found()),
    }
}

fn visible_item(st: &SimState, ctx: &Ctx, kind: Kind, id: &str) -> Result<Item, ApiError> {
    parse_id(id)
        .and_then(|num| st.item(kind, num))
        .filter(|item| ctx.visible(item.account))
        .ok_or_else(ApiError::not_found)
}

/// Registries and registry credentials: collection, resource and link URLs.
fn object_route(
    st: &mut SimState,
    ctx: &Ctx,
    kind: Kind,
    rest: &[String],
) -> Result<Reply, ApiError> {
    match rest {
        [] => match ctx.method {
            Method::GET => {
                let items = st
                    .items(kind)
                    .into_iter()
                    .filter(|i| ctx.visible(i.account))
                    .collect();
                Reply::new(200, list(ctx, kind, items, &ctx.inc.self_url))
            }
            Method::POST if ctx.inc.query_first("action").is_some() => {
                Err(ApiError::validation("InvalidAction", "action"))
            }
            Method::POST => create(st, ctx, kind),
            _ => Err(ApiError::method_not_allowed()),
        },
        [id] => {
            let item = visible_item(st, ctx, kind, id)?;
            match (ctx.method.clone(), ctx.inc.query_first("action")) {
                (Method::GET, _) => Reply::new(200, render(ctx, &item)),
                (Method::PUT, _) => update(st, ctx, kind, item.num),
                (Method::DELETE, _) => delete(st, ctx, kind, item.num),
                (Method::POST, Some(action)) => run_action(st, ctx, kind, item.num, action),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        [id, link] => {
            let item = visible_item(st, ctx, kind, id)?;
            require_get(ctx)?;
            follow_link(st, ctx, &item, &link.to_ascii_lowercase())
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `registries/<id>/credentials`, `registrycredentials/<id>/registry`, `…/account`.
fn follow_link(st: &SimState, ctx: &Ctx, item: &Item, link: &str) -> Result<Reply, ApiError> {
    match (item.kind, link) {
        (Kind::Registry, "credentials") => {
            let items = st
                .items(Kind::Credential)
                .into_iter()
                .filter(|c| ctx.visible(c.account))
                .filter(|c| {
                    c.raw
                        .get("registryId")
                        .and_then(Value::as_str)
                        .and_then(parse_id)
                        == Some(item.num)
                })
                .collect();
            Reply::new(200, list(ctx, Kind::Credential, items, &ctx.inc.self_url))
        }
        (Kind::Credential, "registry") => {
            let registry = item
                .raw
                .get("registryId")
                .and_then(Value::as_str)
                .and_then(parse_id)
                .and_then(|num| st.item(Kind::Registry, num))
                .ok_or_else(ApiError::not_found)?;
            Reply::new(200, render(ctx, &registry))
        }
        (_, "account") => {
            let project = st
                .item(Kind::Project, item.account)
                .ok_or_else(ApiError::not_found)?;
            Reply::new(200, render(ctx, &project))
        }
        _ => Err(ApiError::not_found()),
    }
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// Renders a resource as the API does (§3): every schema field, nulls included.
fn render(ctx: &Ctx, item: &Item) -> Value {
    let schema = ctx.schema(item.kind);
    let id = format_id(item.kind, item.num);
    let self_url = format!(
        "{}/{}/{}",
        ctx.api_base,
        schema.plural.to_ascii_lowercase(),
        id
    );
    let mut out = Map::new();
    for field in &schema.fields {
        let mut value = item.raw.get(field.name).cloned().unwrap_or(Value::Null);
        if field.read_on_create_only && !ctx.echo_secrets() {
            value = Value::Null;
        }
        out.insert(field.name.to_string(), value);
    }
    out.insert("createdTS".into(), json!(item.created_ms));
    if let Some(ms) = item.removed_ms {
        out.insert("removedTS".into(), json!(ms));
    }
    let mut links = Map::new();
    links.insert("self".into(), json!(self_url));
    match item.kind {
        Kind::Registry => {
            links.insert("account".into(), json!(format!("{self_url}/account")));
            links.insert(
                "credentials".into(),
                json!(format!("{self_url}/credentials")),
            );
        }
        Kind::Credential => {
            links.insert("account".into(), json!(format!("{self_url}/account")));
            links.insert("registry".into(), json!(format!("{self_url}/registry")));
        }
        Kind::Project => {
            let scoped = format!("{}/projects/{id}", ctx.version_base);
            links.insert("schemas".into(), json!(format!("{scoped}/schemas")));
            links.insert("registries".into(), json!(format!("{scoped}/registries")));
            links.insert(
                "registryCredentials".into(),
                json!(format!("{scoped}/registrycredentials")),
            );
        }
        _ => {}
    }
    let mut actions = Map::new();
    if matches!(item.kind, Kind::Registry | Kind::Credential) {
        for process in LISTED_ACTIONS {
            if process.can_start(&item.state) {
                let name = process.action_name();
                actions.insert(name.into(), json!(format!("{self_url}/?action={name}")));
            }
        }
    }
    out.insert("id".into(), json!(id));
    out.insert("type".into(), json!(schema.id));
    out.insert("baseType".into(), json!(schema.base_type));
    out.insert("links".into(), Value::Object(links));
    let actions_key = if ctx.action_links {
        "actionLinks"
    } else {
        "actions"
    };
    out.insert(actions_key.into(), Value::Object(actions));
    Value::Object(out)
}

// ---------------------------------------------------------------------------
// Collections (§3, §4)
// ---------------------------------------------------------------------------

const MODIFIERS: [&str; 11] = [
    "eq", "ne", "lt", "lte", "gt", "gte", "prefix", "like", "notlike", "null", "notnull",
];
const RESERVED_QUERY: [&str; 6] = ["limit", "marker", "sort", "order", "projectId", "action"];

struct Condition {
    name: String,
    class: Class,
    modifier: String,
    value: String,
}

/// `name_mod` splits on the last `_` when the suffix is a modifier (§4).
fn split_modifier(key: &str) -> (&str, &str) {
    if let Some((name, modifier)) = key.rsplit_once('_') {
        if !name.is_empty() && MODIFIERS.contains(&modifier) {
            return (name, modifier);
        }
    }
    (key, "eq")
}

fn conditions(ctx: &Ctx, schema: &Schema) -> Vec<Condition> {
    let mut out = Vec::new();
    for pair in &ctx.inc.query {
        if pair.key.starts_with('_') || RESERVED_QUERY.contains(&pair.key.as_str()) {
            continue;
        }
        let (name, modifier) = split_modifier(&pair.key);
        // Not a filter of this schema, or not a modifier of its type: ignored.
        let Some(class) = schema.filter_class(name) else {
            continue;
        };
        if !class.modifiers().contains(&modifier) {
            continue;
        }
        out.push(Condition {
            name: name.to_string(),
            class,
            modifier: modifier.to_string(),
            value: pair.value.clone(),
        });
    }
    out
}

/// A reference value as the server parses it: unparseable becomes -1 (§4).
fn parsed_ref(value: &str) -> i128 {
    parse_id(value).map_or(-1, i128::from)
}

fn condition_matches(cond: &Condition, raw: &Value) -> bool {
    match cond.modifier.as_str() {
        "null" => return raw.is_null(),
        "notnull" => return !raw.is_null(),
        _ => {}
    }
    // SQL semantics: NULL compares as unknown.
    let Some(text) = value_text(raw) else {
        return false;
    };
    let ordering = match cond.class {
        Class::Id | Class::Reference => Some(parsed_ref(&text).cmp(&parsed_ref(&cond.value))),
        Class::Int => match (text.parse::<f64>(), cond.value.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => None,
        },
        _ => Some(text.to_lowercase().cmp(&cond.value.to_lowercase())),
    };
    let lower = (text.to_lowercase(), cond.value.to_lowercase());
    match cond.modifier.as_str() {
        "eq" => ordering == Some(Ordering::Equal),
        "ne" => ordering.is_some_and(|o| o != Ordering::Equal),
        "lt" => ordering == Some(Ordering::Less),
        "lte" => ordering.is_some_and(|o| o != Ordering::Greater),
        "gt" => ordering == Some(Ordering::Greater),
        "gte" => ordering.is_some_and(|o| o != Ordering::Less),
        "prefix" => lower.0.starts_with(&lower.1),
        "like" => sql_like(&lower.0, &lower.1),
        "notlike" => !sql_like(&lower.0, &lower.1),
        _ => false,
    }
}

fn value_text(raw: &Value) -> Option<String> {
    match raw {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// SQL `LIKE` with `%` and `_` wildcards.
fn sql_like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // dp[j]: pattern[..i] matches text[..j]
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for pc in p {
        let mut next = vec![false; t.len() + 1];
        match pc {
            '%' => {
                let mut any = false;
                for j in 0..=t.len() {
                    any |= dp[j];
                    next[j] = any;
                }
            }
            c => {
                for j in 1..=t.len() {
                    next[j] = dp[j - 1] && (c == '_' || t[j - 1] == c);
                }
            }
        }
        dp = next;
    }
    dp[t.len()]
}

fn compare_raw(class: Class, a: &Value, b: &Value) -> Ordering {
    match (value_text(a), value_text(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match class {
            Class::Id | Class::Reference => parsed_ref(&a).cmp(&parsed_ref(&b)),
            Class::Int => a
                .parse::<f64>()
                .ok()
                .partial_cmp(&b.parse::<f64>().ok())
                .unwrap_or(Ordering::Equal),
            _ => a.to_lowercase().cmp(&b.to_lowercase()),
        },
    }
}

/// `<url>?<query minus keys in `drop`>&<extra>`.
fn url_with(ctx: &Ctx, url: &str, drop: &[&str], extra: &str) -> String {
    let mut parts: Vec<&str> = ctx
        .inc
        .query
        .iter()
        .filter(|q| !drop.contains(&q.key.as_str()))
        .map(|q| q.raw.as_str())
        .collect();
    parts.push(extra);
    format!("{url}?{}", parts.join("&"))
}

/// Builds the collection JSON: removed hidden, filters, sort, pagination (§3, §4).
fn list(ctx: &Ctx, kind: Kind, mut items: Vec<Item>, self_url: &str) -> Value {
    let schema = ctx.schema(kind);
    let inc = ctx.inc;

    if inc
        .query_first("_removed")
        .is_none_or(|v| v.eq_ignore_ascii_case("false"))
    {
        items.retain(|i| i.removed_ms.is_none());
    }
    let conds = conditions(ctx, &schema);
    items.retain(|i| {
        conds
            .iter()
            .all(|c| condition_matches(c, i.raw.get(&c.name).unwrap_or(&Value::Null)))
    });

    let sort_field = inc
        .query_first("sort")
        .filter(|f| schema.filter_class(f).is_some())
        .map(str::to_string);
    let descending = inc
        .query_first("order")
        .is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    items.sort_by(|a, b| {
        let primary = match &sort_field {
            Some(f) => {
                let class = schema.filter_class(f).unwrap_or(Class::Str);
                let null = Value::Null;
                compare_raw(
                    class,
                    a.raw.get(f.as_str()).unwrap_or(&null),
                    b.raw.get(f.as_str()).unwrap_or(&null),
                )
            }
            None => Ordering::Equal,
        };
        primary.then(a.num.cmp(&b.num))
    });
    if descending {
        items.reverse();
    }

    let limit = match inc.query_first("limit").map(str::parse::<i64>) {
        None | Some(Err(_)) => DEFAULT_LIMIT,
        Some(Ok(n)) if n <= 0 => MAX_LIMIT,
        Some(Ok(n)) => (n as usize).min(MAX_LIMIT),
    };
    let offset = inc
        .query_first("marker")
        .and_then(|m| m.strip_prefix('m'))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let window: Vec<&Item> = items.iter().skip(offset).take(limit + 1).collect();
    let partial = window.len() > limit;
    let next = partial.then(|| {
        url_with(
            ctx,
            self_url,
            &["marker"],
            &format!("marker=m{}", offset + limit),
        )
    });
    let data: Vec<Value> = window.iter().take(limit).map(|i| render(ctx, i)).collect();

    let mut filters = Map::new();
    for (name, class) in schema.filters {
        let used: Vec<Value> = conds
            .iter()
            .filter(|c| c.name == *name)
            .map(|c| {
                let value = match class {
                    Class::Id | Class::Reference => parsed_ref(&c.value).to_string(),
                    _ => c.value.clone(),
                };
                json!({"modifier": c.modifier, "value": value})
            })
            .collect();
        let entry = if used.is_empty() {
            Value::Null
        } else {
            json!(used)
        };
        filters.insert(name.to_string(), entry);
    }
    let mut sort_links = Map::new();
    for (name, _) in schema.filters {
        if schema.field(name).is_some() {
            let url = url_with(
                ctx,
                self_url,
                &["sort", "order", "marker"],
                &format!("sort={name}"),
            );
            sort_links.insert(name.to_string(), json!(url));
        }
    }
    let sort = sort_field.map(|f| {
        let (order, reverse) = if descending {
            ("desc", "asc")
        } else {
            ("asc", "desc")
        };
        json!({
            "name": f,
            "order": order,
            "reverse": url_with(ctx, self_url, &["order", "marker"], &format!("order={reverse}")),
        })
    });

    json!({
        "type": "collection",
        "resourceType": schema.id,
        "links": {"self": self_url},
        "createTypes": {},
        "actions": {},
        "createDefaults": {},
        "data": data,
        "sortLinks": sort_links,
        "pagination": {
            "first": null,
            "previous": null,
            "next": next,
            "limit": limit,
            "total": null,
            "partial": partial,
        },
        "sort": sort,
        "filters": filters,
    })
}

// ---------------------------------------------------------------------------
// Writes (§5)
// ---------------------------------------------------------------------------

/// JSON object body (whatever the Content-Type), with query parameters merged in.
fn parse_body(inc: &Incoming) -> Result<Map<String, Value>, ApiError> {
    let invalid = || ApiError::coded(400, "InvalidBodyContent");
    let bytes = inc.body.as_ref().ok_or_else(invalid)?;
    let mut map = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => map,
            _ => return Err(invalid()),
        }
    };
    for pair in &inc.query {
        map.entry(pair.key.clone())
            .or_insert_with(|| Value::String(pair.value.clone()));
    }
    Ok(map)
}

/// Validates one input value against its field definition.
fn validate_value(field: &Field, value: &Value, creating: bool) -> Result<Value, ApiError> {
    let text = match value {
        Value::Null if creating && field.required => {
            return Err(ApiError::validation("MissingRequired", field.name))
        }
        Value::Null if !field.nullable => {
            return Err(ApiError::validation("NotNullable", field.name))
        }
        Value::Null => return Ok(Value::Null),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(_) | Value::Object(_) => {
            return Err(ApiError::validation("InvalidFormat", field.name))
        }
    };
    let len = text.chars().count();
    if field.min_length.is_some_and(|min| len < min) {
        return Err(ApiError::validation("MinLengthExceeded", field.name));
    }
    if field.max_length.is_some_and(|max| len > max) {
        return Err(ApiError::validation("MaxLengthExceeded", field.name));
    }
    Ok(Value::String(text))
}

fn value_string(values: &BTreeMap<&str, Value>, name: &str) -> Option<String> {
    values.get(name).and_then(Value::as_str).map(str::to_string)
}

/// `POST <collection>`: 201 with the object in `registering`.
fn create(st: &mut SimState, ctx: &Ctx, kind: Kind) -> Result<Reply, ApiError> {
    let body = parse_body(ctx.inc)?;
    let schema = ctx.schema(kind);
    let mut values = BTreeMap::new();
    for field in schema.fields.iter().filter(|f| f.create) {
        match body.get(field.name) {
            Some(value) => {
                values.insert(field.name, validate_value(field, value, true)?);
            }
            None if field.required => {
                return Err(ApiError::validation("MissingRequired", field.name))
            }
            None => {}
        }
    }
    let account = ctx.scope.unwrap_or(ADMIN_ACCOUNT);
    let after = st.serial + st.activation_delay;
    let mut meta = Meta::seeded(0, account, "requested");
    meta.name = value_string(&values, "name");
    meta.description = value_string(&values, "description");
    meta.start(Process::Create, after);

    let num = match kind {
        Kind::Registry => {
            let address = value_string(&values, "serverAddress").unwrap_or_default();
            let used = st.registries.values().any(|r| {
                r.meta.account == account
                    && r.meta.removed_ms.is_none()
                    && r.meta.state != "purged"
                    && r.server_address.to_lowercase() == address.to_lowercase()
            });
            if used {
                return Err(ApiError::coded(400, "ServerAddressUsed"));
            }
            st.next_registry += 1;
            meta.num = st.next_registry;
            st.registries.insert(
                meta.num,
                Registry {
                    meta,
                    server_address: address,
                },
            );
            st.next_registry
        }
        Kind::Credential => {
            let registry = value_string(&values, "registryId")
                .and_then(|id| parse_id(&id))
                .filter(|num| {
                    st.registries
                        .get(num)
                        .is_some_and(|r| ctx.visible(r.meta.account) && r.meta.removed_ms.is_none())
                })
                .ok_or_else(|| ApiError::validation("InvalidReference", "registryId"))?;
            st.next_credential += 1;
            meta.num = st.next_credential;
            st.credentials.insert(
                meta.num,
                Credential {
                    meta,
                    registry,
                    public_value: value_string(&values, "publicValue"),
                    secret_value: value_string(&values, "secretValue"),
                    email: value_string(&values, "email"),
                },
            );
            st.next_credential
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let item = st.item(kind, num).ok_or_else(|| ApiError::status(500))?;
    Reply::new(201, render(ctx, &item))
}

/// `PUT <self>`: partial update of updatable fields; 200 (§5).
fn update(st: &mut SimState, ctx: &Ctx, kind: Kind, num: u64) -> Result<Reply, ApiError> {
    let body = parse_body(ctx.inc)?;
    let schema = ctx.schema(kind);
    let mut changes = Vec::new();
    for field in schema.fields.iter().filter(|f| f.update) {
        if let Some(value) = body.get(field.name) {
            changes.push((field.name, validate_value(field, value, false)?));
        }
    }
    for (name, value) in changes {
        let value = value.as_str().map(str::to_string);
        match (kind, name) {
            (Kind::Registry, _) | (Kind::Credential, "name" | "description") => {
                if let Some(meta) = st.meta_mut(kind, num) {
                    if name == "name" {
                        meta.name = value;
                    } else {
                        meta.description = value;
                    }
                }
            }
            (Kind::Credential, _) => {
                if let Some(c) = st.credentials.get_mut(&num) {
                    match name {
                        "publicValue" => c.public_value = value,
                        "secretValue" => c.secret_value = value,
                        "email" => c.email = value,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let item = st.item(kind, num).ok_or_else(ApiError::not_found)?;
    Reply::new(200, render(ctx, &item))
}

/// `POST <self>/?action=<name>`: 202 with the transitioning state (§5).
fn run_action(
    st: &mut SimState,
    ctx: &Ctx,
    kind: Kind,
    num: u64,
    action: &str,
) -> Result<Reply, ApiError> {
    let process = match action {
        "update" => Process::Update,
        "activate" => Process::Activate,
        "deactivate" => Process::Deactivate,
        "remove" => Process::Remove,
        "purge" => Process::Purge,
        "create" | "restore" => return Err(ApiError::validation("ActionNotAvailable", "action")),
        _ => return Err(ApiError::validation("InvalidAction", "action")),
    };
    let serial = st.serial;
    let meta = st.meta_mut(kind, num).ok_or_else(ApiError::not_found)?;
    if !process.can_start(&meta.state) {
        return Err(ApiError::validation("ActionNotAvailable", "action"));
    }
    meta.start(process, serial);
    let item = st.item(kind, num).ok_or_else(ApiError::not_found)?;
    Reply::new(202, render(ctx, &item))
}

/// `DELETE <self>`: the remove process; 405 when it cannot start (§5).
fn delete(st: &mut SimState, ctx: &Ctx, kind: Kind, num: u64) -> Result<Reply, ApiError> {
    let serial = st.serial;
    let meta = st.meta_mut(kind, num).ok_or_else(ApiError::not_found)?;
    if !Process::Remove.can_start(&meta.state) {
        return Err(ApiError::method_not_allowed());
    }
    meta.start(Process::Remove, serial);
    let item = st.item(kind, num).ok_or_else(ApiError::not_found)?;
    Reply::new(200, render(ctx, &item))
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `scheme://host[:port]`, honouring `X-Forwarded-Proto/Host/Port` (§8).
fn base_url(headers: &HeaderMap, local: SocketAddr) -> String {
    let first = |name: &str| {
        header_str(headers, name)
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let scheme = first("x-forwarded-proto").unwrap_or_else(|| "http".to_string());
    let mut host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .unwrap_or_else(|| local.to_string());
    if let Some(port) = first("x-forwarded-port") {
        let has_port = !host.ends_with(']') && host.contains(':');
        let default = (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
        if !has_port && !default {
            host = format!("{host}:{port}");
        }
    }
    format!("{scheme}://{host}")
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(raw: &str) -> Vec<QueryPair> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            QueryPair {
                raw: pair.to_string(),
                key: percent_decode(k, true),
                value: percent_decode(v, true),
            }
        })
        .collect()
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// JSON response with the headers every API response carries (§1, §8).
fn api_response(
    status: u16,
    body: &Value,
    schemas_url: &str,
    caller: Option<&Caller>,
    challenge: bool,
) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    set_header(headers, "x-api-schemas", schemas_url);
    set_header(headers, "x-rancher-version", RANCHER_VERSION);
    if let Some(caller) = caller {
        let account = format_id(Kind::Project, caller.account);
        set_header(headers, "x-api-account-id", &account);
        set_header(headers, "x-api-user-id", &account);
        set_header(headers, "x-api-account-kind", caller.kind.header_value());
        set_header(headers, "x-api-account-name", &caller.name);
    }
    if challenge {
        set_header(headers, "www-authenticate", AUTH_CHALLENGE);
    }
    response
}

/// Paths outside `/v1` and `/v2-beta` belong to the UI, not the API (§2).
fn non_api_not_found() -> Response {
    let mut response = Response::new(Body::from(
        "<html><body><h1>404 Not Found</h1></body></html>",
    ));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
