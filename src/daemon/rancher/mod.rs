//! The Rancher 1.6 (Cattle) API client: what the updater asks of Rancher.
//!
//! It follows the contract in docs/rancher-api.md, which our test simulator
//! follows too. The client is split by concern:
//! - [`discovery`]: from `CATTLE_URL` to the collections ([`Endpoints`]),
//!   through the schemas the server publishes (§2);
//! - `environments`: many environments with one account key: list them,
//!   choose the ones to serve, discover each one scoped (§2);
//! - `exchange`: how a request reaches Rancher (reqwest; the seam for an
//!   in-process server);
//! - `transport`: one request: auth, scoping, a bounded body, error
//!   statuses, the account headers;
//! - `listing`: a whole collection, bounded in total, or an error; which
//!   listed objects are this environment's;
//! - `wire`: the JSON types we read;
//! - [`error`]: [`RancherError`], each with what to do about it;
//! - this file: the calls the reconciler makes (list, update, create).
//!
//! Lists follow `pagination.next` with large pages; `serverAddress` is never
//! filtered server-side because Cattle ignores that filter (§4).

mod discovery;
mod environments;
mod error;
mod exchange;
mod listing;
mod transport;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::json;

pub use discovery::Endpoints;
pub use environments::{choose, Chosen, Environment, KeyKind, Selection, Skipped};
pub use error::RancherError;
pub use exchange::{Exchange, ExchangeError, HttpExchange, Incoming, Outgoing};
pub use wire::{Credential, Registry};

use super::metrics::Metrics;
use crate::secret::Secret;
use listing::{own_credentials, own_registries};
use wire::decode;

/// Rancher 1.6 v1 project keys must send an email on create (§3); any
/// non-empty value does.
const PLACEHOLDER_EMAIL: &str = "not-really@required.anymore";

/// How to reach one Rancher, and which of its environments to serve.
#[derive(Debug, Clone)]
pub struct RancherSettings {
    pub url: Url,
    pub access_key: String,
    pub secret_key: Secret,
    pub timeout: Duration,
    /// Skip TLS verification (RANCHER_INSECURE).
    pub insecure: bool,
    /// Serve these environments with an account key; `None` serves the one
    /// environment the URL and the key name.
    pub environments: Option<Selection>,
}

/// HTTP access to one Rancher API endpoint.
#[derive(Debug, Clone)]
pub struct RancherClient {
    http: Arc<dyn Exchange>,
    base: Url,
    access_key: String,
    secret_key: Secret,
    metrics: Arc<Metrics>,
}

impl RancherClient {
    /// `ca_bundle` (PEM) is trusted in addition to the system roots.
    pub fn new(
        settings: &RancherSettings,
        ca_bundle: Option<&[u8]>,
        metrics: Arc<Metrics>,
    ) -> Result<RancherClient, RancherError> {
        let client_error = |err: reqwest::Error| RancherError::Client {
            reason: err.to_string(),
        };
        let connect_timeout = settings.timeout.min(Duration::from_secs(10));
        let builder = crate::tls::client_builder(settings.timeout, connect_timeout, ca_bundle)
            .map_err(client_error)?
            .tls_danger_accept_invalid_certs(settings.insecure);
        let client = builder.build().map_err(client_error)?;
        Ok(RancherClient::over(
            settings,
            Arc::new(HttpExchange { client }),
            metrics,
        ))
    }

    /// A client whose requests go through `exchange` (the daemon's is
    /// [`HttpExchange`]; see `exchange.rs` for why there is a choice).
    pub fn over(
        settings: &RancherSettings,
        exchange: Arc<dyn Exchange>,
        metrics: Arc<Metrics>,
    ) -> RancherClient {
        RancherClient {
            http: exchange,
            base: settings.url.clone(),
            access_key: settings.access_key.clone(),
            secret_key: settings.secret_key.clone(),
            metrics,
        }
    }

    /// Every registry of the environment, all pages; removed ones are
    /// hidden by Rancher (§4).
    pub async fn list_registries(
        &self,
        endpoints: &Endpoints,
    ) -> Result<Vec<Registry>, RancherError> {
        let url = &endpoints.registries;
        let (listed, environment) = self.list(endpoints, url.clone()).await?;
        own_registries(listed, environment).map_err(|reason| bad_listing(url, reason))
    }

    /// The credentials of one registry, all pages. A credential that cannot
    /// be attributed fails the listing (see `listing.rs`).
    pub async fn list_credentials(
        &self,
        endpoints: &Endpoints,
        registry_id: &str,
    ) -> Result<Vec<Credential>, RancherError> {
        let mut url = endpoints.credentials.clone();
        url.query_pairs_mut().append_pair("registryId", registry_id);
        let (listed, environment) = self.list(endpoints, url.clone()).await?;
        // The filter is a real column (§4), but check anyway: writing a
        // token into another registry's credential would be a leak.
        own_credentials(listed, registry_id, environment)
            .map_err(|reason| bad_listing(&url, reason))
    }

    /// Partial update of the username and password (§5): nothing else is sent.
    pub async fn update_credential(
        &self,
        endpoints: &Endpoints,
        credential: &Credential,
        username: &str,
        password: &Secret,
    ) -> Result<(), RancherError> {
        let url = self.self_link(&credential.links, &endpoints.credentials, &credential.id)?;
        let body = json!({"publicValue": username, "secretValue": password.expose()});
        self.send(
            Method::PUT,
            &url,
            endpoints.project_id.as_deref(),
            Some(&body),
        )
        .await?;
        Ok(())
    }

    pub async fn create_registry(
        &self,
        endpoints: &Endpoints,
        server_address: &str,
    ) -> Result<Registry, RancherError> {
        let body = json!({
            "serverAddress": server_address,
            "description": "Amazon ECR registry, kept fresh by rancher-ecr-credentials",
        });
        self.create(endpoints, &endpoints.registries, &body).await
    }

    pub async fn create_credential(
        &self,
        endpoints: &Endpoints,
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
        if endpoints.email_required {
            body["email"] = json!(PLACEHOLDER_EMAIL);
        }
        // The POST response echoes secretValue (§3): only the fields we
        // deserialize are kept.
        self.create(endpoints, &endpoints.credentials, &body).await
    }

    /// POSTs `body` to a collection and reads back the created object.
    async fn create<T: DeserializeOwned>(
        &self,
        endpoints: &Endpoints,
        collection: &Url,
        body: &serde_json::Value,
    ) -> Result<T, RancherError> {
        let answer = self
            .send(
                Method::POST,
                collection,
                endpoints.project_id.as_deref(),
                Some(body),
            )
            .await?;
        decode(collection, &answer.body)
    }

    /// Every item of one of the environment's collections, every page read
    /// in that environment; and the environment's id.
    async fn list<'e, T: DeserializeOwned>(
        &self,
        endpoints: &'e Endpoints,
        url: Url,
    ) -> Result<(Vec<T>, &'e str), RancherError> {
        let environment = endpoints.environment_id.as_deref().ok_or_else(|| {
            bad_listing(&url, "the environment it belongs to is unknown".to_string())
        })?;
        let project_id = endpoints.project_id.as_deref();
        let listing = self.list_all(url, project_id, Some(environment)).await?;
        Ok((listing.items, environment))
    }
}

fn bad_listing(url: &Url, reason: String) -> RancherError {
    RancherError::BadResponse {
        url: url.to_string(),
        reason,
    }
}
