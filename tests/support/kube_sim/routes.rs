//! The HTTP side: a request in, a response out. The path picks discovery or
//! a resource (docs/kubernetes-api.md §1, §2, §12), then come faults, the bearer
//! token, RBAC and the verb's handler. Everything but a watch's stream runs
//! under one lock on the state, so the request log is in serving order.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::kinds::{self, Resource};
use super::state::SimState;
use super::status::{json_response, KubeError};
use super::{faults, list, watch, writes, Shared, SimRequest};

const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A request as the handlers see it.
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    pub fn param(&self, key: &str) -> Option<&str> {
        let pair = self.query.iter().find(|(k, _)| k == key)?;
        Some(&pair.1)
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    pub fn content_type(&self) -> &str {
        let value = self.headers.get(header::CONTENT_TYPE);
        let value = value.and_then(|v| v.to_str().ok()).unwrap_or("");
        value.split(';').next().unwrap_or("").trim()
    }

    /// The body as YAML (apply's format; JSON is YAML too).
    pub fn yaml(&self) -> Result<Value, KubeError> {
        serde_yaml_ng::from_slice(&self.body)
            .map_err(|err| KubeError::bad_request(format!("error decoding YAML: {err}")))
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, KubeError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            KubeError::bad_request(format!(
                "the body of the request was in an unknown format: {err}"
            ))
        })
    }
}

/// What a resource path names.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: Resource,
    /// The namespace of the path (`None`: cluster scope or all namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Target {
    /// The namespace part of the store key (`""` for namespaces).
    pub fn key_namespace(&self) -> String {
        self.namespace.clone().unwrap_or_default()
    }
}

/// Parses a resource path; `None` when it names nothing we serve.
fn target(segments: &[&str]) -> Option<Target> {
    let (group, rest) = match segments {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", "coordination.k8s.io", "v1", rest @ ..] => ("coordination.k8s.io", rest),
        _ => return None,
    };
    let found = |plural: &str, namespace: Option<&str>, name: Option<&str>| {
        let resource = Resource::from_plural(group, plural)?;
        Some(Target {
            resource,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
        })
    };
    match rest {
        ["namespaces", ns, plural] => found(plural, Some(ns), None),
        ["namespaces", ns, plural, name] => found(plural, Some(ns), Some(name)),
        ["namespaces", name] if group.is_empty() => found("namespaces", None, Some(name)),
        [plural] => found(plural, None, None),
        _ => None,
    }
    .filter(|t| t.resource.namespaced() || t.namespace.is_none())
}

/// The JSON documents served without a resource behind them.
fn discovery(segments: &[&str]) -> Option<Value> {
    match segments {
        ["version"] => Some(kinds::version()),
        ["api"] => Some(kinds::core_versions()),
        ["api", "v1"] => Some(kinds::resource_list("v1")),
        ["apis"] => Some(kinds::groups()),
        ["apis", "coordination.k8s.io"] => Some(kinds::coordination_group()),
        ["apis", "coordination.k8s.io", "v1"] => {
            Some(kinds::resource_list("coordination.k8s.io/v1"))
        }
        _ => None,
    }
}

/// The user a bearer token names. A request without credentials is
/// `system:anonymous` when anonymous access is on, or asks for `/version`.
fn authenticate(st: &SimState, inc: &Incoming) -> Result<String, KubeError> {
    let value = inc
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = value.and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(token) => st
            .tokens
            .get(token.trim())
            .cloned()
            .ok_or_else(KubeError::unauthorized),
        None if value.is_none() && (st.anonymous || inc.path == "/version") => {
            Ok("system:anonymous".into())
        }
        None => Err(KubeError::unauthorized()),
    }
}

/// The RBAC verb of a request on `target`.
pub fn verb(inc: &Incoming, target: &Target) -> &'static str {
    match (&inc.method, target.name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if inc.flag("watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

/// Refuses the request when RBAC denies `verb` there.
pub fn authorize(st: &SimState, user: &str, verb: &str, target: &Target) -> Result<(), KubeError> {
    let namespace = match target.resource {
        Resource::Namespaces => target.name.as_deref().filter(|_| verb != "create"),
        _ => target.namespace.as_deref(),
    };
    if !st.denied(verb, target.resource, namespace) {
        return Ok(());
    }
    let name = target
        .name
        .as_deref()
        .filter(|_| verb != "create")
        .unwrap_or("");
    let scope = target.namespace.as_deref();
    Err(KubeError::forbidden(
        target.resource,
        name,
        user,
        verb,
        scope,
    ))
}

/// The axum handler: every request lands here.
pub async fn serve(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let query = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let inc = Incoming {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers,
        body,
    };
    let delay = shared.lock().faults.delay_for(&inc.method, &inc.path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let response = {
        let mut st = shared.lock();
        let response = dispatch(&shared, &mut st, &inc);
        st.requests
            .push(SimRequest::new(&inc, parts.uri.query(), response.status()));
        response
    };
    writes::spawn_default_service_accounts(&shared);
    response
}

fn dispatch(shared: &Arc<Shared>, st: &mut SimState, inc: &Incoming) -> Response {
    if let Some(response) = faults::fire(st, inc) {
        return response;
    }
    let user = match authenticate(st, inc) {
        Ok(user) => user,
        Err(err) => return err.into_response(),
    };
    let segments: Vec<&str> = inc.path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(document) = discovery(&segments).filter(|_| inc.method == Method::GET) {
        return json_response(200, &document);
    }
    let Some(target) = target(&segments) else {
        return KubeError::no_route().into_response();
    };
    let verb = verb(inc, &target);
    let result = authorize(st, &user, verb, &target).and_then(|()| match verb {
        "watch" => watch::start(shared, st, inc, &target),
        "get" => writes::get(st, &target).map(reply),
        "list" => list::list(st, inc, &target).map(reply),
        "create" => writes::create(st, inc, &target, &user),
        "update" => writes::update(st, inc, &target, &user),
        "patch" => writes::patch(st, inc, &target, &user),
        "delete" => writes::delete(st, &target),
        _ => Err(KubeError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    });
    result.unwrap_or_else(IntoResponse::into_response)
}

fn reply(body: Value) -> Response {
    json_response(200, &body)
}
