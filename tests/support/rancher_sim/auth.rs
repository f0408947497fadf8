//! Who is asking (docs/rancher-api.md §1), in which project the request acts
//! and what it may do there (§2, "Account keys and many environments"). Kept
//! apart from routing because these answers decide what every route may see.
//!
//! An environment key is its project. An account key belongs to a person: it
//! acts in a project only when the request names one (path, header or query)
//! and its user is a member there (an admin always is, as owner); without a
//! project it sees the `user` schema, where registries are read-only.

use axum::http::HeaderMap;
use base64::Engine as _;

use super::render::ApiError;
use super::schema::parse_id;
use super::state::SimState;
use super::{KeyKind, Role, ADMIN_ACCOUNT};

/// The authenticated caller.
#[derive(Clone)]
pub(super) struct Caller {
    pub kind: KeyKind,
    /// The key's own account: the project of environment keys, the user's
    /// account of account keys.
    pub account: u64,
    pub name: String,
}

impl Caller {
    /// The role the caller acts with in `project` (§2): an admin is owner
    /// everywhere, a user has its membership role, an environment key is
    /// owner of its own project only.
    pub(super) fn role_in(&self, st: &SimState, project: u64) -> Option<Role> {
        match self.kind {
            KeyKind::Admin => Some(Role::Owner),
            KeyKind::User => st.projects.get(&project)?.role_of(self.account),
            KeyKind::Environment | KeyKind::Project => {
                (project == self.account).then_some(Role::Owner)
            }
        }
    }

    /// Whether `project` is in this caller's list of environments (§2):
    /// projects it is a member of (an active one, or any as owner); every
    /// project for an admin that asks for `all`.
    pub(super) fn lists(&self, st: &SimState, project: u64, all: bool) -> bool {
        let Some(p) = st.projects.get(&project) else {
            return false;
        };
        let role = match self.kind {
            KeyKind::Admin if all => return true,
            KeyKind::Admin => p.role_of(self.account).map(|_| Role::Owner),
            _ => self.role_in(st, project),
        };
        role.is_some_and(|role| p.is_active() || role == Role::Owner)
    }
}

/// What a request may see and do.
pub(super) struct Access {
    /// The project the request acts in, if it names one or the key is an
    /// environment's.
    pub project: Option<u64>,
    /// The account whose objects are visible; `None`: every account.
    pub scope: Option<u64>,
    /// The status registry and credential writes are refused with, if they are.
    pub refuse_writes: Option<u16>,
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
            let name = match key.kind {
                KeyKind::User | KeyKind::Admin => Some(format!("user {}", key.owner)),
                // An environment that is missing or not active yields no account (§1).
                _ => (st.projects.get(&key.owner))
                    .filter(|p| p.is_active())
                    .map(|p| p.meta.name.clone().unwrap_or_default()),
            };
            if let Some(name) = name {
                let (kind, account) = (key.kind, key.owner);
                return Ok(Caller {
                    kind,
                    account,
                    name,
                });
            }
        }
    }
    if !st.access_control && !header_is_true(headers, "x-enforce-authentication") {
        return Ok(Caller {
            kind: KeyKind::Admin,
            account: ADMIN_ACCOUNT,
            name: "admin".to_string(),
        });
    }
    Err(ApiError::unauthorized())
}

/// What the caller may do, given the project the request names, if any (§2).
pub(super) fn access(
    st: &SimState,
    caller: &Caller,
    requested: Option<&str>,
) -> Result<Access, ApiError> {
    let Some(requested) = requested else {
        return Ok(match caller.kind {
            KeyKind::Environment | KeyKind::Project => Access {
                project: Some(caller.account),
                scope: Some(caller.account),
                refuse_writes: None,
            },
            // The `user` schema: registries are read-only, so a write is a
            // method the schema does not offer (§6). A user sees its own
            // account's objects (none), an admin every account's.
            KeyKind::User | KeyKind::Admin => Access {
                project: None,
                scope: (caller.kind == KeyKind::User).then_some(caller.account),
                refuse_writes: Some(405),
            },
        });
    };
    let num = parse_id(requested).ok_or_else(|| ApiError::coded(400, "InvalidFormat"))?;
    let active = st.projects.get(&num).is_some_and(|p| p.is_active());
    let role = caller.role_in(st, num).filter(|_| active);
    let role = role.ok_or_else(|| ApiError::status(403))?;
    Ok(Access {
        project: Some(num),
        scope: Some(num),
        // [inferred] 403 rather than 422 NotUpdatable: the client tolerates both.
        refuse_writes: (role == Role::Readonly).then_some(403),
    })
}
