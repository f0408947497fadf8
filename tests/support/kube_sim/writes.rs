//! Get, create, update, patch and delete of one object
//! (docs/kubernetes-api.md §6, §7, §10, §11): 201 on
//! create, AlreadyExists, optimistic 409s on a stale resourceVersion,
//! unconditional PUTs except for Leases (which a PUT may create), 403 for
//! creates in a terminating namespace, Secret deletes answered by a Success
//! Status, namespace deletes that only start termination.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{json, Value};

use super::apply::{self, record_update};
use super::kinds::Resource;
use super::patch::{json_patch, merge_patch, strategic};
use super::routes::{authorize, Incoming, Target};
use super::state::{now, Key, SimState};
use super::status::{json_response, success, KubeError};
use super::validate::admit;
use super::Shared;

const UNSUPPORTED_PATCH: &str = "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";
/// Namespaces the lifecycle admission never lets go.
const IMMORTAL: [&str; 3] = ["default", "kube-system", "kube-public"];
const STILL_TERMINATING: &str = "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.";

fn key(target: &Target, name: &str) -> Key {
    (target.resource, target.key_namespace(), name.to_string())
}

fn respond(code: u16, body: Value) -> Response {
    json_response(code, &body)
}

/// The manager non-apply writes are recorded under.
fn manager(inc: &Incoming) -> String {
    let agent = inc.headers.get("user-agent").and_then(|v| v.to_str().ok());
    let agent = agent.map(|a| a.split('/').next().unwrap_or(a).to_string());
    (inc.param("fieldManager").map(str::to_string))
        .or(agent)
        .unwrap_or_else(|| "unknown".into())
}

pub fn get(st: &SimState, target: &Target) -> Result<Value, KubeError> {
    let name = target.name.as_deref().unwrap_or("");
    let object = st.get(&key(target, name)).cloned();
    object.ok_or_else(|| KubeError::not_found(target.resource, name))
}

/// Fills in kind, apiVersion and the URL's namespace; 400 on a mismatch.
fn normalize(target: &Target, body: &mut Value, name: &str) -> Result<(), KubeError> {
    let resource = target.resource;
    if !body.is_object() || !body["metadata"].is_object() && !body["metadata"].is_null() {
        return Err(KubeError::bad_request(
            "the body of the request was in an unknown format",
        ));
    }
    body["kind"] = json!(resource.kind());
    body["apiVersion"] = json!(resource.api_version());
    let body_ns = body["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if let Some(ns) = &target.namespace {
        if !body_ns.is_empty() && body_ns != *ns {
            let message = "the namespace of the provided object does not match the namespace sent on the request";
            return Err(KubeError::bad_request(message));
        }
        body["metadata"]["namespace"] = json!(ns);
    }
    let body_name = body["metadata"]["name"].as_str().unwrap_or("");
    if !name.is_empty() && body_name != name {
        let message = format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        );
        return Err(KubeError::bad_request(message));
    }
    Ok(())
}

/// The checks a create passes before it is stored.
fn admit_create(st: &SimState, target: &Target, name: &str) -> Result<(), KubeError> {
    if let Some(ns) = target.namespace.as_deref() {
        if !st.namespace_exists(ns) {
            return Err(KubeError::not_found(Resource::Namespaces, ns));
        }
        if st.terminating(ns) {
            return Err(KubeError::terminating(target.resource, name, ns));
        }
    }
    if st.get(&key(target, name)).is_some() {
        return Err(KubeError::already_exists(target.resource, name));
    }
    Ok(())
}

/// Stores a new object (after defaulting and validation); 201.
fn store_new(
    st: &mut SimState,
    target: &Target,
    body: Value,
    manager: &str,
) -> Result<Response, KubeError> {
    let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
    admit_create(st, target, &name)?;
    let mut object = admit(target.resource, body, None)?;
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
        ] {
            meta.remove(field);
        }
    }
    let key = key(target, &name);
    record_update(
        st.owners.entry(key.clone()).or_default(),
        manager,
        None,
        &object,
    );
    object = st.put(key, object);
    Ok(respond(201, object))
}

pub fn create(
    st: &mut SimState,
    inc: &Incoming,
    target: &Target,
    _user: &str,
) -> Result<Response, KubeError> {
    let mut body = inc.json()?;
    normalize(target, &mut body, "")?;
    let meta = &body["metadata"];
    if meta["name"].as_str().unwrap_or("").is_empty() {
        match meta["generateName"].as_str().filter(|g| !g.is_empty()) {
            Some(prefix) => {
                let suffix: String = (0..5)
                    .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
                    .collect();
                body["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
            }
            None => {
                let errors = [(
                    "metadata.name".to_string(),
                    "Required value: name or generateName is required".to_string(),
                    "FieldValueRequired",
                )];
                return Err(KubeError::invalid(target.resource, "", &errors));
            }
        }
    }
    store_new(st, target, body, &manager(inc))
}

/// Stores `object` over `old` (after defaulting and validation); 200.
fn store_update(
    st: &mut SimState,
    target: &Target,
    old: &Value,
    object: Value,
    manager: &str,
) -> Result<Response, KubeError> {
    let name = target.name.clone().unwrap_or_default();
    let mut object = admit(target.resource, object, Some(old))?;
    object["metadata"]
        .as_object_mut()
        .map(|m| m.remove("managedFields"));
    let key = key(target, &name);
    record_update(
        st.owners.entry(key.clone()).or_default(),
        manager,
        Some(old),
        &object,
    );
    Ok(respond(200, st.put(key, object)))
}

/// 409 unless `body`'s resourceVersion (when set) is the stored one.
fn precondition(target: &Target, body: &Value, old: &Value) -> Result<(), KubeError> {
    let asked = body["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if !asked.is_empty() && asked != old["metadata"]["resourceVersion"].as_str().unwrap_or("") {
        return Err(KubeError::conflict(
            target.resource,
            target.name.as_deref().unwrap_or(""),
        ));
    }
    Ok(())
}

pub fn update(
    st: &mut SimState,
    inc: &Incoming,
    target: &Target,
    user: &str,
) -> Result<Response, KubeError> {
    let name = target.name.clone().unwrap_or_default();
    let mut body = inc.json()?;
    normalize(target, &mut body, &name)?;
    let Some(old) = st.get(&key(target, &name)).cloned() else {
        if target.resource != Resource::Leases {
            return Err(KubeError::not_found(target.resource, &name));
        }
        authorize(
            st,
            user,
            "create",
            &Target {
                name: None,
                ..target.clone()
            },
        )?;
        return store_new(st, target, body, &manager(inc));
    };
    let asked = body["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if asked.is_empty() && target.resource == Resource::Leases {
        let message = format!("{} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update", target.resource.qualified());
        return Err(KubeError {
            details: json!({"name": name, "group": "coordination.k8s.io", "kind": "leases"}),
            ..KubeError::new(422, "Invalid", message)
        });
    }
    precondition(target, &body, &old)?;
    store_update(st, target, &old, body, &manager(inc))
}

pub fn patch(
    st: &mut SimState,
    inc: &Incoming,
    target: &Target,
    user: &str,
) -> Result<Response, KubeError> {
    let name = target.name.clone().unwrap_or_default();
    let content_type = inc.content_type().to_string();
    if content_type == "application/apply-patch+yaml" {
        return apply_patch(st, inc, target, user);
    }
    if inc.param("force").is_some() {
        let message = "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch";
        return Err(KubeError::new(422, "Invalid", message));
    }
    let patch = inc.json()?;
    let old = st.get(&key(target, &name)).cloned();
    let old = old.ok_or_else(|| KubeError::not_found(target.resource, &name))?;
    let mut result = match content_type.as_str() {
        "application/json-patch+json" => json_patch(&old, &patch)?,
        "application/merge-patch+json" => merge_patch(&old, &patch),
        "application/strategic-merge-patch+json" => strategic(target.resource, &old, &patch),
        _ => {
            return Err(KubeError::new(
                415,
                "UnsupportedMediaType",
                UNSUPPORTED_PATCH,
            ))
        }
    };
    precondition(target, &result, &old)?;
    result["metadata"]["name"] = json!(name);
    if target.resource == Resource::Secrets && result["type"].is_null() {
        result["type"] = old["type"].clone();
    }
    normalize(target, &mut result, &name)?;
    store_update(st, target, &old, result, &manager(inc))
}

/// Server-side apply: `fieldManager` required; creates when missing.
fn apply_patch(
    st: &mut SimState,
    inc: &Incoming,
    target: &Target,
    user: &str,
) -> Result<Response, KubeError> {
    let name = target.name.clone().unwrap_or_default();
    let Some(manager) = inc.param("fieldManager").filter(|m| !m.is_empty()) else {
        let message = "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch";
        return Err(KubeError::new(422, "Invalid", message));
    };
    let mut config = inc.yaml()?;
    if !config["metadata"]["managedFields"].is_null() {
        return Err(KubeError::bad_request("metadata.managedFields must be nil"));
    }
    if config["apiVersion"].is_null() || config["kind"].is_null() {
        return Err(KubeError::bad_request("invalid object type: /, Kind="));
    }
    normalize(target, &mut config, &name)?;
    let key = key(target, &name);
    let force = inc.flag("force");
    let mut owners = st.owners.get(&key).cloned().unwrap_or_default();
    let Some(old) = st.get(&key).cloned() else {
        authorize(
            st,
            user,
            "create",
            &Target {
                name: None,
                ..target.clone()
            },
        )?;
        admit_create(st, target, &name)?;
        let object = apply::apply(&mut owners, manager, force, &json!({}), &config)?;
        let object = admit(target.resource, object, None)?;
        st.owners.insert(key.clone(), owners);
        return Ok(respond(201, st.put(key, object)));
    };
    precondition(target, &config, &old)?;
    let object = apply::apply(&mut owners, manager, force, &old, &config)?;
    let object = admit(target.resource, object, Some(&old))?;
    st.owners.insert(key.clone(), owners);
    Ok(respond(200, st.put(key, object)))
}

pub fn delete(st: &mut SimState, target: &Target) -> Result<Response, KubeError> {
    let name = target.name.clone().unwrap_or_default();
    let key = key(target, &name);
    let old = st
        .get(&key)
        .cloned()
        .ok_or_else(|| KubeError::not_found(target.resource, &name))?;
    match target.resource {
        Resource::Namespaces => {
            if IMMORTAL.contains(&name.as_str()) {
                let message = format!(
                    "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                );
                let details = json!({"name": name, "kind": "namespaces"});
                return Err(KubeError {
                    details,
                    ..KubeError::new(403, "Forbidden", message)
                });
            }
            if st.terminating(&name) {
                return Err(KubeError::conflict_because(
                    target.resource,
                    &name,
                    STILL_TERMINATING,
                ));
            }
            let mut object = old;
            object["metadata"]["deletionTimestamp"] = json!(now());
            object["status"]["phase"] = json!("Terminating");
            Ok(respond(200, st.put(key, object)))
        }
        Resource::ServiceAccounts => Ok(respond(200, st.remove(&key).expect("present"))),
        _ => {
            st.remove(&key);
            Ok(respond(
                200,
                success(target.resource, &name, &old["metadata"]["uid"]),
            ))
        }
    }
}

/// Creates the `default` ServiceAccount of each namespace created since
/// the last call, after the configured delay (the controller's lag).
pub fn spawn_default_service_accounts(shared: &Arc<Shared>) {
    let (pending, delay) = {
        let mut st = shared.lock();
        (
            std::mem::take(&mut st.pending_default_sa),
            st.default_sa_delay,
        )
    };
    let Some(delay) = delay else { return };
    for namespace in pending {
        let shared = shared.clone();
        let create = move || {
            let mut st = shared.lock();
            let key = (
                Resource::ServiceAccounts,
                namespace.clone(),
                "default".to_string(),
            );
            if st.namespace_exists(&namespace)
                && !st.terminating(&namespace)
                && st.get(&key).is_none()
            {
                let object = json!({"kind": "ServiceAccount", "apiVersion": "v1",
                    "metadata": {"name": "default", "namespace": namespace}});
                st.put(key, object);
            }
        };
        match delay.is_zero() {
            true => create(),
            false => drop(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                create();
            })),
        }
    }
}
