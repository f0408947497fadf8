//! The requests a Kubernetes target makes, one function each, every one
//! bounded in time ([`REQUEST_TIMEOUT`]) and, through the client, in size.
//! Decisions are not made here: they are `pull_secret`'s and
//! `service_account`'s, over what these functions read.
//!
//! Every write names our field manager, so the server records who wrote
//! what (kube sends no User-Agent of its own to fall back on). Secrets are
//! read typed (k8s-openapi); ServiceAccounts are read as plain JSON, so the
//! guarded patch tests exactly the `imagePullSecrets` the server sent, as
//! it sent it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::ByteString;
use kube::api::{
    Api, ApiResource, DynamicObject, ListParams, ObjectMeta, PartialObjectMeta, PostParams,
};
use kube::{Client, Resource};
use serde_json::Value;

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

/// The Secret `name` in `namespace`, if there is one.
pub async fn get_secret(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>, KubeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let doing = || format!("reading Secret {namespace}/{name}");
    bounded(doing, REQUEST_TIMEOUT, api.get_opt(name)).await
}

/// Creates `secret` (whose metadata names it) in `namespace`.
pub async fn create_secret(
    client: &Client,
    namespace: &str,
    secret: &Secret,
) -> Result<(), KubeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let doing = || format!("creating Secret {namespace}/{name}");
    bounded(doing, REQUEST_TIMEOUT, api.create(&post_params(), secret))
        .await
        .map(drop)
}

/// Replaces the Secret with `secret`, guarded by the resourceVersion it
/// carries (a concurrent change answers 409).
pub async fn replace_secret(
    client: &Client,
    namespace: &str,
    secret: &Secret,
) -> Result<(), KubeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let doing = || format!("replacing Secret {namespace}/{name}");
    bounded(
        doing,
        REQUEST_TIMEOUT,
        api.replace(name, &post_params(), secret),
    )
    .await
    .map(drop)
}

fn post_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_string()),
    }
}

/// What the judgement of a Secret needs to know of one found.
pub fn existing(secret: &Secret) -> ExistingSecret {
    ExistingSecret {
        labels: secret.metadata.labels.clone().unwrap_or_default(),
        annotations: secret.metadata.annotations.clone().unwrap_or_default(),
        secret_type: secret.type_.clone(),
        data: secret
            .data
            .iter()
            .flatten()
            .map(|(key, value)| (key.clone(), value.0.clone()))
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
    found: Option<&Secret>,
) -> Secret {
    let mut metadata = found.map(|s| s.metadata.clone()).unwrap_or_default();
    metadata.name = Some(name.to_string());
    metadata.namespace = Some(namespace.to_string());
    metadata.managed_fields = None;
    let labels = metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.extend(wanted.labels.clone());
    let annotations = metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.remove(EXPIRES_AT_ANNOTATION);
    annotations.extend(wanted.annotations.clone());
    if annotations.is_empty() {
        metadata.annotations = None;
    }
    let bytes = wanted.config_json().expose().as_bytes().to_vec();
    Secret {
        metadata,
        type_: Some(SECRET_TYPE.to_string()),
        data: Some(BTreeMap::from([(DATA_KEY.to_string(), ByteString(bytes))])),
        immutable: found.and_then(|s| s.immutable),
        string_data: None,
    }
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
    let request = http::Request::get(service_account_path(namespace, Some(name)))
        .body(Vec::new())
        .map_err(|err| request_error(doing(), err))?;
    match bounded(doing, REQUEST_TIMEOUT, client.request::<Value>(request)).await {
        Ok(object) => Ok(Some(object)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
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
