//! The kubelet's exec plugin messages: one `CredentialProviderRequest` in,
//! one `CredentialProviderResponse` out (docs/kubelet-credential-provider.md,
//! "Protocol").
//!
//! Requests are read leniently (a newer kubelet may add fields); responses
//! are written with exactly the fields every released kubelet's strict
//! decoder knows, in the request's own apiVersion.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::failure::Failure;
use crate::secret::Secret;

const GROUP: &str = "credentialprovider.kubelet.k8s.io";
const REQUEST_KIND: &str = "CredentialProviderRequest";
const RESPONSE_KIND: &str = "CredentialProviderResponse";

/// The service-account annotation that names the role to assume with the
/// pod's token (the AWS plugin's convention).
pub const ROLE_ANNOTATION: &str = "eks.amazonaws.com/ecr-role-arn";

/// The versions of the protocol; the response is given in the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1Alpha1,
    V1Beta1,
    V1,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1Alpha1 => "credentialprovider.kubelet.k8s.io/v1alpha1",
            ApiVersion::V1Beta1 => "credentialprovider.kubelet.k8s.io/v1beta1",
            ApiVersion::V1 => "credentialprovider.kubelet.k8s.io/v1",
        }
    }

    fn parse(text: &str) -> Option<ApiVersion> {
        [ApiVersion::V1Alpha1, ApiVersion::V1Beta1, ApiVersion::V1]
            .into_iter()
            .find(|version| version.as_str() == text)
    }
}

/// A decoded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub api_version: ApiVersion,
    /// The image reference, as the kubelet sent it.
    pub image: String,
    /// The pod's service-account token and its annotations (v1, kubelet
    /// 1.33+ with `tokenAttributes`).
    pub service_account: Option<ServiceAccount>,
}

#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub token: Secret,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    kind: Option<String>,
    api_version: Option<String>,
    image: Option<String>,
    service_account_token: Option<String>,
    #[serde(default)]
    service_account_annotations: BTreeMap<String, String>,
}

/// Decodes stdin. Every error names what is wrong, never the token.
pub fn decode_request(input: &[u8]) -> Result<Request, Failure> {
    let bad = |reason: String| Failure::BadRequest { reason };
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(
            "stdin is empty; the kubelet sends a CredentialProviderRequest there".into(),
        ));
    }
    let raw: RawRequest = serde_json::from_slice(input).map_err(|err| bad(json_problem(&err)))?;
    let api_version = raw.api_version.unwrap_or_default();
    let api_version = ApiVersion::parse(api_version.trim()).ok_or_else(|| {
        bad(format!(
            "apiVersion {api_version:?} is not one this provider speaks \
             ({GROUP}/v1, v1beta1 or v1alpha1)"
        ))
    })?;
    let kind = raw.kind.unwrap_or_default();
    if kind != REQUEST_KIND {
        return Err(bad(format!("kind {kind:?} is not {REQUEST_KIND}")));
    }
    let image = raw.image.unwrap_or_default().trim().to_string();
    if image.is_empty() {
        return Err(bad("the request has no image".into()));
    }
    // Only v1 defines the service-account fields.
    let service_account = match (api_version, raw.service_account_token) {
        (ApiVersion::V1, Some(token)) if !token.trim().is_empty() => Some(ServiceAccount {
            token: Secret::new(token.trim()),
            annotations: raw.service_account_annotations,
        }),
        _ => None,
    };
    Ok(Request {
        api_version,
        image,
        service_account,
    })
}

/// A JSON error without serde's echo of the offending value (which could
/// be the service-account token in a misplaced field).
fn json_problem(err: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", err.line(), err.column());
    match err.classify() {
        serde_json::error::Category::Data => format!(
            "the request on stdin is not a CredentialProviderRequest: a field has the wrong \
             type ({at})"
        ),
        serde_json::error::Category::Io => format!("cannot read the request on stdin ({err})"),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("the request on stdin is not valid JSON ({at})")
        }
    }
}

/// The answer: one `auth` entry, cached per registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub api_version: ApiVersion,
    pub cache_duration: Duration,
    /// The match key: the image's registry host, with its port if any.
    pub registry: String,
    pub username: String,
    pub password: Secret,
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Auth<'a>(&'a Response);
        impl Serialize for Auth<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut entry = serializer.serialize_struct("AuthConfig", 2)?;
                entry.serialize_field("username", &self.0.username)?;
                entry.serialize_field("password", self.0.password.expose())?;
                entry.end()
            }
        }
        let mut auth = BTreeMap::new();
        auth.insert(self.registry.as_str(), Auth(self));
        // Exactly these five fields: the kubelet's strict decoder rejects
        // any other.
        let mut response = serializer.serialize_struct(RESPONSE_KIND, 5)?;
        response.serialize_field("kind", RESPONSE_KIND)?;
        response.serialize_field("apiVersion", self.api_version.as_str())?;
        response.serialize_field("cacheKeyType", "Registry")?;
        response.serialize_field("cacheDuration", &go_duration(self.cache_duration))?;
        response.serialize_field("auth", &auth)?;
        response.end()
    }
}

impl Response {
    /// The JSON for stdout.
    pub fn to_json(&self) -> String {
        // Serializing strings and a map cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An ECR token lives 12 hours (docs/ecr.md).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long the kubelet may keep the credentials, and what looked wrong if
/// the answer is "not at all".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDecision {
    pub duration: Duration,
    pub warning: Option<String>,
}

/// Half the token's remaining life in whole seconds, as the AWS plugin
/// does (the other half covers clock skew and the time to reach the
/// kubelet); zero when the expiry is missing or past. A remaining life
/// longer than a token can live means the node's clock is behind: the
/// cache is then capped at half a token's lifetime.
pub fn cache_duration(expires_at: Option<SystemTime>, now: SystemTime) -> CacheDecision {
    let Some(expires_at) = expires_at else {
        return CacheDecision {
            duration: Duration::ZERO,
            warning: Some(
                "ECR gave no expiry with the token, so the kubelet is told not to cache it \
                 (cacheDuration 0s)"
                    .into(),
            ),
        };
    };
    let remaining = match expires_at.duration_since(now) {
        Ok(remaining) if remaining.as_secs() > 0 => remaining,
        _ => {
            return CacheDecision {
                duration: Duration::ZERO,
                warning: Some(format!(
                    "the token's expiry ({}) is not in the future: the node's clock or the \
                     token looks wrong, so the kubelet is told not to cache it (cacheDuration 0s)",
                    humantime::format_rfc3339_seconds(expires_at)
                )),
            }
        }
    };
    let half = Duration::from_secs(remaining.as_secs() / 2);
    if remaining > TOKEN_LIFETIME + Duration::from_secs(300) {
        return CacheDecision {
            duration: TOKEN_LIFETIME / 2,
            warning: Some(format!(
                "the token expires {} from now, longer than the 12h ECR tokens live: the \
                 node's clock looks behind; caching for 6h",
                humantime::format_duration(Duration::from_secs(remaining.as_secs()))
            )),
        };
    }
    CacheDecision {
        duration: half,
        warning: None,
    }
}

/// A duration as Go's `time.Duration.String()` writes whole seconds
/// (`0s`, `45s`, `1m30s`, `5h59m30s`), which the kubelet parses.
pub fn go_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Result<Request, String> {
        decode_request(json.as_bytes()).map_err(|err| err.to_string())
    }

    #[test]
    fn decodes_every_version() {
        for version in ["v1alpha1", "v1beta1", "v1"] {
            let json = format!(
                r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/{version}","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app","futureField":1}}"#
            );
            let decoded = request(&json).unwrap();
            assert_eq!(
                decoded.api_version.as_str(),
                format!("credentialprovider.kubelet.k8s.io/{version}")
            );
            assert_eq!(
                decoded.image,
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"
            );
            assert!(decoded.service_account.is_none());
        }
    }

    #[test]
    fn service_account_fields_in_v1_only() {
        let json = |version: &str| {
            format!(
                r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/{version}","image":"x.example.com/app","serviceAccountToken":"eyJhbGciOiJSUzI1NiJ9.SECRET","serviceAccountAnnotations":{{"{ROLE_ANNOTATION}":"arn:aws:iam::111122223333:role/pull"}}}}"#
            )
        };
        let decoded = request(&json("v1")).unwrap();
        let account = decoded.service_account.unwrap();
        assert_eq!(account.token.expose(), "eyJhbGciOiJSUzI1NiJ9.SECRET");
        assert_eq!(
            account.annotations[ROLE_ANNOTATION],
            "arn:aws:iam::111122223333:role/pull"
        );
        assert!(!format!("{account:?}").contains("SECRET"));
        assert!(request(&json("v1beta1")).unwrap().service_account.is_none());
    }

    #[test]
    fn bad_requests_are_named() {
        let v1 = "credentialprovider.kubelet.k8s.io/v1";
        let cases = [
            ("", "stdin is empty"),
            ("  \n", "stdin is empty"),
            ("image: x", "not valid JSON"),
            ("[1]", "a field has the wrong type"),
            (
                r#"{"kind":"CredentialProviderRequest","image":"a.b/c"}"#,
                "apiVersion \"\"",
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v2","image":"a.b/c"}"#,
                "apiVersion \"credentialprovider.kubelet.k8s.io/v2\"",
            ),
            (
                &format!(
                    r#"{{"kind":"CredentialProviderResponse","apiVersion":"{v1}","image":"a.b/c"}}"#
                ),
                "kind \"CredentialProviderResponse\"",
            ),
            (
                &format!(r#"{{"kind":"CredentialProviderRequest","apiVersion":"{v1}"}}"#),
                "no image",
            ),
            (
                &format!(
                    r#"{{"kind":"CredentialProviderRequest","apiVersion":"{v1}","image":" "}}"#
                ),
                "no image",
            ),
            (
                &format!(r#"{{"kind":"CredentialProviderRequest","apiVersion":"{v1}","image":5}}"#),
                "a field has the wrong type",
            ),
        ];
        for (input, expected) in cases {
            let err = request(input).unwrap_err();
            assert!(err.contains(expected), "{input:?}: {err}");
            assert!(!err.contains('\n'), "{input:?}: {err}");
        }
    }

    #[test]
    fn json_errors_do_not_echo_values() {
        let v1 = "credentialprovider.kubelet.k8s.io/v1";
        let json = format!(
            r#"{{"kind":"CredentialProviderRequest","apiVersion":"{v1}","image":"a.b/c","serviceAccountAnnotations":"SECRET-TOKEN"}}"#
        );
        let err = request(&json).unwrap_err();
        assert!(err.contains("wrong type (line 1, column"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn the_response_has_exactly_the_five_fields() {
        let response = Response {
            api_version: ApiVersion::V1Beta1,
            cache_duration: Duration::from_secs(21_570),
            registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com:5000".into(),
            username: "AWS".into(),
            password: Secret::new("pa\"ss"),
        };
        let json: serde_json::Value = serde_json::from_str(&response.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "CredentialProviderResponse",
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1beta1",
                "cacheKeyType": "Registry",
                "cacheDuration": "5h59m30s",
                "auth": {
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com:5000": {
                        "username": "AWS",
                        "password": "pa\"ss"
                    }
                }
            })
        );
        assert!(!format!("{response:?}").contains("pa\"ss"));
    }

    #[test]
    fn go_durations() {
        for (seconds, text) in [
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "1m0s"),
            (90, "1m30s"),
            (3600, "1h0m0s"),
            (21_570, "5h59m30s"),
            (43_200, "12h0m0s"),
        ] {
            assert_eq!(go_duration(Duration::from_secs(seconds)), text);
        }
        assert_eq!(go_duration(Duration::from_millis(1999)), "1s");
    }

    #[test]
    fn cache_duration_is_half_the_remaining_life() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |secs: u64| Some(now + Duration::from_secs(secs));
        let cases = [
            (at(12 * 3600), 6 * 3600),
            (at(43_141), 21_570),
            (at(3), 1),
            (at(1), 0),
            (Some(now + Duration::from_millis(4_900)), 2),
        ];
        for (expires_at, seconds) in cases {
            let decision = cache_duration(expires_at, now);
            assert_eq!(
                decision.duration,
                Duration::from_secs(seconds),
                "{expires_at:?}"
            );
            assert_eq!(decision.warning, None);
        }
    }

    #[test]
    fn missing_or_past_expiry_is_not_cached_and_said() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let missing = cache_duration(None, now);
        assert_eq!(missing.duration, Duration::ZERO);
        assert!(missing.warning.unwrap().contains("no expiry"));
        for past in [now, now - Duration::from_secs(3600), SystemTime::UNIX_EPOCH] {
            let decision = cache_duration(Some(past), now);
            assert_eq!(decision.duration, Duration::ZERO);
            assert!(decision.warning.unwrap().contains("clock"), "{past:?}");
        }
        let skewed = cache_duration(Some(now + Duration::from_secs(30 * 3600)), now);
        assert_eq!(skewed.duration, Duration::from_secs(6 * 3600));
        assert!(skewed.warning.unwrap().contains("clock looks behind"));
    }
}
