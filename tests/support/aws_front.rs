//! A recording, scriptable front for moto: it sits between the binary and
//! moto where a test needs to see or bend the AWS traffic. It records which
//! operation went out signed for which region, rewrites a token's expiry,
//! or answers an operation with a scripted error (and answers ECR Public,
//! which moto does not serve).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::moto::Moto;

/// What the front does with a request.
#[derive(Clone)]
pub enum Script {
    /// Pass everything to moto.
    Forward,
    /// Pass to moto, but set (or, with `None`, drop) the token's `expiresAt`.
    Expiry(Option<f64>),
    /// Pass to moto, but end each token's password with `@<region>` (the
    /// region its request was signed for): moto's passwords are the same
    /// in every region, and a test must tell which region's was written.
    TagRegions,
    /// Answer `operation` with `status` and a JSON body; forward the rest.
    Reply {
        operation: &'static str,
        status: u16,
        body: String,
    },
    /// Forward the first `after` calls of `operation`, then answer every
    /// later one like `Reply`: AWS failing after a success.
    ReplyAfter {
        after: usize,
        operation: &'static str,
        status: u16,
        body: String,
    },
    /// Like `Reply`, for requests signed for `region` only.
    ReplyIn {
        region: &'static str,
        operation: &'static str,
        status: u16,
        body: String,
    },
}

/// One request the front saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GetAuthorizationToken`, `AssumeRoleWithWebIdentity`, ...
    pub operation: String,
    /// The region of the SigV4 credential scope; empty when unsigned.
    pub region: String,
}

pub struct AwsFront {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    bodies: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct FrontState {
    script: Script,
    moto: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    bodies: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl AwsFront {
    pub async fn start(script: Script) -> AwsFront {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let state = FrontState {
            script,
            moto: Moto::shared().endpoint.clone(),
            seen: seen.clone(),
            bodies: bodies.clone(),
            http: super::http(),
        };
        let app = axum::Router::new().fallback(front).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        AwsFront { url, seen, bodies }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The GetAuthorizationToken calls after the first `skip` requests,
    /// counted by the region they were signed for.
    pub fn token_calls(&self, skip: usize) -> std::collections::BTreeMap<String, usize> {
        let mut calls = std::collections::BTreeMap::new();
        for seen in self.seen().into_iter().skip(skip) {
            if seen.operation == "GetAuthorizationToken" {
                *calls.entry(seen.region).or_default() += 1;
            }
        }
        calls
    }

    /// The request bodies, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

/// The operation: `X-Amz-Target` (JSON protocols) or `Action=` (query).
fn operation_of(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("")
        .to_string()
}

/// `Credential=AKID/20260101/eu-west-1/ecr/aws4_request` -> `eu-west-1`.
fn signed_region(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(2))
        .unwrap_or("")
        .to_string()
}

async fn front(
    State(state): State<FrontState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = operation_of(&headers, &body);
    state.seen.lock().unwrap().push(Seen {
        operation: operation.clone(),
        region: signed_region(&headers),
    });
    state
        .bodies
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&body).into_owned());
    let scripted = match &state.script {
        Script::Reply {
            operation,
            status,
            body,
        } => Some((*operation, *status, body)),
        Script::ReplyIn {
            region,
            operation,
            status,
            body,
        } if *region == signed_region(&headers) => Some((*operation, *status, body)),
        Script::ReplyAfter {
            after,
            operation,
            status,
            body,
        } => {
            let calls = state
                .seen
                .lock()
                .unwrap()
                .iter()
                .filter(|seen| seen.operation == *operation)
                .count();
            (calls > *after).then_some((*operation, *status, body))
        }
        _ => None,
    };
    if let Some((scripted, status, body)) = scripted {
        if operation == scripted {
            let status = StatusCode::from_u16(status).unwrap();
            return (
                status,
                [("content-type", "application/x-amz-json-1.1")],
                body.clone(),
            )
                .into_response();
        }
    }
    let mut forward = state
        .http
        .request(method, format!("{}{}", state.moto, uri))
        .body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.expect("moto answers");
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let mut bytes = answer.bytes().await.expect("moto's body").to_vec();
    if let (Script::Expiry(expiry), "GetAuthorizationToken") = (&state.script, operation.as_str()) {
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for data in json["authorizationData"].as_array_mut().unwrap() {
            let data = data.as_object_mut().unwrap();
            match expiry {
                Some(at) => data.insert("expiresAt".into(), serde_json::json!(at)),
                None => data.remove("expiresAt"),
            };
        }
        bytes = serde_json::to_vec(&json).unwrap();
    }
    if let (Script::TagRegions, "GetAuthorizationToken") = (&state.script, operation.as_str()) {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let region = signed_region(&headers);
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for data in json["authorizationData"].as_array_mut().unwrap() {
            let token = data["authorizationToken"].as_str().unwrap();
            let login = String::from_utf8(engine.decode(token).unwrap()).unwrap();
            data["authorizationToken"] =
                serde_json::json!(engine.encode(format!("{login}@{region}")));
        }
        bytes = serde_json::to_vec(&json).unwrap();
    }
    (status, [("content-type", content_type)], bytes).into_response()
}

/// The password a `TagRegions` front hands out for moto's `password` in
/// `region`.
pub fn tagged(password: &str, region: &str) -> String {
    format!("{password}@{region}")
}

/// An AWS JSON error body.
pub fn aws_error(code: &str, message: &str) -> String {
    serde_json::json!({"__type": code, "message": message}).to_string()
}
