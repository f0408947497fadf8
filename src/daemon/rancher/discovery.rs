//! Discovery: from `CATTLE_URL` to the registry and credential collections,
//! the way go-rancher finds them (docs/rancher-api.md §2).
//!
//! Collection URLs come from the schemas the server publishes for this key,
//! never from string surgery on `CATTLE_URL`, so all its forms work:
//! `…/v1` (what the agent labels inject), `…/v2-beta`, the server root, and
//! an environment endpoint `…/projects/1a5`. Discovery also decides the
//! scope of every later request, and refuses a key that could write into
//! environments other than the one meant, or a server that does not say
//! which environment it acted in (the account headers, §1): the scope of
//! every write is then known, not assumed.

use std::fmt;

use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::Value;

use super::transport::{account_header, check_acted_in, header_text};
use super::wire::{decode, Collection, Schema};
use super::{RancherClient, RancherError};

/// Where the registries and credentials of one environment are, and how to
/// ask for them: found once by [`RancherClient::discover`], reused by every
/// call until a failure makes the cycle discover again.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub(super) registries: Url,
    pub(super) credentials: Url,
    /// Set when CATTLE_URL names an environment (`…/projects/1a5`): every
    /// request then carries `X-API-Project-Id` (§2).
    pub(super) project_id: Option<String>,
    /// The environment (a Rancher account) whose objects this key sees, as
    /// every response must confirm (`X-API-Account-Id`); objects of other
    /// environments are never touched, even if a server lists them. Always
    /// set by discovery.
    pub environment_id: Option<String>,
    /// v1 with a project key requires `email` on create (§3).
    pub(super) email_required: bool,
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "registries {}, credentials {}, environment {}, email on create {}",
            self.registries,
            self.credentials,
            self.environment_id.as_deref().unwrap_or("?"),
            if self.email_required {
                "required"
            } else {
                "not sent"
            }
        )
    }
}

/// Why the server's answer is not an API we can use.
fn not_api(client: &RancherClient, reason: impl Into<String>) -> RancherError {
    RancherError::NotRancher {
        url: client.base.to_string(),
        reason: reason.into(),
    }
}

impl RancherClient {
    /// Finds the registry and credential collections from the schemas the
    /// server publishes for this key.
    pub async fn discover(&self) -> Result<Endpoints, RancherError> {
        let (root_url, headers, root) = self.api_root().await?;
        let schemas_url = header_text(&headers, "X-API-Schemas").ok_or_else(|| {
            not_api(
                self,
                "the response has no X-API-Schemas header; expected an endpoint such as \
                 http://rancher:8080/v2-beta or http://rancher:8080/v2-beta/projects/1a5",
            )
        })?;
        let schemas_url = self.rebase(&schemas_url)?;
        let (project_id, environment_id) = self.scope(&root_url, &headers, &root)?;
        let answer = self
            .send(Method::GET, &schemas_url, project_id.as_deref(), None)
            .await?;
        check_acted_in(&schemas_url, &answer.headers, &environment_id)?;
        let schemas: Collection<Schema> = decode(&schemas_url, &answer.body)?;
        let (registries, credentials, email_required) = self.collections(&schemas.data)?;
        Ok(Endpoints {
            registries,
            credentials,
            project_id,
            environment_id: Some(environment_id),
            email_required,
        })
    }

    /// `GET CATTLE_URL`, following `GET /`'s list of versions to the latest:
    /// the URL answered, its headers and its body.
    async fn api_root(&self) -> Result<(Url, HeaderMap, Value), RancherError> {
        let mut url = self.base.clone();
        let mut followed_latest = false;
        loop {
            let answer =
                self.send(Method::GET, &url, None, None)
                    .await
                    .map_err(|err| match err {
                        // A project the key cannot see is hidden as 404 (§6).
                        RancherError::Http { status: 404, .. }
                            if url.path().contains("/projects/") =>
                        {
                            not_api(
                                self,
                                "no such environment for this API key (404): use the endpoint \
                             shown with the key in API > Keys, or a key created in that \
                             environment",
                            )
                        }
                        other => other,
                    })?;
            let body: Value = decode(&url, &answer.body)?;
            if body["type"] == "collection" && !followed_latest {
                if let Some(latest) = body["links"]["latest"].as_str() {
                    url = self.rebase(latest)?;
                    followed_latest = true;
                    continue;
                }
            }
            return Ok((url, answer.headers, body));
        }
    }

    /// The project every request is scoped to by header, and the
    /// environment every response must say it acted in: the project that
    /// `…/projects/1a5` returned (scoped by header from now on), or for an
    /// API version root no header and the key's own environment, where only
    /// an environment key is accepted: an account key there could write
    /// into any of its environments.
    fn scope(
        &self,
        url: &Url,
        headers: &HeaderMap,
        root: &Value,
    ) -> Result<(Option<String>, String), RancherError> {
        match root["type"].as_str() {
            Some("project") => root["id"]
                .as_str()
                .map(|id| (Some(id.to_string()), id.to_string()))
                .ok_or_else(|| not_api(self, "the project has no id")),
            Some("apiVersion") => {
                let kind = account_header(url, headers, "X-API-Account-Kind")?;
                match kind.as_str() {
                    kind if !matches!(kind, "environment" | "project") => Err(not_api(
                        self,
                        format!(
                            "the API key belongs to an account of kind {kind}, which may see \
                             several environments, and nothing is written through it \
                             unscoped: set RANCHER_ENVIRONMENTS (all, or the environments to \
                             serve) to use this key, or use an environment API key (or the \
                             agent labels), or an environment endpoint such as \
                             …/v2-beta/projects/1a5"
                        ),
                    )),
                    _ => Ok((None, account_header(url, headers, "X-API-Account-Id")?)),
                }
            }
            other => Err(not_api(
                self,
                format!(
                    "it returned a {}, expected an API version (…/v2-beta) or an environment \
                     (…/v2-beta/projects/1a5)",
                    other.unwrap_or("document without a type")
                ),
            )),
        }
    }

    /// The registry and credential collection URLs, and whether a new
    /// credential needs an email, from the schemas; refuses a key that may
    /// not list both or update credentials.
    pub(super) fn collections(&self, schemas: &[Schema]) -> Result<(Url, Url, bool), RancherError> {
        let find = |id: &str| {
            schemas
                .iter()
                .find(|schema| schema.id.eq_ignore_ascii_case(id))
                .ok_or_else(|| {
                    not_api(
                        self,
                        format!("the API key cannot see the {id} type; use an environment API key"),
                    )
                })
        };
        let registry = find("registry")?;
        let credential = find("registryCredential")?;
        for schema in [registry, credential] {
            if !schema.collection_methods.iter().any(|m| m == "GET") {
                return Err(not_api(
                    self,
                    format!("the API key may not list {}", schema.id),
                ));
            }
        }
        if !credential.resource_methods.iter().any(|m| m == "PUT") {
            return Err(RancherError::NotWritable {
                url: self.base.to_string(),
                reason: "Resource type [registryCredential] is not updatable with this API key; \
                         use an environment API key, a key of a member (not readonly) of the \
                         environment, or run the container with the \
                         io.rancher.container.create_agent=true and \
                         io.rancher.container.agent.role=environment labels"
                    .into(),
            });
        }
        let collection = |schema: &Schema| {
            schema
                .links
                .collection
                .as_deref()
                .ok_or_else(|| {
                    not_api(
                        self,
                        format!("the {} schema has no collection link", schema.id),
                    )
                })
                .and_then(|link| self.rebase(link))
        };
        let email_required = credential
            .resource_fields
            .get("email")
            .is_some_and(|field| field["required"] == true);
        Ok((
            collection(registry)?,
            collection(credential)?,
            email_required,
        ))
    }
}
