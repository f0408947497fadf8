//! `--check-image IMAGE`: does the token actually let this identity pull?
//!
//! A token proves `ecr:GetAuthorizationToken`; pulling also needs
//! `ecr:BatchGetImage` (and the repository policy's consent, across
//! accounts). So ask the registry for the image's manifest, with a HEAD
//! (`/v2/<repository>/manifests/<tag>`, the OCI distribution API) and the
//! token as Basic credentials, and turn the status into a sentence. A
//! registry that answers with a Bearer challenge (ECR Public, some mirrors)
//! gets the distribution token dance once, and only on its own origin: the
//! challenge names where the credentials go, and whoever answers the
//! manifest request may name any server, so a realm whose scheme, host or
//! port differs from the registry's gets nothing (the same host on another
//! port can be another program, or another tenant's).
//!
//! Used by `kubelet-credential-provider --check-image` and the daemon's
//! `--check --check-image` ([`probe_pull`] takes any token).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;

use crate::image::ImageRef;
use crate::secret::Secret;

/// Every registry request (connect, send, answer).
pub const REGISTRY_TIMEOUT: Duration = Duration::from_secs(10);
/// A Bearer token answer larger than this is not one.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// Manifest types a runtime accepts, so the registry answers as for a pull.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// What the registry said about the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullCheck {
    pub pullable: bool,
    /// One line for a person: what happened and, if not pullable, what to fix.
    pub summary: String,
}

/// Asks the registry of `image` for its manifest with `username`/`password`.
/// `region` is only used to word a 401. `ca_bundle` (PEM) is trusted
/// besides the system roots.
pub async fn probe_pull(
    image: &ImageRef,
    username: &str,
    password: &Secret,
    region: &str,
    ca_bundle: Option<&[u8]>,
) -> PullCheck {
    let failed = |summary: String| PullCheck {
        pullable: false,
        summary,
    };
    let client = match client(ca_bundle) {
        Ok(client) => client,
        Err(reason) => return failed(format!("cannot set up HTTPS: {reason}")),
    };
    let origin = match reqwest::Url::parse(&format!("https://{}/", image.registry)) {
        Ok(origin) => origin,
        Err(err) => return failed(format!("{} is not a usable host: {err}", image.registry)),
    };
    let url = format!(
        "{origin}v2/{}/manifests/{}",
        image.repository, image.reference
    );
    let basic = basic_auth(username, password);
    let mut response = match head(&client, &url, &basic).await {
        Ok(response) => response,
        Err(reason) => return failed(reason),
    };
    if response.status() == StatusCode::UNAUTHORIZED {
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .and_then(BearerChallenge::parse);
        if let Some(challenge) = challenge {
            match bearer_token(&client, &challenge, &basic, &origin).await {
                Ok(bearer) => match head(&client, &url, &bearer).await {
                    Ok(second) => response = second,
                    Err(reason) => return failed(reason),
                },
                Err(reason) => return failed(reason),
            }
        }
    }
    let what = format!(
        "{}/{}:{}",
        image.registry, image.repository, image.reference
    );
    let status = response.status();
    match status.as_u16() {
        200..=299 => PullCheck {
            pullable: true,
            summary: format!("{what}: the registry serves its manifest to this identity"),
        },
        401 => failed(format!(
            "{what}: the registry did not accept the token (401); a token works only in the \
             region it was issued for ({region}), so check that the host (or its alias) is in \
             that region and the identity still exists"
        )),
        403 => failed(format!(
            "{what}: the identity may not pull it (403): allow ecr:BatchGetImage, \
             ecr:GetDownloadUrlForLayer and ecr:BatchCheckLayerAvailability on the repository, \
             in the IAM policy and (across accounts) the repository policy"
        )),
        404 => failed(format!(
            "{what}: not found (404); the token was accepted, so check the repository name and \
             the tag"
        )),
        _ => failed(format!(
            "{what}: unexpected answer {status} from the registry"
        )),
    }
}

fn client(ca_bundle: Option<&[u8]>) -> Result<reqwest::Client, String> {
    crate::tls::client_builder(REGISTRY_TIMEOUT, REGISTRY_TIMEOUT, ca_bundle)
        .and_then(reqwest::ClientBuilder::build)
        .map_err(|err| err.to_string())
}

fn basic_auth(username: &str, password: &Secret) -> HeaderValue {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose()));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

async fn head(
    client: &reqwest::Client,
    url: &str,
    authorization: &HeaderValue,
) -> Result<reqwest::Response, String> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_TYPES));
    headers.insert(AUTHORIZATION, authorization.clone());
    client
        .head(url)
        .headers(headers)
        .send()
        .await
        .map_err(|err| request_error(url, &err))
}

/// A transport error as one line, without the request (no credentials are
/// in a URL here, but the error chain can be long).
fn request_error(url: &str, err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let cause = if err.is_timeout() {
        format!(
            "no answer within {}",
            humantime::format_duration(REGISTRY_TIMEOUT)
        )
    } else {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    format!("cannot reach the registry at {url} ({cause}); check the node's network, DNS and HTTPS_PROXY/NO_PROXY (and CA_FILE for a private CA)")
}

/// `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`.
#[derive(Debug, PartialEq, Eq)]
struct BearerChallenge {
    realm: String,
    params: Vec<(String, String)>,
}

impl BearerChallenge {
    fn parse(header: &str) -> Option<BearerChallenge> {
        let (scheme, rest) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut realm = None;
        let mut params = Vec::new();
        for part in split_params(rest) {
            let (key, value) = part.split_once('=')?;
            let value = value.trim().trim_matches('"').to_string();
            match key.trim() {
                "realm" => realm = Some(value),
                key @ ("service" | "scope") => params.push((key.to_string(), value)),
                _ => {}
            }
        }
        let realm = realm.filter(|realm| realm.starts_with("https://"))?;
        Some(BearerChallenge { realm, params })
    }
}

/// Splits `a="x,y",b=z` at the commas outside quotes.
fn split_params(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Where to ask for a Bearer token: the challenge's realm with its
/// parameters, if it is on `registry`'s origin (scheme, host and port, the
/// default port spelled or not). The ECR password goes to the registry
/// itself and nowhere else: a realm on another host (a mirror's, a hostile
/// one's) or another port of the same host gets nothing.
fn token_url(challenge: &BearerChallenge, registry: &reqwest::Url) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse_with_params(&challenge.realm, &challenge.params)
        .map_err(|err| format!("the registry's token realm is not a URL: {err}"))?;
    if url.origin() != registry.origin() {
        return Err(format!(
            "the registry sends its token requests to {}, not to its own origin {}; the \
             credentials are not sent there, so this check cannot tell whether the image can \
             be pulled",
            url.origin().ascii_serialization(),
            registry.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

/// The distribution token dance: GET the realm (on `registry`'s origin
/// only) with the Basic credentials, read `token` (or `access_token`), use
/// it as Bearer.
async fn bearer_token(
    client: &reqwest::Client,
    challenge: &BearerChallenge,
    basic: &HeaderValue,
    registry: &reqwest::Url,
) -> Result<HeaderValue, String> {
    let url = token_url(challenge, registry)?;
    let mut response = client
        .get(url.clone())
        .header(AUTHORIZATION, basic.clone())
        .send()
        .await
        .map_err(|err| request_error(url.as_str(), &err))?;
    if !response.status().is_success() {
        return Err(format!(
            "the registry's token service refused the credentials ({})",
            response.status()
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| request_error(url.as_str(), &err))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_TOKEN_RESPONSE {
            return Err("the registry's token answer is too large".into());
        }
    }
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|_| "the registry's token answer is not the expected JSON".to_string())?;
    let token = answer
        .token
        .or(answer.access_token)
        .ok_or("the registry's token answer holds no token")?;
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the registry's token is not a valid header value".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges() {
        let challenge = BearerChallenge::parse(
            r#"Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws""#,
        )
        .unwrap();
        assert_eq!(challenge.realm, "https://public.ecr.aws/token/");
        assert_eq!(
            challenge.params,
            [
                ("service".to_string(), "public.ecr.aws".to_string()),
                ("scope".to_string(), "aws".to_string())
            ]
        );
        let scoped = BearerChallenge::parse(
            r#"bearer realm="https://r.example.com/t",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(scoped.params[0].1, "repository:a/b:pull,push");
        assert_eq!(BearerChallenge::parse(r#"Basic realm="x""#), None);
        // Credentials never go to a plain-HTTP realm.
        assert_eq!(BearerChallenge::parse(r#"Bearer realm="http://r/t""#), None);
        assert_eq!(BearerChallenge::parse("Bearer"), None);
    }

    #[test]
    fn credentials_go_only_to_the_registrys_origin() {
        let challenge = |realm: &str| BearerChallenge {
            realm: realm.to_string(),
            params: vec![("scope".to_string(), "repository:a/b:pull".to_string())],
        };
        let registry = |host: &str| reqwest::Url::parse(&format!("https://{host}/")).unwrap();
        for (host, realm) in [
            ("r.example.com", "https://r.example.com/token"),
            ("r.example.com", "https://R.Example.com:443/token"),
            ("r.example.com:443", "https://r.example.com/token"),
            ("r.example.com:5000", "https://r.example.com:5000/v2/token"),
        ] {
            let url = token_url(&challenge(realm), &registry(host));
            let url = url.unwrap_or_else(|err| panic!("{host} {realm}: {err}"));
            assert_eq!(url.query(), Some("scope=repository%3Aa%2Fb%3Apull"));
        }
        for (host, realm, named) in [
            // Same host, another port: another origin.
            (
                "r.example.com",
                "https://r.example.com:8443/token",
                "https://r.example.com:8443",
            ),
            (
                "r.example.com:5000",
                "https://r.example.com/token",
                "https://r.example.com,",
            ),
            (
                "r.example.com:5000",
                "https://r.example.com:5001/t",
                "https://r.example.com:5001",
            ),
            (
                "r.example.com",
                "https://auth.example.com/token",
                "https://auth.example.com",
            ),
            (
                "r.example.com",
                "https://r.example.com.evil.test/t",
                "https://r.example.com.evil.test",
            ),
            (
                "127.0.0.1:5000",
                "https://localhost:5000/token",
                "https://localhost:5000",
            ),
        ] {
            let err = token_url(&challenge(realm), &registry(host)).unwrap_err();
            assert!(
                err.contains(&format!("to {named}")) && err.contains("not sent"),
                "{host} {realm}: {err}"
            );
        }
        // The scheme is part of the origin too (a challenge never names
        // plain HTTP: `BearerChallenge::parse` drops it).
        let err = token_url(
            &challenge("http://r.example.com/t"),
            &registry("r.example.com"),
        );
        assert!(err.is_err());
    }

    #[test]
    fn basic_credentials_are_sensitive() {
        let value = basic_auth("AWS", &Secret::new("pw"));
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Basic QVdTOnB3");
    }
}
