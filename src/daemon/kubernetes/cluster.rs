//! The requests a Kubernetes target makes, one function each, every one
//! bounded in time ([`REQUEST_TIMEOUT`]) and, through the client, in size.
//! Decisions are not made here: they are `pull_secret`'s and
//! `service_account`'s, over what these functions read.
//!
//! Every write names our field manager, so the server records who wrote
//! what (kube sends no User-Agent of its own to fall back on). Secrets and
//! ServiceAccounts are read and written as plain JSON: the guarded patch
//! tests exactly the `imagePullSecrets` the server sent, as it sent it, and
//! no typed API per kind is compiled in.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, ObjectMeta, PartialObjectMeta};
use kube::{Client, Resource};
use serde_json::{json, Value};

use super::client::REQUEST_TIMEOUT;
use super::error::{bounded, KubeError};
use super::pull_secret::{
    ExistingSecret, PullSecret, DATA_KEY, EXPIRES_AT_ANNOTATION, SECRET_TYPE,
};

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "rancher-ecr-credentials";
/// Items asked for per page of a list.
const PAGE: u32 = 500;
/// The most namespaces (or ServiceAccounts of one namespace) listed: past
/// this the listing fails rather than grow without bound.
pub const MAX_LISTED: usize = 50_000;

/// A namespace as a listing shows it: what the filter and the skip rule
/// need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNamespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Being deleted (`Terminating`, or a deletion timestamp): skipped.
    pub terminating: bool,
}

impl ObservedNamespace {
    /// A namespace is `Terminating` exactly when it has a deletion
    /// timestamp (docs/kubernetes-api.md, namespaces), so its metadata
    /// says all.
    pub fn from_metadata(metadata: &ObjectMeta) -> Option<ObservedNamespace> {
        Some(ObservedNamespace {
            name: metadata.name.clone()?,
            labels: metadata.labels.clone().unwrap_or_default(),
            terminating: metadata.deletion_timestamp.is_some(),
        })
    }
}

/// The metadata of any kind of object: lists and watches of namespaces,
/// Secrets and ServiceAccounts all read this one type, so their code is in
/// the binary once.
pub type Metadata = PartialObjectMeta<DynamicObject>;

/// The cluster-wide metadata-only API of `K`'s objects.
pub fn metadata_api<K: Resource<DynamicType = ()>>(client: &Client) -> Api<Metadata> {
    Api::all_with(client.clone(), &ApiResource::erase::<K>(&()))
}

/// Every namespace of the cluster, page by page (metadata only).
pub async fn list_namespaces(client: &Client) -> Result<Vec<ObservedNamespace>, KubeError> {
    let api = metadata_api::<Namespace>(client);
    let mut namespaces = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let doing = || "listing namespaces".to_string();
        let page = bounded(doing, REQUEST_TIMEOUT, api.list(&params)).await?;
        let observed = page.items.iter().map(|item| &item.metadata);
        namespaces.extend(observed.filter_map(ObservedNamespace::from_metadata));
        if namespaces.len() > MAX_LISTED {
            return Err(too_many("listing namespaces"));
        }
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(namespaces),
        }
    }
}

fn too_many(doing: &str) -> KubeError {
    KubeError {
        doing: doing.into(),
        status: None,
        detail: format!("more than {MAX_LISTED}: not served"),
    }
}

/// The path of a Secret (or, without `name`, of a namespace's).
fn secret_path(namespace: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("/api/v1/namespaces/{namespace}/secrets/{name}"),
        None => format!("/api/v1/namespaces/{namespace}/secrets"),
    }
}

/// The Secret `name` in `namespace` as JSON, if there is one. Secrets are
/// read and written as plain JSON, as ServiceAccounts are: one code path
/// for both (and no typed Secret API in the binary).
pub async fn get_secret(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    let doing = || format!("reading Secret {namespace}/{name}");
    get_json(client, secret_path(namespace, Some(name)), doing).await
}

/// The object at `path` as JSON; `None` when there is none (404).
async fn get_json(
    client: &Client,
    path: String,
    doing: impl FnOnce() -> String + Clone,
) -> Result<Option<Value>, KubeError> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|err| request_error(doing.clone()(), err))?;
    match bounded(doing, REQUEST_TIMEOUT, client.request::<Value>(request)).await {
        Ok(object) => Ok(Some(object)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Creates `secret` (whose metadata names it) in `namespace`.
pub async fn create_secret(
    client: &Client,
    namespace: &str,
    secret: &Value,
) -> Result<(), KubeError> {
    let name = secret.pointer("/metadata/name").and_then(Value::as_str);
    let doing = || format!("creating Secret {namespace}/{}", name.unwrap_or_default());
    let path = format!(
        "{}?fieldManager={FIELD_MANAGER}",
        secret_path(namespace, None)
    );
    send_json(client, http::Method::POST, path, secret, doing).await
}

/// Replaces the Secret with `secret`, guarded by the resourceVersion it
/// carries (a concurrent change answers 409).
pub async fn replace_secret(
    client: &Client,
    namespace: &str,
    secret: &Value,
) -> Result<(), KubeError> {
    let name = secret
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let doing = || format!("replacing Secret {namespace}/{name}");
    let path = format!(
        "{}?fieldManager={FIELD_MANAGER}",
        secret_path(namespace, Some(name))
    );
    send_json(client, http::Method::PUT, path, secret, doing).await
}

/// Sends `body` as JSON with `method` to `path`; the answer is not kept.
async fn send_json(
    client: &Client,
    method: http::Method,
    path: String,
    body: &Value,
    doing: impl FnOnce() -> String + Clone,
) -> Result<(), KubeError> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.to_string().into_bytes())
        .map_err(|err| request_error(doing.clone()(), err))?;
    bounded(doing, REQUEST_TIMEOUT, client.request::<Value>(request))
        .await
        .map(drop)
}

/// What the judgement of a Secret needs to know of one found (its `data`
/// decoded; a value that is not base64 counts as empty, so differs).
pub fn existing(secret: &Value) -> ExistingSecret {
    let decode = |value: &Value| {
        let text = value.as_str().unwrap_or_default();
        BASE64.decode(text).unwrap_or_default()
    };
    ExistingSecret {
        labels: strings_of(&secret["metadata"]["labels"]),
        annotations: strings_of(&secret["metadata"]["annotations"]),
        secret_type: secret["type"].as_str().map(str::to_string),
        data: secret["data"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| (key.clone(), decode(value)))
            .collect(),
    }
}

/// The Secret to send: `wanted`'s contents under `name` in `namespace`.
/// Over an existing Secret of ours (`found`), its other labels and
/// annotations are kept, and its resourceVersion guards the replace; its
/// data is replaced whole, so `.dockerconfigjson` is its only key.
pub fn secret_to_write(
    wanted: &PullSecret,
    namespace: &str,
    name: &str,
    found: Option<&Value>,
) -> Value {
    let mut metadata = found
        .and_then(|s| s.get("metadata"))
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(namespace);
    if let Some(object) = metadata.as_object_mut() {
        object.remove("managedFields");
    }
    let mut labels = strings_of(&metadata["labels"]);
    labels.extend(wanted.labels.clone());
    metadata["labels"] = json!(labels);
    let mut annotations = strings_of(&metadata["annotations"]);
    annotations.remove(EXPIRES_AT_ANNOTATION);
    annotations.extend(wanted.annotations.clone());
    match (annotations.is_empty(), metadata.as_object_mut()) {
        (true, Some(object)) => drop(object.remove("annotations")),
        _ => metadata["annotations"] = json!(annotations),
    }
    let data = BASE64.encode(wanted.config_json().expose());
    let mut secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": SECRET_TYPE,
        "data": { DATA_KEY: data },
    });
    if let Some(immutable) = found.and_then(|s| s.get("immutable")) {
        secret["immutable"] = immutable.clone();
    }
    secret
}

/// A string map of a JSON object (labels, annotations); other values left
/// out.
fn strings_of(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// The path of a ServiceAccount (or, without `name`, of a namespace's).
fn service_account_path(namespace: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}"),
        None => format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
    }
}

/// The ServiceAccount `name` of `namespace` as JSON, if there is one.
pub async fn get_service_account(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    let doing = || format!("reading ServiceAccount {namespace}/{name}");
    get_json(client, service_account_path(namespace, Some(name)), doing).await
}

/// Every ServiceAccount of `namespace`, as JSON.
pub async fn list_service_accounts(
    client: &Client,
    namespace: &str,
) -> Result<Vec<Value>, KubeError> {
    let mut accounts = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let doing = || format!("listing ServiceAccounts of {namespace}");
        let mut path = format!("{}?limit={PAGE}", service_account_path(namespace, None));
        if let Some(token) = &token {
            path.push_str("&continue=");
            path.extend(form_encode(token));
        }
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|err| request_error(doing(), err))?;
        let mut page = bounded(doing, REQUEST_TIMEOUT, client.request::<Value>(request)).await?;
        if let Some(Value::Array(items)) = page.get_mut("items").map(Value::take) {
            accounts.extend(items);
        }
        if accounts.len() > MAX_LISTED {
            return Err(too_many("listing ServiceAccounts"));
        }
        token = page
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(accounts);
        }
    }
}

/// Percent-encodes a continue token for a query string.
fn form_encode(text: &str) -> impl Iterator<Item = char> + '_ {
    text.bytes().flat_map(|byte| {
        let keep = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        let encoded = if keep {
            vec![byte as char]
        } else {
            format!("%{byte:02X}").chars().collect()
        };
        encoded.into_iter()
    })
}

/// Sends a JSON patch (RFC 6902) to a ServiceAccount.
pub async fn patch_service_account(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<(), KubeError> {
    let doing = || format!("patching ServiceAccount {namespace}/{name}");
    let path = format!(
        "{}?fieldManager={FIELD_MANAGER}",
        service_account_path(namespace, Some(name))
    );
    let request = http::Request::patch(path)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(patch.to_string().into_bytes())
        .map_err(|err| request_error(doing(), err))?;
    bounded(doing, REQUEST_TIMEOUT, client.request::<Value>(request))
        .await
        .map(drop)
}

fn request_error(doing: String, err: http::Error) -> KubeError {
    KubeError {
        doing,
        status: None,
        detail: crate::printable::printable(&err.to_string()),
    }
}

#[cfg(test)]
mod tests;
