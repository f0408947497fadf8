//! Failures and races a test can script: the next requests fail, requests of
//! one kind fail, or another writer creates a registry just before our POST.
//! They sit before authentication in the request path, so a fault looks like
//! a proxy or a server in trouble, whoever asks. Each is consumed as it fires.
//!
//! Besides them, lasting departures from the contract (docs/rancher-api.md),
//! for clients that must refuse what a broken server or proxy sends: the
//! account headers left out (§1 says every authenticated response has
//! them), a field rendered `null` (§3 says a credential always has its
//! `registryId` and `accountId`), a collection whose `pagination.next`
//! never ends (§4). They reshape a response the contract would send.

use axum::http::Method;
use serde_json::Value;

use super::routes::Incoming;
use super::state::{Meta, SimState};
use super::RancherSim;

#[derive(Default)]
pub(super) struct Faults {
    /// The next `n` API requests answer this status.
    next: Option<(usize, u16)>,
    rules: Vec<Rule>,
    /// Registries (project, address) that appear just before the next POST.
    before_next_post: Vec<(u64, String)>,
    /// Responses leave out the `X-API-Account-*` headers.
    pub(super) no_account_headers: bool,
    /// (resource type, field) rendered `null` wherever that type is rendered.
    blank_fields: Vec<(String, String)>,
    /// Collections of these resource types always have a `next` page.
    endless: Vec<String>,
}

/// The next `remaining` requests with `method` whose path contains `path_part`.
struct Rule {
    method: String,
    path_part: String,
    remaining: usize,
    status: u16,
}

impl Faults {
    /// The status the request must fail with, if a fault fires for it.
    fn fire(&mut self, method: &Method, path: &str) -> Option<u16> {
        if let Some((remaining, status)) = self.next.as_mut().filter(|(n, _)| *n > 0) {
            *remaining -= 1;
            return Some(*status);
        }
        let rule = self.rules.iter_mut().find(|rule| {
            rule.remaining > 0 && rule.method == method.as_str() && path.contains(&rule.path_part)
        })?;
        rule.remaining -= 1;
        Some(rule.status)
    }
}

/// Runs the faults due for a request; returns the status it must fail with.
pub(super) fn apply(st: &mut SimState, method: &Method, path: &str) -> Option<u16> {
    if let Some(status) = st.faults.fire(method, path) {
        return Some(status);
    }
    if method == Method::POST {
        for (account, address) in std::mem::take(&mut st.faults.before_next_post) {
            st.insert_registry(Meta::new(account, "active"), &address);
        }
    }
    None
}

/// Applies the lasting departures to a successful response `body`.
pub(super) fn reshape(st: &SimState, inc: &Incoming, body: &mut Value) {
    let faults = &st.faults;
    let collection = body["type"] == "collection";
    let resource_type = match collection {
        true => body["resourceType"].as_str(),
        false => body["type"].as_str(),
    };
    let Some(resource_type) = resource_type.map(str::to_string) else {
        return;
    };
    let blank = faults
        .blank_fields
        .iter()
        .filter(|(t, _)| *t == resource_type);
    for (_, field) in blank {
        match body["data"].as_array_mut() {
            Some(data) if collection => data.iter_mut().for_each(|o| o[field] = Value::Null),
            _ if !collection => body[field] = Value::Null,
            _ => {}
        }
    }
    if collection && faults.endless.contains(&resource_type) {
        let offset = (inc.query_first("marker"))
            .and_then(|m| m.strip_prefix('m')?.parse::<u64>().ok())
            .unwrap_or(0);
        let limit = body["pagination"]["limit"].as_u64().unwrap_or(100).max(1);
        let kept: Vec<&str> = (inc.query.iter())
            .filter(|q| q.key != "marker")
            .map(|q| q.raw.as_str())
            .chain(std::iter::once(""))
            .collect();
        let next = format!(
            "{}?{}marker=m{}",
            inc.self_url,
            kept.join("&"),
            offset + limit
        );
        body["pagination"]["next"] = Value::String(next);
        body["pagination"]["partial"] = Value::Bool(true);
    }
}

impl RancherSim {
    /// The next `n` API requests get `status` with a Rancher error body, before auth.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.lock().faults.next = Some((n, status));
    }

    /// The next `n` API requests with `method` whose path contains
    /// `path_part` answer `status` (after the `fail_next` ones).
    pub fn fail_matching(&self, method: &str, path_part: &str, n: usize, status: u16) {
        self.shared.lock().faults.rules.push(Rule {
            method: method.to_string(),
            path_part: path_part.to_string(),
            remaining: n,
            status,
        });
    }

    /// Simulates a concurrent writer: just before the next POST is handled,
    /// an active registry with `server_address` appears in `project`.
    pub fn add_registry_before_next_post(&self, project: &str, server_address: &str) {
        let account = super::must_parse_id(project);
        self.shared
            .lock()
            .faults
            .before_next_post
            .push((account, server_address.to_string()));
    }

    /// Responses carry no `X-API-Account-Id`, `-User-Id`, `-Account-Kind`
    /// or `-Account-Name` (as behind a proxy that strips them), or carry
    /// them again (`true`, the default).
    pub fn set_account_headers(&self, sent: bool) {
        self.shared.lock().faults.no_account_headers = !sent;
    }

    /// Renders `field` of every `resource_type` object (`registryCredential`,
    /// `registry`, `project`) as `null`, in lists and single objects alike.
    /// Filters still see the stored value.
    pub fn blank_field(&self, resource_type: &str, field: &str) {
        let blank = (resource_type.to_string(), field.to_string());
        self.shared.lock().faults.blank_fields.push(blank);
    }

    /// Collections of `resource_type` never end: every page, empty ones past
    /// the last object included, links a `next` page further on.
    pub fn paginate_forever(&self, resource_type: &str) {
        let resource_type = resource_type.to_string();
        self.shared.lock().faults.endless.push(resource_type);
    }
}
