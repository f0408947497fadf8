//! Objects and errors as JSON, the way Cattle renders them (docs/rancher-api.md
//! §3, §6): every schema field with nulls included, `<date>TS` companions,
//! lower-cased links, and only the actions the current state allows.
//!
//! An object first becomes an [`Item`], a flat map of its raw column values
//! (the secret included). Filters and sorting (collections.rs) work on the
//! same map that rendering reads, so a filter can never see a value that
//! rendering would show differently.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::routes::Ctx;
use super::schema::{schema, Kind};
use super::state::{
    is_transitioning, new_uuid, Credential, Meta, Process, Project, Registry, SimState,
};

/// One stored object: its metadata and its raw column values.
pub(super) struct Item<'a> {
    pub kind: Kind,
    pub meta: &'a Meta,
    /// A JSON object; a missing key reads as null.
    pub raw: Value,
}

impl SimState {
    /// The objects of `kind` in the accounts `visible` accepts, removed ones included.
    pub(super) fn items(&self, kind: Kind, visible: impl Fn(u64) -> bool) -> Vec<Item<'_>> {
        match kind {
            Kind::Registry => (self.registries.values())
                .filter(|r| visible(r.meta.account))
                .map(registry_item)
                .collect(),
            Kind::Credential => (self.credentials.values())
                .filter(|c| visible(c.meta.account))
                .map(credential_item)
                .collect(),
            Kind::Project => (self.projects.values())
                .filter(|p| visible(p.meta.account))
                .map(project_item)
                .collect(),
            _ => Vec::new(),
        }
    }

    pub(super) fn item(&self, kind: Kind, num: u64) -> Option<Item<'_>> {
        match kind {
            Kind::Registry => self.registries.get(&num).map(registry_item),
            Kind::Credential => self.credentials.get(&num).map(credential_item),
            Kind::Project => self.projects.get(&num).map(project_item),
            _ => None,
        }
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss'Z'` (§3).
fn date(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn millis(time: SystemTime) -> u128 {
    let since = time.duration_since(UNIX_EPOCH);
    since.map_or(0, |since| since.as_millis())
}

/// The columns every object has, plus the type's `own`.
fn item(kind: Kind, meta: &Meta, own: Value) -> Item<'_> {
    let transitioning = is_transitioning(&meta.state);
    let mut raw = json!({
        "id": kind.format_id(meta.num),
        "kind": schema(kind, false).id,
        "accountId": Kind::Project.format_id(meta.account),
        "name": meta.name,
        "description": meta.description,
        "state": meta.state,
        "transitioning": if transitioning { "yes" } else { "no" },
        "transitioningMessage": transitioning.then_some("In Progress"),
        "uuid": meta.uuid,
        "created": date(meta.created),
        "removed": meta.removed.map(date),
    });
    if let (Some(raw), Value::Object(own)) = (raw.as_object_mut(), own) {
        raw.extend(own);
    }
    Item { kind, meta, raw }
}

fn registry_item(r: &Registry) -> Item<'_> {
    item(
        Kind::Registry,
        &r.meta,
        json!({"serverAddress": r.server_address}),
    )
}

fn credential_item(c: &Credential) -> Item<'_> {
    let own = json!({
        "registryId": Kind::Registry.format_id(c.registry),
        "publicValue": c.public_value,
        "secretValue": c.secret_value,
        "email": c.email,
    });
    item(Kind::Credential, &c.meta, own)
}

fn project_item(p: &Project) -> Item<'_> {
    item(Kind::Project, &p.meta, json!({}))
}

/// Renders a resource as the API does (§3): every schema field, nulls included.
pub(super) fn resource(ctx: &Ctx, item: &Item) -> Value {
    let schema = schema(item.kind, ctx.email);
    let (meta, id) = (item.meta, item.kind.format_id(item.meta.num));
    let self_url = format!(
        "{}/{}/{id}",
        ctx.api_base,
        schema.plural.to_ascii_lowercase()
    );
    let mut out = Map::new();
    for field in schema.fields() {
        // Read-on-create-only values are echoed only in POST responses (§3).
        let hidden = field.read_on_create_only && ctx.inc.method != "POST";
        let value = if hidden {
            &Value::Null
        } else {
            &item.raw[field.name]
        };
        out.insert(field.name.into(), value.clone());
    }
    out.insert("createdTS".into(), json!(millis(meta.created)));
    if let Some(removed) = meta.removed {
        out.insert("removedTS".into(), json!(millis(removed)));
    }
    let link = |name: &str| (name.to_string(), json!(format!("{self_url}/{name}")));
    let mut links: Map<String, Value> = match item.kind {
        Kind::Registry => [link("account"), link("credentials")].into_iter().collect(),
        Kind::Credential => [link("account"), link("registry")].into_iter().collect(),
        Kind::Project => {
            let scoped = format!("{}/projects/{id}", ctx.version_base);
            [
                ("schemas", "schemas"),
                ("registries", "registries"),
                ("registryCredentials", "registrycredentials"),
            ]
            .into_iter()
            .map(|(name, path)| (name.to_string(), json!(format!("{scoped}/{path}"))))
            .collect()
        }
        _ => Map::new(),
    };
    links.insert("self".into(), json!(self_url));
    let actions: Map<String, Value> = Process::LISTED
        .into_iter()
        .filter(|p| schema.actions.contains(&p.name) && p.can_start(&meta.state))
        .map(|p| {
            (
                p.name.into(),
                json!(format!("{self_url}/?action={}", p.name)),
            )
        })
        .collect();
    out.insert("id".into(), json!(id));
    out.insert("type".into(), json!(schema.id));
    out.insert("baseType".into(), json!(schema.base_type));
    out.insert("links".into(), Value::Object(links));
    out.insert("actions".into(), Value::Object(actions));
    Value::Object(out)
}

/// An API error (§6); `challenge` asks for `WWW-Authenticate` (§1).
#[derive(Debug)]
pub(super) struct ApiError {
    pub status: u16,
    code: String,
    message: Option<String>,
    field_name: Option<String>,
    pub challenge: bool,
}

impl ApiError {
    /// A plain status error: code and message are the status text (§6).
    pub(super) fn status(status: u16) -> ApiError {
        let code = match status {
            405 => "Method not allowed",
            other => StatusCode::from_u16(other)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error"),
        };
        ApiError::coded(status, code)
    }

    pub(super) fn coded(status: u16, code: &str) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: Some(code.to_string()),
            field_name: None,
            challenge: false,
        }
    }

    /// A 422 validation error: `fieldName` set, `message` null.
    pub(super) fn validation(code: &str, field: &str) -> ApiError {
        ApiError {
            message: None,
            field_name: Some(field.to_string()),
            ..ApiError::coded(422, code)
        }
    }

    /// 401 with a `WWW-Authenticate` challenge (§1).
    pub(super) fn unauthorized() -> ApiError {
        ApiError {
            challenge: true,
            ..ApiError::status(401)
        }
    }

    pub(super) fn not_found() -> ApiError {
        ApiError::status(404)
    }

    pub(super) fn method_not_allowed() -> ApiError {
        ApiError::status(405)
    }

    pub(super) fn to_json(&self) -> Value {
        let mut body = json!({
            "id": new_uuid(),
            "type": "error",
            "baseType": "error",
            "links": {},
            "actions": {},
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "detail": null,
        });
        if let Some(field) = &self.field_name {
            body["fieldName"] = json!(field);
        }
        body
    }
}
