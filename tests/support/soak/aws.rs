//! Amazon ECR in the soak: an HTTP client for the AWS SDK (the SDK's own
//! seam) that answers `GetAuthorizationToken` in this process, as ECR's
//! JSON protocol does, with the fate the fault plan draws: a token of
//! varying life, a 5xx, throttling, no answer until the SDK's attempt
//! timeout, or a connection lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use base64::Engine;

use super::{Clock, Fate, Faults, Side};

/// The target header of the one operation served.
const GET_TOKEN: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// The fake ECR, shared by the SDK client and the test.
#[derive(Clone)]
pub struct FakeEcr {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Clock,
    faults: Arc<Faults>,
    /// The account whose registry the identity owns.
    account: String,
    issued: Mutex<Issued>,
}

#[derive(Default)]
struct Issued {
    /// Every password handed out, and when it expires.
    expiries: HashMap<String, SystemTime>,
    calls: u64,
}

impl std::fmt::Debug for FakeEcr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeEcr")
    }
}

impl FakeEcr {
    pub fn new(clock: Clock, faults: Arc<Faults>, account: &str) -> FakeEcr {
        FakeEcr {
            inner: Arc::new(Inner {
                clock,
                faults,
                account: account.to_string(),
                issued: Mutex::default(),
            }),
        }
    }

    /// The SDK's HTTP client.
    pub fn http_client(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// When a password this fake issued expires; `None` if it never issued it.
    pub fn expiry(&self, password: &str) -> Option<SystemTime> {
        self.inner.issued().expiries.get(password).copied()
    }

    /// Requests answered (or not) so far.
    pub fn calls(&self) -> u64 {
        self.inner.issued().calls
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.inner.issued().expiries.len()
    }
}

impl Inner {
    fn issued(&self) -> MutexGuard<'_, Issued> {
        self.issued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new token for the identity's registry, living 12 hours mostly,
    /// sometimes one hour, now and then fifteen minutes.
    fn token(&self, region: &str) -> String {
        let roll = self.faults.chance();
        let life = match roll {
            r if r < 0.03 => Duration::from_secs(15 * 60),
            r if r < 0.10 => Duration::from_secs(3600),
            _ => Duration::from_secs(12 * 3600),
        };
        // Whole seconds, as /healthz shows them.
        let at = (self.clock.now() + life).duration_since(UNIX_EPOCH);
        let expires = UNIX_EPOCH + Duration::from_secs(at.unwrap_or_default().as_secs());
        let mut issued = self.issued();
        let password = format!("soak-token-{}", issued.expiries.len() + 1);
        issued.expiries.insert(password.clone(), expires);
        let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
        let seconds = expires.duration_since(UNIX_EPOCH).unwrap_or_default();
        serde_json::json!({"authorizationData": [{
            "authorizationToken": token,
            "expiresAt": seconds.as_secs_f64(),
            "proxyEndpoint": format!("https://{}.dkr.ecr.{region}.amazonaws.com", self.account),
        }]})
        .to_string()
    }
}

impl HttpClient for FakeEcr {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for FakeEcr {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let target = request.headers().get("x-amz-target").map(str::to_string);
        // https://api.ecr.<region>.amazonaws.com
        let region = (request.uri().split('.'))
            .nth(2)
            .unwrap_or("us-east-1")
            .to_string();
        HttpConnectorFuture::new(async move {
            inner.issued().calls += 1;
            if target.as_deref() != Some(GET_TOKEN) {
                return Ok(answer(400, "UnknownOperationException", "not simulated"));
            }
            match inner.faults.draw(Side::Aws) {
                Fate::Served => Ok(json_answer(200, inner.token(&region))),
                Fate::Down => Ok(answer(503, "ServiceUnavailableException", "soak outage")),
                Fate::Error => Ok(answer(500, "ServerException", "soak fault")),
                Fate::Throttled => Ok(answer(400, "ThrottlingException", "Rate exceeded")),
                Fate::TimedOut => {
                    // Longer than the SDK's attempt timeout, which gives up first.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(answer(500, "ServerException", "too late"))
                }
                Fate::Lost => Err(ConnectorError::io("connection reset by peer (soak)".into())),
            }
        })
    }
}

fn answer(status: u16, kind: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({"__type": kind, "message": message}).to_string();
    let mut response = json_answer(status, body);
    response
        .headers_mut()
        .insert("x-amzn-errortype", kind.to_string());
    response
}

fn json_answer(status: u16, body: String) -> HttpResponse {
    let status = StatusCode::try_from(status).expect("a valid status");
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    (response.headers_mut()).insert("content-type", "application/x-amz-json-1.1");
    response
}
