//! Objects and errors as JSON, the way Cattle renders them (docs/rancher-api.md
//! §3, §6): every schema field with nulls included, `<date>TS` companions,
//! lower-cased links, and only the actions the current state allows.
//!
//! An object is read through an [`Item`], which computes one column value
//! at a time (the secret included). Filters and sorting (collections.rs) ask
//! it for the columns they test, and rendering for the page's fields only, so
//! a list of 200 out of 40,000 stored objects costs 200 small reads, and a
//! filter never sees a value that rendering would show differently.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::routes::Ctx;
use super::schema::{schema, Kind};
use super::state::{
    is_transitioning, new_uuid, Credential, Meta, Process, Project, Registry, SimState,
};

/// One stored object, read column by column.
pub(super) struct Item<'a> {
    pub kind: Kind,
    pub meta: &'a Meta,
    object: Object<'a>,
}

enum Object<'a> {
    Registry(&'a Registry),
    Credential(&'a Credential),
    Project(&'a Project),
}

impl SimState {
    /// The objects of `kind` in account `scope` (`None`: every account),
    /// removed ones included; projects are all listed.
    pub(super) fn items(&self, kind: Kind, scope: Option<u64>) -> Vec<Item<'_>> {
        match (kind, scope) {
            (Kind::Registry, Some(account)) => {
                self.registries_in(account).map(Item::registry).collect()
            }
            (Kind::Registry, None) => self.registries.values().map(Item::registry).collect(),
            (Kind::Credential, Some(account)) => {
                self.credentials_in(account).map(Item::credential).collect()
            }
            (Kind::Credential, None) => self.credentials.values().map(Item::credential).collect(),
            (Kind::Project, _) => self.projects.values().map(Item::project).collect(),
            _ => Vec::new(),
        }
    }

    pub(super) fn item(&self, kind: Kind, num: u64) -> Option<Item<'_>> {
        match kind {
            Kind::Registry => self.registries.get(&num).map(Item::registry),
            Kind::Credential => self.credentials.get(&num).map(Item::credential),
            Kind::Project => self.projects.get(&num).map(Item::project),
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

impl<'a> Item<'a> {
    fn registry(r: &'a Registry) -> Item<'a> {
        let (kind, meta, object) = (Kind::Registry, &r.meta, Object::Registry(r));
        Item { kind, meta, object }
    }

    fn credential(c: &'a Credential) -> Item<'a> {
        let (kind, meta, object) = (Kind::Credential, &c.meta, Object::Credential(c));
        Item { kind, meta, object }
    }

    fn project(p: &'a Project) -> Item<'a> {
        let (kind, meta, object) = (Kind::Project, &p.meta, Object::Project(p));
        Item { kind, meta, object }
    }

    /// The raw value of column `name`; null when the type has no such column.
    pub(super) fn column(&self, name: &str) -> Value {
        let meta = self.meta;
        let transitioning = is_transitioning(&meta.state);
        match (name, &self.object) {
            ("id", _) => json!(self.kind.format_id(meta.num)),
            ("kind", _) => json!(schema(self.kind, false).id),
            ("accountId", _) => json!(Kind::Project.format_id(meta.account)),
            ("name", _) => json!(meta.name),
            ("description", _) => json!(meta.description),
            ("state", _) => json!(meta.state),
            ("transitioning", _) => json!(if transitioning { "yes" } else { "no" }),
            ("transitioningMessage", _) => json!(transitioning.then_some("In Progress")),
            ("uuid", _) => json!(meta.uuid),
            ("created", _) => json!(date(meta.created)),
            ("removed", _) => json!(meta.removed.map(date)),
            ("serverAddress", Object::Registry(r)) => json!(r.server_address),
            ("registryId", Object::Credential(c)) => json!(Kind::Registry.format_id(c.registry)),
            ("publicValue", Object::Credential(c)) => json!(c.public_value),
            ("secretValue", Object::Credential(c)) => json!(c.secret_value),
            ("email", Object::Credential(c)) => json!(c.email),
            ("orchestration", Object::Project(p)) => json!(p.orchestration),
            _ => Value::Null,
        }
    }
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
            Value::Null
        } else {
            item.column(field.name)
        };
        out.insert(field.name.into(), value);
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
