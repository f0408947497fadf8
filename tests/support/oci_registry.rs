//! A fake OCI registry for `--check-image` (tests/kubelet.rs) and the
//! daemon's `--check --check-image` (tests/operations.rs): it knows
//! `team/app:1` and lets moto's password for the default account pull it,
//! forbids `secret`, answers 404 for anything else, and sends a Bearer
//! challenge (with a token endpoint) for `bearer/*`; for `elsewhere/*` the
//! challenge names the realm a test set ([`OciRegistry::set_realm`]), so a
//! test can see whether credentials follow a realm off the registry's
//! origin. It asserts that each manifest request accepts OCI image indexes,
//! and records the paths asked, token requests (`/token`) included.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get};

use super::daemon::{moto_password, ACCOUNT};

/// The registry, on a loopback port; ends with the test's runtime.
pub struct OciRegistry {
    /// Its plain HTTP port (a `TlsFront` puts HTTPS before it).
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    realm: Arc<Mutex<String>>,
}

impl OciRegistry {
    /// The paths of the manifest and token requests so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The token realm the challenge for `elsewhere/*` names.
    pub fn set_realm(&self, realm: &str) {
        *self.realm.lock().unwrap() = realm.to_string();
    }

    pub async fn start() -> OciRegistry {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let realm = Arc::new(Mutex::new(String::new()));
        let port = serve(seen.clone(), realm.clone()).await;
        OciRegistry { port, seen, realm }
    }
}

async fn serve(seen: Arc<Mutex<Vec<String>>>, elsewhere: Arc<Mutex<String>>) -> u16 {
    let log = seen.clone();
    let basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("AWS:{}", moto_password(ACCOUNT)))
        )
    };
    let manifests = move |uri: Uri, headers: HeaderMap| {
        let log = log.clone();
        let basic = basic.clone();
        let elsewhere = elsewhere.lock().unwrap().clone();
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let accept = headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            log.lock().unwrap().push(uri.path().to_string());
            assert!(
                accept.contains("application/vnd.oci.image.index.v1+json"),
                "{accept}"
            );
            let path = uri.path();
            let challenge = match path.split('/').nth(2) {
                Some("bearer") => Some(format!(
                    "https://{}/token",
                    headers.get("host").unwrap().to_str().unwrap()
                )),
                Some("elsewhere") => Some(elsewhere),
                _ => None,
            };
            if let Some(realm) = challenge {
                if auth == "Bearer t0ken" {
                    return StatusCode::OK.into_response();
                }
                let repository = path
                    .trim_start_matches("/v2/")
                    .split("/manifests/")
                    .next()
                    .unwrap();
                return (
                    StatusCode::UNAUTHORIZED,
                    [("www-authenticate", format!("Bearer realm=\"{realm}\",service=\"reg\",scope=\"repository:{repository}:pull\""))],
                )
                    .into_response();
            }
            if auth != basic {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            match path {
                "/v2/team/app/manifests/1" => StatusCode::OK.into_response(),
                "/v2/secret/manifests/latest" => StatusCode::FORBIDDEN.into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    let token = move |uri: Uri, headers: HeaderMap| {
        seen.lock().unwrap().push(uri.path().to_string());
        token_answer(uri, headers)
    };
    let app = axum::Router::new()
        .route("/token", get(token))
        .route("/v2/{*rest}", any(manifests));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// The token endpoint: Basic credentials in, the Bearer token out.
async fn token_answer(uri: Uri, headers: HeaderMap) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(auth.starts_with("Basic "), "{auth}");
    assert!(
        uri.query().unwrap_or("").contains("scope=repository%3A"),
        "{uri}"
    );
    (
        [("content-type", "application/json")],
        serde_json::json!({"token": "t0ken"}).to_string(),
    )
}
