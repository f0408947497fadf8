//! Lists: the resourceVersion rules (most recent, any, not older than,
//! exact), selectors, and `limit`/`continue` pages that together form one
//! snapshot, as docs/kubernetes-api.md §4 states them. A continue
//! token is opaque to clients: base64url of the snapshot's resourceVersion
//! and the last key served.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::kinds::Resource;
use super::routes::{Incoming, Target};
use super::select::{FieldSelector, LabelSelector, Selectors};
use super::state::{Key, SimState};
use super::status::{cause, KubeError};

pub const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The selectors of a list or watch request (400 when they do not parse).
pub fn selectors(inc: &Incoming, resource: Resource) -> Result<Selectors, KubeError> {
    Ok(Selectors {
        labels: LabelSelector::parse(inc.param("labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(resource, inc.param("fieldSelector").unwrap_or(""))?,
    })
}

/// Whether an object of the store is in the request's scope.
pub fn in_scope(target: &Target, key: &Key, selectors: &Selectors, object: &Value) -> bool {
    target.namespace.as_ref().is_none_or(|ns| *ns == key.1) && selectors.matches(object)
}

/// 422 for invalid ListOptions.
pub fn invalid_options(field: &str, detail: &str) -> KubeError {
    let message = format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: Forbidden: {detail}");
    let text = format!("Forbidden: {detail}");
    KubeError {
        details: json!({"group": "meta.k8s.io", "kind": "ListOptions",
            "causes": [cause("FieldValueForbidden", &text, field)]}),
        ..KubeError::new(422, "Invalid", message)
    }
}

/// 504 for a resourceVersion the store has not reached.
pub fn too_large(asked: u64, current: u64) -> KubeError {
    let message = format!("Too large resource version: {asked}, current: {current}");
    KubeError {
        details: json!({"causes": [cause("ResourceVersionTooLarge", &message, "")]}),
        retry_after: Some(1),
        ..KubeError::new(504, "Timeout", format!("Timeout: {message}"))
    }
}

pub fn parse_rv(text: &str) -> Result<u64, KubeError> {
    text.parse()
        .map_err(|_| KubeError::bad_request(format!("invalid resource version \"{text}\"")))
}

/// The resourceVersion a list without `continue` is served at.
fn list_rv(st: &SimState, inc: &Incoming, limited: bool) -> Result<u64, KubeError> {
    let rv = inc.param("resourceVersion").filter(|v| !v.is_empty());
    let matching = inc.param("resourceVersionMatch").filter(|v| !v.is_empty());
    if inc.param("sendInitialEvents").is_some() {
        return Err(invalid_options(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    let (Some(rv), matching) = (rv, matching) else {
        if matching.is_some() {
            let why = "resourceVersionMatch is forbidden unless resourceVersion is provided";
            return Err(invalid_options("resourceVersionMatch", why));
        }
        return Ok(st.rv);
    };
    if rv == "0" {
        if matching == Some("Exact") {
            let why = "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"";
            return Err(invalid_options("resourceVersionMatch", why));
        }
        return Ok(st.rv);
    }
    let asked = parse_rv(rv)?;
    if asked > st.rv {
        return Err(too_large(asked, st.rv));
    }
    match matching {
        Some("Exact") => Ok(asked),
        None if limited => Ok(asked),
        _ => Ok(st.rv),
    }
}

fn encode_continue(rv: u64, last: &Key) -> String {
    let start = format!("{}/{}", last.1, last.2);
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    URL_SAFE_NO_PAD.encode(token.to_string())
}

/// (snapshot resourceVersion, last key served) of a continue token.
fn decode_continue(token: &str) -> Result<(u64, String, String), KubeError> {
    let bad = || KubeError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = value["rv"].as_u64().ok_or_else(bad)?;
    let start = value["start"].as_str().ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, ns.to_string(), name.to_string()))
}

/// `GET` on a collection.
pub fn list(st: &SimState, inc: &Incoming, target: &Target) -> Result<Value, KubeError> {
    let resource = target.resource;
    let selectors = selectors(inc, resource)?;
    let limit = inc
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let (rv, after) = match inc.param("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            if inc
                .param("resourceVersionMatch")
                .is_some_and(|m| !m.is_empty())
            {
                let why = "resourceVersionMatch is forbidden when continue is provided";
                return Err(invalid_options("resourceVersionMatch", why));
            }
            let (rv, ns, name) = decode_continue(token)?;
            (rv, Some((resource, ns, name)))
        }
        None => (list_rv(st, inc, limit.is_some())?, None),
    };
    let snapshot = st.snapshot_at(resource, rv).ok_or_else(|| match after {
        Some(_) => KubeError::expired(CONTINUE_EXPIRED),
        None => KubeError::expired(format!("too old resource version: {rv} ({})", st.compacted)),
    })?;
    let matching: Vec<(&Key, &Value)> = snapshot
        .iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|a| *key > a))
        .filter(|(key, object)| in_scope(target, key, &selectors, object))
        .collect();
    let take = limit.unwrap_or(usize::MAX).min(matching.len());
    let items: Vec<Value> = matching[..take].iter().map(|(_, o)| (*o).clone()).collect();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if take < matching.len() {
        metadata["continue"] = json!(encode_continue(rv, matching[take - 1].0));
        metadata["remainingItemCount"] = json!(matching.len() - take);
    }
    Ok(json!({
        "kind": format!("{}List", resource.kind()),
        "apiVersion": resource.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}
