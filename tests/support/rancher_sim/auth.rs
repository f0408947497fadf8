//! Who is asking (docs/rancher-api.md §1) and in which project the request
//! acts (§2). Kept apart from routing because these two answers decide what
//! every route may see.

use axum::http::HeaderMap;
use base64::Engine as _;

use super::render::ApiError;
use super::schema::parse_id;
use super::state::SimState;
use super::{KeyKind, ADMIN_ACCOUNT};

/// The authenticated caller.
#[derive(Clone)]
pub(super) struct Caller {
    pub kind: KeyKind,
    pub account: u64,
    /// The environment of environment and project keys.
    pub project: Option<u64>,
    pub name: String,
}

fn admin() -> Caller {
    Caller {
        kind: KeyKind::Admin,
        account: ADMIN_ACCOUNT,
        project: None,
        name: "admin".to_string(),
    }
}

fn header_is_true(headers: &HeaderMap, name: &str) -> bool {
    (headers.get(name).and_then(|v| v.to_str().ok()))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `Authorization: Basic …` split as Cattle splits it: two words, any-case
/// scheme, the decoded text cut at the first `:`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let [scheme, encoded] = value.split_whitespace().collect::<Vec<_>>()[..] else {
        return None;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (access, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((access.to_string(), secret.to_string()))
}

/// The caller, or 401 (with a challenge) / 409 `MultipleKeys`.
pub(super) fn authenticate(st: &SimState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    if let Some((access, secret)) = basic_credentials(headers) {
        let mut matching = st.keys.iter().filter(|k| k.access == access);
        let key = matching.next();
        if matching.next().is_some() {
            return Err(ApiError::coded(409, "MultipleKeys"));
        }
        if let Some(key) = key.filter(|k| k.secret == secret) {
            if key.kind == KeyKind::Admin {
                return Ok(admin());
            }
            // A missing environment yields no account: 401.
            let project = key
                .project
                .and_then(|num| Some((num, st.projects.get(&num)?)));
            if let Some((num, project)) = project {
                return Ok(Caller {
                    kind: key.kind,
                    account: num,
                    project: Some(num),
                    name: project.meta.name.clone().unwrap_or_default(),
                });
            }
        }
    }
    if !st.access_control && !header_is_true(headers, "x-enforce-authentication") {
        return Ok(admin());
    }
    Err(ApiError::unauthorized())
}

/// The account whose objects the request sees, from the path, the
/// `X-API-Project-Id` header or `?projectId=` (§2); `None` means every account
/// (an admin without a project).
pub(super) fn scope(
    st: &SimState,
    caller: &Caller,
    requested: Option<&str>,
) -> Result<Option<u64>, ApiError> {
    let Some(requested) = requested else {
        return Ok(caller.project);
    };
    let num = parse_id(requested).ok_or_else(|| ApiError::coded(400, "InvalidFormat"))?;
    let allowed = caller.kind == KeyKind::Admin || caller.project == Some(num);
    if !st.projects.contains_key(&num) || !allowed {
        return Err(ApiError::status(403));
    }
    Ok(Some(num))
}
