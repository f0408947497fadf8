//! One HTTP exchange with Rancher: authentication, environment scoping, a
//! bounded body, and turning an error status into a [`RancherError`].
//!
//! Every request of the client goes through [`RancherClient::send`], so the
//! rules that keep credentials safe live in one place: requests only ever go
//! to `CATTLE_URL`'s origin ([`RancherClient::rebase`]), redirects are not
//! followed (see `crate::tls`), and a body never exceeds
//! [`crate::bounded::RANCHER_BODY_LIMIT`].
//!
//! The account headers are read here too ([`account_header`],
//! [`check_acted_in`]): Rancher sends them with every authenticated response
//! (docs/rancher-api.md §1), so a response without them is not one whose
//! scope we know, and nothing is written on its word.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::error::unreachable;
use super::exchange::{ExchangeError, Incoming, Outgoing};
use super::wire::{ErrorBody, Links};
use super::{RancherClient, RancherError};
use crate::bounded::RANCHER_BODY_LIMIT;

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
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        // Without it, a server with access control off runs an unknown key
        // as admin across all environments (§1). Our user agent (not a
        // browser's) means no CSRF check and no HTML responses (§1, §8).
        headers.insert("X-ENFORCE-AUTHENTICATION", HeaderValue::from_static("true"));
        headers.insert(AUTHORIZATION, self.basic_auth()?);
        if let Some(project_id) = project_id {
            let value =
                HeaderValue::from_str(project_id).map_err(|_| RancherError::BadResponse {
                    url: url.to_string(),
                    reason: format!("its environment id {project_id:?} is not a header value"),
                })?;
            headers.insert("X-API-Project-Id", value);
        }
        let body = body.map(|body| body.to_string().into_bytes());
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = Outgoing {
            method: method.clone(),
            url: url.clone(),
            headers,
            body,
        };
        let started = tokio::time::Instant::now();
        let read = self.http.exchange(request, RANCHER_BODY_LIMIT).await;
        let took = started.elapsed();
        self.metrics.rancher_request(method.as_str(), took);
        let Incoming {
            status,
            headers,
            body,
        } = read.map_err(|err| match err {
            ExchangeError::Unreachable {
                detail,
                certificate_rejected,
            } => unreachable(url, detail, certificate_rejected),
            ExchangeError::TooLarge { limit } => RancherError::BadResponse {
                url: url.to_string(),
                reason: format!(
                    "its response is larger than the {} KiB limit; abandoned",
                    limit / 1024
                ),
            },
        })?;
        tracing::debug!(%method, %url, status = status.as_u16(), elapsed_ms = took.as_millis() as u64, "rancher request");
        if status.is_success() {
            return Ok(Answer { headers, body });
        }
        Err(error_from(method, url, status, &body))
    }

    /// `Authorization: Basic` with the access and secret key, marked
    /// sensitive (never printed by the HTTP stack).
    fn basic_auth(&self) -> Result<HeaderValue, RancherError> {
        use base64::Engine;
        let pair = format!("{}:{}", self.access_key, self.secret_key.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
            RancherError::Client {
                reason: "the access key cannot be sent in a header".to_string(),
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
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

/// An account header (`X-API-Account-Id`, `X-API-Account-Kind`) of the
/// response to `url`, which Rancher always sends once the key is accepted
/// (§1): its absence is an error, as the scope is then unknown.
pub(super) fn account_header(
    url: &Url,
    headers: &HeaderMap,
    name: &str,
) -> Result<String, RancherError> {
    header_text(headers, name)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| RancherError::BadResponse {
            url: url.to_string(),
            reason: format!(
                "the response has no {name} header, which Rancher sends with every \
                 authenticated response (docs/rancher-api.md §1): which account it acted as, and \
                 in which environment, is unknown, so nothing is written on its word; is a proxy \
                 in front of Rancher removing headers?"
            ),
        })
}

/// Refuses the response to `url` unless it says it acted in `expected`,
/// the environment the request was meant for (`X-API-Account-Id`, §2).
pub(super) fn check_acted_in(
    url: &Url,
    headers: &HeaderMap,
    expected: &str,
) -> Result<(), RancherError> {
    let acted_in = account_header(url, headers, "X-API-Account-Id")?;
    if acted_in == expected {
        return Ok(());
    }
    Err(RancherError::BadResponse {
        url: url.to_string(),
        reason: format!(
            "it acted in account {acted_in} (X-API-Account-Id), not in environment {expected} \
             the request was meant for; nothing is written on its word"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_must_say_it_acted_in_the_environment_meant() {
        let url = Url::parse("http://rancher:8080/v2-beta/projects/1a5/registries").unwrap();
        let mut headers = HeaderMap::new();
        let refused = |headers: &HeaderMap| check_acted_in(&url, headers, "1a5").unwrap_err();
        let missing = refused(&headers).to_string();
        assert!(missing.contains(url.as_str()), "{missing}");
        assert!(missing.contains("no X-API-Account-Id header"), "{missing}");
        headers.insert("X-API-Account-Id", "".parse().unwrap());
        assert!(refused(&headers)
            .to_string()
            .contains("no X-API-Account-Id"));
        headers.insert("X-API-Account-Id", "1a7".parse().unwrap());
        let other = refused(&headers).to_string();
        assert!(other.contains("acted in account 1a7"), "{other}");
        assert!(other.contains("not in environment 1a5"), "{other}");
        headers.insert("X-API-Account-Id", "1a5".parse().unwrap());
        assert!(check_acted_in(&url, &headers, "1a5").is_ok());
    }
}
