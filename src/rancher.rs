//! The Rancher 1.6 (Cattle) API client: discovery, listing with pagination,
//! partial updates and creation of registries and registry credentials.
//!
//! It follows docs/rancher-1.6-api.md (the contract our simulator also
//! follows): collection URLs come from the schemas the server publishes, not
//! from string surgery on `CATTLE_URL`; every list follows
//! `pagination.next`; `serverAddress` is never filtered server-side because
//! Cattle ignores that filter (§4).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::RancherSettings;
use crate::metrics::Metrics;
use crate::secret::Secret;

/// Large pages keep a cycle to one list request for all but huge
/// environments (the server clamps at 3000; §4).
const PAGE_LIMIT: u32 = 1000;
/// A guard against a server that keeps handing out `next` links.
const MAX_PAGES: usize = 1000;
/// Rancher 1.6 v1 project keys must send an email on create (§3); any
/// non-empty value does.
const PLACEHOLDER_EMAIL: &str = "not-really@required.anymore";

/// A Rancher API failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RancherError {
    #[error("Rancher at {url} is unreachable: {detail}; {hint}")]
    Unreachable {
        url: String,
        detail: String,
        hint: &'static str,
    },
    #[error(
        "Rancher rejected the API key (401) for {url}: check CATTLE_ACCESS_KEY/CATTLE_SECRET_KEY"
    )]
    Unauthorized { url: String },
    #[error(
        "Rancher refused {method} {url} (403 {code}): the API key has no access to that \
         environment; use a key of the environment CATTLE_URL points at"
    )]
    Forbidden {
        method: Method,
        url: String,
        code: String,
    },
    #[error("Rancher answered {method} {url} with {status} {code}{detail}{hint}",
        detail = describe(message, field_name), hint = hint_for(*status, message))]
    Http {
        method: Method,
        url: String,
        status: u16,
        code: String,
        message: Option<String>,
        field_name: Option<String>,
    },
    #[error("{url} is not a usable Rancher API endpoint: {reason}")]
    NotRancher { url: String, reason: String },
    #[error("Rancher's answer to {url} is unusable: {reason}")]
    BadResponse { url: String, reason: String },
    #[error("cannot set up the HTTP client for Rancher: {reason}")]
    Client { reason: String },
}

fn describe(message: &Option<String>, field_name: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(message) = message.as_deref().filter(|m| !m.is_empty()) {
        out.push_str(&format!(": {message}"));
    }
    if let Some(field) = field_name {
        out.push_str(&format!(" (field {field})"));
    }
    out
}

fn hint_for(status: u16, message: &Option<String>) -> &'static str {
    let not_updatable = message
        .as_deref()
        .is_some_and(|m| m.contains("not updatable") || m.contains("not creatable"));
    if not_updatable || status == 405 {
        "; the API key may not write registry credentials: use an environment API key, or \
         run the container with the io.rancher.container.create_agent=true and \
         io.rancher.container.agent.role=environment labels"
    } else {
        ""
    }
}

impl RancherError {
    /// A short cause label, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            RancherError::Unreachable { .. } => "rancher_unreachable",
            RancherError::Unauthorized { .. } | RancherError::Forbidden { .. } => "rancher_auth",
            RancherError::Http { .. } => "rancher_http",
            RancherError::NotRancher { .. } => "rancher_not_api",
            RancherError::BadResponse { .. } => "rancher_bad_response",
            RancherError::Client { .. } => "rancher_client",
        }
    }

    /// The Rancher error code, e.g. `ServerAddressUsed`.
    pub fn code(&self) -> Option<&str> {
        match self {
            RancherError::Http { code, .. } | RancherError::Forbidden { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The collections and rules discovered from the server's schemas.
#[derive(Debug, Clone)]
pub struct Api {
    registries: Url,
    credentials: Url,
    /// Set when CATTLE_URL names an environment (`…/projects/1a5`): every
    /// request then carries `X-API-Project-Id` (§2).
    project_id: Option<String>,
    /// The account whose objects this key sees; objects of other accounts
    /// are never touched, even if a server lists them.
    pub account_id: Option<String>,
    /// v1 with a project key requires `email` on create (§3).
    email_required: bool,
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "registries {}, credentials {}, environment {}, email on create {}",
            self.registries,
            self.credentials,
            self.account_id.as_deref().unwrap_or("?"),
            if self.email_required {
                "required"
            } else {
                "not sent"
            }
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    pub id: String,
    #[serde(default)]
    pub server_address: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// A registry credential as listed. `secretValue` is write-only in Rancher
/// and deliberately not read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub id: String,
    #[serde(default)]
    pub registry_id: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    links: Links,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Links {
    #[serde(rename = "self")]
    self_link: Option<String>,
}

#[derive(Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schema {
    id: String,
    #[serde(default)]
    links: SchemaLinks,
    #[serde(default)]
    collection_methods: Vec<String>,
    #[serde(default)]
    resource_methods: Vec<String>,
    #[serde(default)]
    resource_fields: serde_json::Map<String, Value>,
}

#[derive(Default, Deserialize)]
struct SchemaLinks {
    collection: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    field_name: Option<String>,
}

/// HTTP access to one Rancher API endpoint.
#[derive(Debug, Clone)]
pub struct RancherClient {
    http: reqwest::Client,
    base: Url,
    access_key: String,
    secret_key: Secret,
    metrics: std::sync::Arc<Metrics>,
}

impl RancherClient {
    /// `ca_bundle` (PEM) is trusted in addition to the system roots.
    pub fn new(
        settings: &RancherSettings,
        ca_bundle: Option<&[u8]>,
        metrics: std::sync::Arc<Metrics>,
    ) -> Result<RancherClient, RancherError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        // Not a browser: no CSRF check and no HTML responses (§1, §8).
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!(
                "rancher-ecr-credentials/",
                env!("CARGO_PKG_VERSION")
            )),
        );
        // Without it, a server with access control off runs an unknown key
        // as admin across all environments (§1).
        headers.insert("X-ENFORCE-AUTHENTICATION", HeaderValue::from_static("true"));
        // ring for TLS, as the AWS client uses: one crypto library in the
        // binary. Installing twice (a second client) is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client_error = |err: reqwest::Error| RancherError::Client {
            reason: err.to_string(),
        };
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(settings.insecure);
        if let Some(pem) = ca_bundle {
            for certificate in reqwest::Certificate::from_pem_bundle(pem).map_err(client_error)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        Ok(RancherClient {
            http: builder.build().map_err(client_error)?,
            base: settings.url.clone(),
            access_key: settings.access_key.clone(),
            secret_key: settings.secret_key.clone(),
            metrics,
        })
    }

    /// Finds the registry and credential collections from the schemas the
    /// server publishes for this key (go-rancher's discovery, §2).
    pub async fn discover(&self) -> Result<Api, RancherError> {
        let mut url = self.base.clone();
        let mut hops = 0;
        let (headers, root) = loop {
            let (headers, body) =
                self.request(Method::GET, &url, None, None)
                    .await
                    .map_err(|err| match err {
                        // A project the key cannot see is hidden as 404 (§6).
                        RancherError::Http { status: 404, .. }
                            if url.path().contains("/projects/") =>
                        {
                            RancherError::NotRancher {
                                url: url.to_string(),
                                reason: "no such environment for this API key (404): use the \
                                     endpoint shown with the key in API > Keys, or a key \
                                     created in that environment"
                                    .into(),
                            }
                        }
                        other => other,
                    })?;
            let body: Value = decode(&url, &body)?;
            // `GET /` lists the API versions: follow the latest one.
            if body["type"] == "collection" && hops == 0 {
                if let Some(latest) = body["links"]["latest"].as_str() {
                    url = self.rebase(latest)?;
                    hops += 1;
                    continue;
                }
            }
            break (headers, body);
        };
        let not_api = |reason: String| RancherError::NotRancher {
            url: self.base.to_string(),
            reason,
        };
        let schemas_url = headers
            .get("X-API-Schemas")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                not_api(
                    "the response has no X-API-Schemas header; expected an endpoint such as \
                     http://rancher:8080/v2-beta or http://rancher:8080/v2-beta/projects/1a5"
                        .into(),
                )
            })?;
        let schemas_url = self.rebase(schemas_url)?;
        let project_id = match root["type"].as_str() {
            Some("apiVersion") => None,
            // `…/projects/1a5` alone is the project resource, not an API
            // root (§2): scope every request to it by header.
            Some("project") => Some(
                root["id"]
                    .as_str()
                    .ok_or_else(|| not_api("the project has no id".into()))?
                    .to_string(),
            ),
            other => {
                return Err(not_api(format!(
                    "it returned a {}, expected an API version (…/v2-beta) or an environment \
                     (…/v2-beta/projects/1a5)",
                    other.unwrap_or("document without a type")
                )))
            }
        };
        let account_kind = header_text(&headers, "X-API-ACCOUNT-KIND");
        if project_id.is_none() {
            if let Some(kind) = account_kind
                .as_deref()
                .filter(|k| !matches!(*k, "environment" | "project"))
            {
                return Err(not_api(format!(
                    "the API key belongs to an account of kind {kind}, which may see several environments; \
                     use an environment API key, or an environment endpoint such as \
                     …/v2-beta/projects/1a5"
                )));
            }
        }
        let account_id = project_id
            .clone()
            .or_else(|| header_text(&headers, "X-API-ACCOUNT-ID"));

        let (_, body) = self
            .request(Method::GET, &schemas_url, project_id.as_deref(), None)
            .await?;
        let schemas: Collection<Schema> = decode(&schemas_url, &body)?;
        let find = |id: &str| {
            schemas
                .data
                .iter()
                .find(|schema| schema.id.eq_ignore_ascii_case(id))
                .ok_or_else(|| {
                    not_api(format!(
                        "the API key cannot see the {id} type; use an environment API key"
                    ))
                })
        };
        let registry = find("registry")?;
        let credential = find("registryCredential")?;
        for (schema, method) in [(registry, "GET"), (credential, "GET")] {
            if !schema.collection_methods.iter().any(|m| m == method) {
                return Err(not_api(format!("the API key may not list {}", schema.id)));
            }
        }
        if !credential.resource_methods.iter().any(|m| m == "PUT") {
            return Err(not_api(
                "Resource type [registryCredential] is not updatable with this API key; use an \
                 environment API key, or run the container with the \
                 io.rancher.container.create_agent=true and \
                 io.rancher.container.agent.role=environment labels"
                    .into(),
            ));
        }
        let collection = |schema: &Schema| {
            schema
                .links
                .collection
                .as_deref()
                .ok_or_else(|| not_api(format!("the {} schema has no collection link", schema.id)))
                .and_then(|link| self.rebase(link))
        };
        let email_required = credential
            .resource_fields
            .get("email")
            .is_some_and(|field| field["required"] == true);
        Ok(Api {
            registries: collection(registry)?,
            credentials: collection(credential)?,
            project_id,
            account_id,
            email_required,
        })
    }

    /// Every registry the key sees, all pages; removed ones are hidden by
    /// Rancher (§4).
    pub async fn list_registries(&self, api: &Api) -> Result<Vec<Registry>, RancherError> {
        let registries: Vec<Registry> = self.list(api, api.registries.clone()).await?;
        Ok(registries
            .into_iter()
            .filter(|r| owned_by(api, r.account_id.as_deref()))
            .collect())
    }

    /// The credentials of one registry, all pages.
    pub async fn list_credentials(
        &self,
        api: &Api,
        registry_id: &str,
    ) -> Result<Vec<Credential>, RancherError> {
        let mut url = api.credentials.clone();
        url.query_pairs_mut().append_pair("registryId", registry_id);
        let credentials: Vec<Credential> = self.list(api, url).await?;
        // The filter is a real column (§4), but check anyway: writing a
        // token into another registry's credential would be a leak.
        Ok(credentials
            .into_iter()
            .filter(|c| c.registry_id.as_deref() == Some(registry_id))
            .filter(|c| owned_by(api, c.account_id.as_deref()))
            .collect())
    }

    /// Partial update of the username and password (§5): nothing else is sent.
    pub async fn update_credential(
        &self,
        api: &Api,
        credential: &Credential,
        username: &str,
        password: &Secret,
    ) -> Result<(), RancherError> {
        let url = self.self_link(&credential.links, &api.credentials, &credential.id)?;
        let body = json!({"publicValue": username, "secretValue": password.expose()});
        self.request(Method::PUT, &url, api.project_id.as_deref(), Some(&body))
            .await?;
        Ok(())
    }

    pub async fn create_registry(
        &self,
        api: &Api,
        server_address: &str,
    ) -> Result<Registry, RancherError> {
        let body = json!({
            "serverAddress": server_address,
            "description": "Amazon ECR registry, kept fresh by rancher-ecr-credentials",
        });
        let (_, response) = self
            .request(
                Method::POST,
                &api.registries,
                api.project_id.as_deref(),
                Some(&body),
            )
            .await?;
        decode(&api.registries, &response)
    }

    pub async fn create_credential(
        &self,
        api: &Api,
        registry_id: &str,
        username: &str,
        password: &Secret,
    ) -> Result<Credential, RancherError> {
        let mut body = json!({
            "registryId": registry_id,
            "publicValue": username,
            "secretValue": password.expose(),
            "description": "Amazon ECR token, kept fresh by rancher-ecr-credentials",
        });
        if api.email_required {
            body["email"] = json!(PLACEHOLDER_EMAIL);
        }
        let (_, response) = self
            .request(
                Method::POST,
                &api.credentials,
                api.project_id.as_deref(),
                Some(&body),
            )
            .await?;
        // The POST response echoes secretValue (§3): only the fields we
        // deserialize are kept.
        decode(&api.credentials, &response)
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        api: &Api,
        mut url: Url,
    ) -> Result<Vec<T>, RancherError> {
        url.query_pairs_mut()
            .append_pair("limit", &PAGE_LIMIT.to_string());
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let (_, body) = self
                .request(Method::GET, &url, api.project_id.as_deref(), None)
                .await?;
            let page: Collection<T> = decode(&url, &body)?;
            items.extend(page.data);
            let Some(next) = page.pagination.and_then(|p| p.next) else {
                return Ok(items);
            };
            seen.insert(url.to_string());
            url = self.rebase(&next)?;
            if seen.contains(url.as_str()) {
                break;
            }
        }
        Err(RancherError::BadResponse {
            url: url.to_string(),
            reason: "its pagination does not end".into(),
        })
    }

    fn self_link(&self, links: &Links, collection: &Url, id: &str) -> Result<Url, RancherError> {
        match &links.self_link {
            Some(link) => self.rebase(link),
            // go-rancher's ById form (§2).
            None => {
                let mut url = collection.clone();
                url.path_segments_mut()
                    .map_err(|_| RancherError::BadResponse {
                        url: collection.to_string(),
                        reason: "the collection URL cannot have a path".into(),
                    })?
                    .push(id);
                Ok(url)
            }
        }
    }

    /// Links the server generates carry its own idea of scheme and host,
    /// which is wrong behind a proxy that does not set X-Forwarded-*.
    /// Requests always go to CATTLE_URL's origin, so credentials never
    /// travel to another host.
    fn rebase(&self, link: &str) -> Result<Url, RancherError> {
        let mut url = self
            .base
            .join(link)
            .map_err(|err| RancherError::BadResponse {
                url: self.base.to_string(),
                reason: format!("it returned an invalid link {link:?}: {err}"),
            })?;
        if url.origin() != self.base.origin() {
            // Infallible for http(s) base URLs, which config guarantees.
            let _ = url.set_scheme(self.base.scheme());
            let _ = url.set_host(self.base.host_str());
            let _ = url.set_port(self.base.port());
        }
        Ok(url)
    }

    async fn request(
        &self,
        method: Method,
        url: &Url,
        project_id: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(HeaderMap, Vec<u8>), RancherError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .basic_auth(&self.access_key, Some(self.secret_key.expose()));
        if let Some(project_id) = project_id {
            request = request.header("X-API-Project-Id", project_id);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = std::time::Instant::now();
        let response = request.send().await;
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                self.metrics
                    .rancher_request(method.as_str(), started.elapsed());
                return Err(unreachable(url, &err));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| unreachable(url, &err))?;
        let took = started.elapsed();
        self.metrics.rancher_request(method.as_str(), took);
        tracing::debug!(%method, %url, status = status.as_u16(), elapsed_ms = took.as_millis() as u64, "rancher request");
        if status.is_success() {
            return Ok((headers, bytes.to_vec()));
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        let (code, message, field_name) = match error {
            Some(e) => (
                e.code
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string()),
                e.message,
                e.field_name,
            ),
            None => (
                status.canonical_reason().unwrap_or("").to_string(),
                Some(format!("non-JSON response of {} bytes", bytes.len())),
                None,
            ),
        };
        Err(match status {
            StatusCode::UNAUTHORIZED => RancherError::Unauthorized {
                url: url.to_string(),
            },
            StatusCode::FORBIDDEN => RancherError::Forbidden {
                method,
                url: url.to_string(),
                code,
            },
            _ => RancherError::Http {
                method,
                url: url.to_string(),
                status: status.as_u16(),
                code,
                message,
                field_name,
            },
        })
    }
}

fn owned_by(api: &Api, account_id: Option<&str>) -> bool {
    match (&api.account_id, account_id) {
        (Some(expected), Some(actual)) => expected == actual,
        _ => true,
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn decode<T: serde::de::DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, RancherError> {
    serde_json::from_slice(body).map_err(|err| RancherError::BadResponse {
        url: url.to_string(),
        reason: format!("its response is not the expected JSON ({err})"),
    })
}

fn unreachable(url: &Url, err: &reqwest::Error) -> RancherError {
    let hint = if certificate_rejected(err) {
        "Rancher's TLS certificate is not trusted: give its CA with --ca-file (CA_FILE), or \
         a complete bundle in SSL_CERT_FILE"
    } else {
        "check CATTLE_URL, the network and HTTP(S)_PROXY/NO_PROXY"
    };
    RancherError::Unreachable {
        url: url.to_string(),
        detail: describe_transport_error(err),
        hint,
    }
}

/// Whether TLS verification refused the server's certificate. rustls'
/// error sits inside `io::Error`s, whose `source()` skips their payload, so
/// those are opened with `get_ref`.
fn certificate_rejected(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return matches!(tls, rustls::Error::InvalidCertificate(_));
    }
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return certificate_rejected(inner);
    }
    err.source().is_some_and(certificate_rejected)
}

/// reqwest's error chain, without the URL (the caller adds it).
fn describe_transport_error(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
