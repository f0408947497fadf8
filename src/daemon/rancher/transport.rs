//! One HTTP exchange with Rancher: authentication, environment scoping, a
//! bounded body, and turning an error status into a [`RancherError`].
//!
//! Every request of the client goes through [`RancherClient::send`], so the
//! rules that keep credentials safe live in one place: requests only ever go
//! to `CATTLE_URL`'s origin ([`RancherClient::rebase`]), redirects are not
//! followed (see `mod.rs`), and a body never exceeds
//! [`crate::bounded::RANCHER_BODY_LIMIT`].

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::error::unreachable;
use super::wire::{ErrorBody, Links};
use super::{RancherClient, RancherError};
use crate::bounded::{self, ReadError, RANCHER_BODY_LIMIT};

/// A successful answer: its headers and its body.
pub(super) struct Answer {
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl RancherClient {
    /// Sends one request; `project_id` scopes it to an environment by the
    /// `X-API-Project-Id` header (docs/rancher-api.md §2).
    pub(super) async fn send(
        &self,
        method: Method,
        url: &Url,
        project_id: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, RancherError> {
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
        let sent = request.send().await;
        let read = match sent {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                bounded::read_body(response, RANCHER_BODY_LIMIT)
                    .await
                    .map(|body| (status, headers, body))
            }
            Err(err) => Err(ReadError::Transport(err)),
        };
        let took = started.elapsed();
        self.metrics.rancher_request(method.as_str(), took);
        let (status, headers, body) = read.map_err(|err| match err {
            ReadError::Transport(err) => unreachable(url, &err),
            ReadError::TooLarge(too_large) => RancherError::BadResponse {
                url: url.to_string(),
                reason: format!(
                    "its response is larger than the {} KiB limit; abandoned",
                    too_large.limit / 1024
                ),
            },
        })?;
        tracing::debug!(%method, %url, status = status.as_u16(), elapsed_ms = took.as_millis() as u64, "rancher request");
        if status.is_success() {
            return Ok(Answer { headers, body });
        }
        Err(error_from(method, url, status, &body))
    }

    /// Links the server generates carry its own idea of scheme and host,
    /// which is wrong behind a proxy that does not set X-Forwarded-*.
    /// Requests always go to CATTLE_URL's origin, so credentials never
    /// travel to another host.
    pub(super) fn rebase(&self, link: &str) -> Result<Url, RancherError> {
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

    /// An object's own URL: its `self` link, or go-rancher's by-id form
    /// (the collection URL plus the id, §2).
    pub(super) fn self_link(
        &self,
        links: &Links,
        collection: &Url,
        id: &str,
    ) -> Result<Url, RancherError> {
        match &links.self_link {
            Some(link) => self.rebase(link),
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
}

/// The error an unsuccessful status stands for, with Rancher's own code and
/// message when the body has them (§6).
fn error_from(method: Method, url: &Url, status: StatusCode, body: &[u8]) -> RancherError {
    let reason = || status.canonical_reason().unwrap_or("").to_string();
    let (code, message, field_name) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => (
            error.code.unwrap_or_else(reason),
            error.message,
            error.field_name,
        ),
        Err(_) => (
            reason(),
            Some(format!("non-JSON response of {} bytes", body.len())),
            None,
        ),
    };
    match status {
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
    }
}

/// A response header as text, if present and printable.
pub(super) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
