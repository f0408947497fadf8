//! The HTTP side: one request in, one response out. It parses the URL the way
//! Cattle does (docs/rancher-api.md §2), runs faults, authentication and
//! scoping, picks the route, and adds the headers every API response carries
//! (§1, §8). Reads are answered here; writes live in writes.rs.
//!
//! Everything happens under one lock on the state, so a request sees and
//! leaves a consistent server, and the request log is in serving order.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::auth::{self, Caller};
use super::collections::list;
use super::render::{resource, ApiError, Item};
use super::schema::{parse_id, schema, Kind, ALL_KINDS};
use super::state::SimState;
use super::{faults, writes, KeyKind, Shared, SimRequest, AUTH_CHALLENGE, RANCHER_VERSION};

/// Request bodies above this size are refused as unreadable.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub(super) struct QueryPair {
    /// As sent, for the links that repeat the query (§4).
    pub raw: String,
    pub key: String,
    pub value: String,
}

/// A request as the API layer sees it.
pub(super) struct Incoming {
    pub method: Method,
    pub headers: HeaderMap,
    /// Path segments: `//` collapsed, a trailing `/` ignored (§2).
    pub segments: Vec<String>,
    pub query: Vec<QueryPair>,
    /// `None` when the body could not be read.
    pub body: Option<Bytes>,
    /// `scheme://host[:port]` of generated URLs.
    pub base: String,
    /// The request URL without its query.
    pub self_url: String,
}

impl Incoming {
    fn new(parts: &Parts, body: Option<Bytes>, local: SocketAddr) -> Incoming {
        let raw_segments: Vec<&str> = parts
            .uri
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let query = (parts.uri.query().unwrap_or("").split('&'))
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = form_urlencoded::parse(pair.as_bytes())
                    .next()
                    .unwrap_or_default();
                QueryPair {
                    raw: pair.to_string(),
                    key: key.into_owned(),
                    value: value.into_owned(),
                }
            })
            .collect();
        let base = base_url(&parts.headers, local);
        Incoming {
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            segments: raw_segments.iter().map(|s| s.to_string()).collect(),
            query,
            body,
            self_url: format!("{base}/{}", raw_segments.join("/")),
            base,
        }
    }

    pub(super) fn query_first(&self, key: &str) -> Option<&str> {
        let pair = self.query.iter().find(|q| q.key == key)?;
        Some(&pair.value)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The project the request is scoped to, by path or by header (§2).
    fn project(&self) -> Option<u64> {
        let (path_project, _) = split_project(&self.segments);
        path_project
            .or_else(|| self.header("x-api-project-id"))
            .and_then(parse_id)
    }
}

/// Splits `/<version>[/projects/<pid>]/<rest>` into the project and the
/// rest; only paths of more than four segments are project-scoped (§2).
fn split_project(segs: &[String]) -> (Option<&str>, &[String]) {
    match segs {
        [_, projects, pid, rest @ ..] if projects == "projects" && !rest.is_empty() => {
            (Some(pid.as_str()), rest)
        }
        [_, rest @ ..] => (None, rest),
        [] => (None, &[][..]),
    }
}

/// `scheme://host[:port]`, honouring `X-Forwarded-Proto/Host` (§8).
fn base_url(headers: &HeaderMap, local: SocketAddr) -> String {
    let first = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?.split(',').next()?.trim();
        (!value.is_empty()).then(|| value.to_string())
    };
    let scheme = first("x-forwarded-proto").unwrap_or_else(|| "http".to_string());
    let host =
        (first("x-forwarded-host").or_else(|| first("host"))).unwrap_or_else(|| local.to_string());
    format!("{scheme}://{host}")
}

/// The request once the caller and its project are known.
pub(super) struct Ctx<'a> {
    pub inc: &'a Incoming,
    /// `<base>/<ver>[/projects/<pid>]`: the prefix of generated URLs.
    pub api_base: String,
    /// `<base>/<ver>`.
    pub version_base: String,
    /// The account whose objects are visible; `None`: all of them.
    pub scope: Option<u64>,
    /// Whether `registryCredential.email` exists for this caller (§2, §3).
    pub email: bool,
    pub caller: Caller,
    /// The status registry and credential writes get, if they are refused;
    /// their schemas are then read-only (§2).
    pub refuse_writes: Option<u16>,
}

impl Ctx<'_> {
    pub(super) fn visible(&self, account: u64) -> bool {
        self.scope.is_none_or(|s| s == account)
    }

    fn require_get(&self) -> Result<(), ApiError> {
        if self.inc.method == Method::GET {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed())
        }
    }

    /// An object by URL id, if the caller may see it (else 404, §6).
    pub(super) fn visible_item<'s>(
        &self,
        st: &'s SimState,
        kind: Kind,
        id: &str,
    ) -> Result<Item<'s>, ApiError> {
        parse_id(id)
            .and_then(|num| st.item(kind, num))
            .filter(|item| self.visible(item.meta.account))
            .ok_or_else(ApiError::not_found)
    }
}

pub(super) type Reply = Result<(u16, Value), ApiError>;

/// The axum handler: every request, API or not, lands here.
pub(super) async fn serve(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok();
    let inc = Incoming::new(&parts, body, shared.addr);
    let (latency, arrived) = {
        let mut st = shared.lock();
        (st.latency_for(inc.project()), st.tick())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut st = shared.lock();
    st.next_request();
    let response = dispatch(&mut st, &inc);
    let answered = st.tick();
    st.requests.push(SimRequest {
        arrived,
        answered,
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(String::new, |pq| pq.to_string()),
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(inc.body.as_deref().unwrap_or_default()).into_owned(),
        headers: (parts.headers.iter())
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    });
    response
}

/// Splits off the version and the project sub-context, answers, adds headers.
fn dispatch(st: &mut SimState, inc: &Incoming) -> Response {
    let segs = &inc.segments;
    let version = match segs.first().map(String::as_str) {
        None | Some("v1") => "v1", // `/` answers with the root version's headers
        Some("v2-beta") => "v2-beta",
        Some(_) => return non_api_not_found(),
    };
    let (path_project, rest) = split_project(segs);
    let version_base = format!("{}/{version}", inc.base);
    let api_base = match path_project {
        Some(pid) => format!("{version_base}/projects/{pid}"),
        None => version_base.clone(),
    };
    let schemas_url = format!("{api_base}/schemas");

    // (the caller, the account the request acts as) for the response headers
    let mut acting = None;
    let result = faults::apply(st, &inc.method, &format!("/{}", segs.join("/")))
        .map_or(Ok(()), |status| Err(ApiError::status(status)))
        .and_then(|()| auth::authenticate(st, &inc.headers))
        .and_then(|caller| {
            let requested = (path_project.map(str::to_string))
                .or_else(|| inc.header("x-api-project-id").map(str::to_string))
                .or_else(|| inc.query_first("projectId").map(str::to_string));
            acting = Some((caller.clone(), caller.account));
            let access = auth::access(st, &caller, requested.as_deref())?;
            acting = Some((caller.clone(), access.project.unwrap_or(caller.account)));
            let ctx = Ctx {
                inc,
                api_base,
                version_base,
                scope: access.scope,
                email: version == "v1" && caller.kind == KeyKind::Project,
                caller,
                refuse_writes: access.refuse_writes,
            };
            route(st, &ctx, version, rest)
        });
    if st.faults.no_account_headers {
        acting = None;
    }
    let (status, body, challenge) = match result {
        Ok((status, mut body)) => {
            faults::reshape(st, inc, &mut body);
            (status, body, false)
        }
        Err(err) => {
            let quiet = inc.header("x-api-no-challenge");
            let challenge =
                err.challenge && quiet.is_none_or(|v| !v.trim().eq_ignore_ascii_case("true"));
            (err.status, err.to_json(), challenge)
        }
    };
    api_response(status, &body, &schemas_url, acting.as_ref(), challenge)
}

fn route(st: &mut SimState, ctx: &Ctx, version: &str, rest: &[String]) -> Reply {
    if ctx.inc.segments.is_empty() {
        return root(ctx);
    }
    let Some(type_name) = rest.first() else {
        ctx.require_get()?;
        return Ok((200, version_json(&ctx.inc.base, version)));
    };
    match Kind::from_url(type_name).ok_or_else(ApiError::not_found)? {
        Kind::Schema => schemas(ctx, &rest[1..]),
        Kind::Project => projects(st, ctx, &rest[1..]),
        kind @ (Kind::Registry | Kind::Credential) => objects(st, ctx, kind, &rest[1..]),
        Kind::ApiVersion | Kind::Error => Err(ApiError::not_found()),
    }
}

fn version_json(base: &str, version: &str) -> Value {
    let api = format!("{base}/{version}");
    let links: Map<String, Value> = [
        ("self", String::new()),
        ("schemas", "/schemas".into()),
        ("projects", "/projects".into()),
        ("registries", "/registries".into()),
        ("registryCredentials", "/registrycredentials".into()),
    ]
    .into_iter()
    .map(|(name, path)| (name.to_string(), json!(format!("{api}{path}"))))
    .collect();
    json!({"id": version, "type": "apiVersion", "baseType": "apiVersion", "links": links, "actions": {}})
}

/// `GET /`: the API versions, with `links.latest` (§8).
fn root(ctx: &Ctx) -> Reply {
    ctx.require_get()?;
    let base = &ctx.inc.base;
    let body = json!({
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
    });
    Ok((200, body))
}

fn schema_json(ctx: &Ctx, kind: Kind) -> Value {
    let s = schema(kind, ctx.email);
    let read_only =
        ctx.refuse_writes.is_some() && matches!(kind, Kind::Registry | Kind::Credential);
    let (resource_methods, collection_methods) = match read_only {
        true => (&["GET"][..], &["GET"][..]),
        false => (s.resource_methods, s.collection_methods),
    };
    let mut links =
        json!({"self": format!("{}/schemas/{}", ctx.api_base, s.id.to_ascii_lowercase())});
    if !s.collection_methods.is_empty() {
        links["collection"] = json!(format!(
            "{}/{}",
            ctx.api_base,
            s.plural.to_ascii_lowercase()
        ));
    }
    let fields: Map<String, Value> = (s.fields())
        .map(|f| {
            let mut field = json!(f);
            if read_only {
                field["create"] = json!(false);
                field["update"] = json!(false);
            }
            (f.name.into(), field)
        })
        .collect();
    let output = json!({"input": null, "output": s.action_output});
    let actions: Map<String, Value> = s
        .actions
        .iter()
        .map(|a| (a.to_string(), output.clone()))
        .collect();
    let filters: Map<String, Value> = (s.filters.iter())
        .map(|(name, class)| (name.to_string(), json!({"modifiers": class.modifiers()})))
        .collect();
    json!({
        "id": s.id,
        "type": "schema",
        "links": links,
        "actions": {},
        "pluralName": s.plural,
        "resourceMethods": resource_methods,
        "collectionMethods": collection_methods,
        "resourceFields": fields,
        "resourceActions": actions,
        "collectionFilters": filters,
        "collectionActions": {},
        "collectionFields": {},
        "includeableLinks": [],
    })
}

/// `…/schemas` and `…/schemas/<id>` (§2, §8).
fn schemas(ctx: &Ctx, rest: &[String]) -> Reply {
    match rest {
        [] => {
            ctx.require_get()?;
            let data: Vec<Value> = ALL_KINDS.iter().map(|k| schema_json(ctx, *k)).collect();
            let body = json!({
                "type": "collection",
                "resourceType": "schema",
                "links": {"self": format!("{}/schemas", ctx.api_base)},
                "createTypes": {},
                "actions": {},
                "data": data,
            });
            Ok((200, body))
        }
        [id] => {
            let kind = Kind::from_url(id).ok_or_else(ApiError::not_found)?;
            ctx.require_get()?;
            Ok((200, schema_json(ctx, kind)))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `…/projects` and `…/projects/<id>`, the project resource (§2).
fn projects(st: &SimState, ctx: &Ctx, rest: &[String]) -> Reply {
    match rest {
        [] => {
            ctx.require_get()?;
            // An admin lists every project only when it asks for `all` (§2).
            let all = ctx.inc.query_first("all") == Some("true");
            let mut listed = st.items(Kind::Project, None);
            listed.retain(|p| ctx.caller.lists(st, p.meta.num, all));
            Ok((200, list(ctx, Kind::Project, listed)))
        }
        [id] => {
            let item = parse_id(id).and_then(|num| st.item(Kind::Project, num));
            let item = item.filter(|p| ctx.caller.lists(st, p.meta.num, true));
            let item = item.ok_or_else(ApiError::not_found)?;
            ctx.require_get()?;
            Ok((200, resource(ctx, &item)))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// Registries and registry credentials: collection, resource and link URLs.
fn objects(st: &mut SimState, ctx: &Ctx, kind: Kind, rest: &[String]) -> Reply {
    if let Some(status) = ctx.refuse_writes.filter(|_| ctx.inc.method != Method::GET) {
        return Err(ApiError::status(status));
    }
    let action = ctx.inc.query_first("action");
    match (rest, &ctx.inc.method) {
        ([], &Method::GET) => Ok((200, list(ctx, kind, st.items(kind, ctx.scope)))),
        ([], &Method::POST) if action.is_some() => {
            Err(ApiError::validation("InvalidAction", "action"))
        }
        ([], &Method::POST) => writes::create(st, ctx, kind),
        ([], _) => Err(ApiError::method_not_allowed()),
        ([id], method) => {
            let item = ctx.visible_item(st, kind, id)?;
            let num = item.meta.num;
            match (method, action) {
                (&Method::GET, _) => Ok((200, resource(ctx, &item))),
                (&Method::PUT, _) => writes::update(st, ctx, kind, num),
                (&Method::DELETE, _) => writes::delete(st, ctx, kind, num),
                (&Method::POST, Some(action)) => writes::action(st, ctx, kind, num, action),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        ([id, link], _) => {
            let item = ctx.visible_item(st, kind, id)?;
            ctx.require_get()?;
            follow_link(st, ctx, &item, &link.to_ascii_lowercase())
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `registries/<id>/credentials`, `registrycredentials/<id>/registry`, `…/account`.
fn follow_link(st: &SimState, ctx: &Ctx, item: &Item, link: &str) -> Reply {
    let registry_of = |c: &Item| c.column("registryId").as_str().and_then(parse_id);
    let target = match (item.kind, link) {
        (Kind::Registry, "credentials") => {
            let mut credentials = st.items(Kind::Credential, ctx.scope);
            credentials.retain(|c| registry_of(c) == Some(item.meta.num));
            return Ok((200, list(ctx, Kind::Credential, credentials)));
        }
        (Kind::Credential, "registry") => {
            registry_of(item).and_then(|num| st.item(Kind::Registry, num))
        }
        (_, "account") => st.item(Kind::Project, item.meta.account),
        _ => None,
    };
    let target = target.ok_or_else(ApiError::not_found)?;
    Ok((200, resource(ctx, &target)))
}

/// A JSON response with the headers every API response carries (§1, §8).
fn api_response(
    status: u16,
    body: &Value,
    schemas_url: &str,
    acting: Option<&(Caller, u64)>,
    challenge: bool,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("content-type", "application/json; charset=utf-8");
    set("x-api-schemas", schemas_url);
    set("x-rancher-version", RANCHER_VERSION);
    // The account the request acted as, and the key's own (§2).
    if let Some((caller, account)) = acting {
        set("x-api-account-id", &Kind::Project.format_id(*account));
        set("x-api-user-id", &Kind::Project.format_id(caller.account));
        set("x-api-account-kind", caller.kind.header_value());
        set("x-api-account-name", &caller.name);
    }
    if challenge {
        set("www-authenticate", AUTH_CHALLENGE);
    }
    response
}

/// Paths outside `/v1` and `/v2-beta` belong to the UI, not the API (§2).
fn non_api_not_found() -> Response {
    let html = "<html><body><h1>404 Not Found</h1></body></html>";
    let content_type = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    (StatusCode::NOT_FOUND, content_type, html).into_response()
}
