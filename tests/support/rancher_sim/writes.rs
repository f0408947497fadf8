//! Writes (docs/rancher-api.md §5): create, partial update, actions, delete,
//! with the validation of §3 and the error codes of §6.
//!
//! Which keys count is decided by the caller's schema, never by this module:
//! unknown or non-writable keys are dropped silently, as Cattle drops them, so
//! a client sending go-rancher's `{"links":null,…}` bodies works here too.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::render::{resource, ApiError};
use super::routes::{Ctx, Reply};
use super::schema::{parse_id, schema, Field, Kind};
use super::state::{Credential, Meta, Process, SimState};

/// The JSON object body, whatever the Content-Type, with query parameters merged in (§4).
fn body(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let invalid = || ApiError::coded(400, "InvalidBodyContent");
    let bytes = ctx.inc.body.as_ref().ok_or_else(invalid)?;
    let mut map = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => map,
            _ => return Err(invalid()),
        }
    };
    for pair in &ctx.inc.query {
        map.entry(pair.key.clone())
            .or_insert_with(|| Value::String(pair.value.clone()));
    }
    Ok(map)
}

/// One input value checked against its field; the result is text or null.
fn validate(field: &Field, value: &Value, creating: bool) -> Result<Option<String>, ApiError> {
    let text = match value {
        Value::Null if creating && field.required => {
            return Err(ApiError::validation("MissingRequired", field.name))
        }
        Value::Null if !field.nullable => {
            return Err(ApiError::validation("NotNullable", field.name))
        }
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
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
    Ok(Some(text))
}

/// The body's values for the fields `writable` selects, validated.
fn values(
    ctx: &Ctx,
    kind: Kind,
    creating: bool,
) -> Result<BTreeMap<&'static str, Option<String>>, ApiError> {
    let body = body(ctx)?;
    let mut values = BTreeMap::new();
    let fields = schema(kind, ctx.email).fields();
    for field in fields.filter(|f| if creating { f.create } else { f.update }) {
        match body.get(field.name) {
            Some(value) => {
                values.insert(field.name, validate(field, value, creating)?);
            }
            None if creating && field.required => {
                return Err(ApiError::validation("MissingRequired", field.name))
            }
            None => {}
        }
    }
    Ok(values)
}

/// `POST <collection>`: 201 with the object `registering` (§5).
pub(super) fn create(st: &mut SimState, ctx: &Ctx, kind: Kind) -> Reply {
    let mut values = values(ctx, kind, true)?;
    let mut take = |name| values.remove(name).flatten();
    // Unscoped account keys never get here: their writes are refused.
    let account = ctx.scope.ok_or_else(ApiError::method_not_allowed)?;
    let mut meta = Meta::new(account, "requested");
    meta.name = take("name");
    meta.description = take("description");

    let num = match kind {
        Kind::Registry => {
            let address = take("serverAddress").unwrap_or_default();
            let used = st.registries_in(account).any(|r| {
                r.meta.removed.is_none()
                    && r.meta.state != "purged"
                    && r.server_address.to_lowercase() == address.to_lowercase()
            });
            if used {
                return Err(ApiError::coded(400, "ServerAddressUsed"));
            }
            st.insert_registry(meta, &address)
        }
        Kind::Credential => {
            let registry = (take("registryId").and_then(|id| parse_id(&id)))
                .filter(|num| {
                    st.registries
                        .get(num)
                        .is_some_and(|r| ctx.visible(r.meta.account) && r.meta.removed.is_none())
                })
                .ok_or_else(|| ApiError::validation("InvalidReference", "registryId"))?;
            st.insert_credential(Credential {
                meta,
                registry,
                public_value: take("publicValue"),
                secret_value: take("secretValue"),
                email: take("email"),
            })
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    st.start(kind, num, Process::CREATE, st.activation_delay);
    let item = st.item(kind, num).ok_or_else(|| ApiError::status(500))?;
    Ok((201, resource(ctx, &item)))
}

/// `PUT <self>`: partial update of the updatable fields; 200 (§5).
pub(super) fn update(st: &mut SimState, ctx: &Ctx, kind: Kind, num: u64) -> Reply {
    for (name, value) in values(ctx, kind, false)? {
        let slot = match (kind, name) {
            (Kind::Credential, "publicValue") => {
                st.credentials.get_mut(&num).map(|c| &mut c.public_value)
            }
            (Kind::Credential, "secretValue") => {
                st.credentials.get_mut(&num).map(|c| &mut c.secret_value)
            }
            (Kind::Credential, "email") => st.credentials.get_mut(&num).map(|c| &mut c.email),
            (_, "name") => st.meta_mut(kind, num).map(|m| &mut m.name),
            (_, "description") => st.meta_mut(kind, num).map(|m| &mut m.description),
            _ => None,
        };
        if let Some(slot) = slot {
            *slot = value;
        }
    }
    let item = st.item(kind, num).ok_or_else(ApiError::not_found)?;
    Ok((200, resource(ctx, &item)))
}

/// `POST <self>/?action=<name>`: 202 with the transitioning state (§5).
pub(super) fn action(st: &mut SimState, ctx: &Ctx, kind: Kind, num: u64, name: &str) -> Reply {
    let not_available = || ApiError::validation("ActionNotAvailable", "action");
    let process = match Process::from_action(name) {
        Some(process) => process,
        None if matches!(name, "create" | "restore") => return Err(not_available()),
        None => return Err(ApiError::validation("InvalidAction", "action")),
    };
    if !st.start(kind, num, process, 0) {
        return Err(not_available());
    }
    let item = st.item(kind, num).ok_or_else(ApiError::not_found)?;
    Ok((202, resource(ctx, &item)))
}

/// `DELETE <self>`: the remove process; 405 when it cannot start (§5).
pub(super) fn delete(st: &mut SimState, ctx: &Ctx, kind: Kind, num: u64) -> Reply {
    if !st.start(kind, num, Process::REMOVE, 0) {
        return Err(ApiError::method_not_allowed());
    }
    let item = st.item(kind, num).ok_or_else(ApiError::not_found)?;
    Ok((200, resource(ctx, &item)))
}
