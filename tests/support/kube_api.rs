//! Raw HTTP against the kube-apiserver simulator, for the tests that pin it
//! to docs/kubernetes-api.md: one call, its status, headers and JSON body;
//! and watch streams read line by line with bounded waits.

use std::time::Duration;

use serde_json::Value;

use super::kube_sim::{KubeSim, TOKEN};

/// Generous bound on any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// Asserts a Status of failure with `code` and `reason`; returns it.
    pub fn assert_status(&self, code: u16, reason: &str) -> &Value {
        assert_eq!(self.status, code, "{}", self.text);
        let body = &self.body;
        assert_eq!(body["kind"], "Status", "{}", self.text);
        assert_eq!(body["apiVersion"], "v1");
        assert_eq!(body["status"], "Failure");
        assert_eq!(body["reason"], reason, "{}", self.text);
        assert_eq!(body["code"], code);
        assert!(body["metadata"].is_object());
        body
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    pub fn rv(&self) -> String {
        self.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// A request with the simulator's token; `content_type` for the body.
pub async fn request(
    sim: &KubeSim,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = super::http().request(method, format!("{}{path}", sim.url()));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let resp = tokio::time::timeout(WAIT, req.send())
        .await
        .expect("in time");
    let resp = resp.expect("the simulator answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

pub async fn get(sim: &KubeSim, path: &str) -> Resp {
    request(sim, "GET", path, "", None, Some(TOKEN)).await
}

/// POST, PUT (JSON bodies) or DELETE.
pub async fn send(sim: &KubeSim, method: &str, path: &str, body: Option<&Value>) -> Resp {
    request(sim, method, path, "application/json", body, Some(TOKEN)).await
}

pub async fn patch(sim: &KubeSim, path: &str, content_type: &str, body: &Value) -> Resp {
    request(sim, "PATCH", path, content_type, Some(body), Some(TOKEN)).await
}

/// An open watch stream.
pub struct Watch {
    pub status: u16,
    pub content_type: String,
    resp: reqwest::Response,
    buffer: Vec<u8>,
}

pub async fn watch(sim: &KubeSim, path_and_query: &str) -> Watch {
    let url = format!("{}{path_and_query}", sim.url());
    let resp = super::http().get(url).bearer_auth(TOKEN).send();
    let resp = tokio::time::timeout(WAIT, resp)
        .await
        .expect("in time")
        .expect("answered");
    let content_type = resp.headers().get("content-type");
    let content_type = content_type
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Watch {
        status: resp.status().as_u16(),
        content_type,
        resp,
        buffer: Vec::new(),
    }
}

impl Watch {
    /// The next event, or `None` when the stream ended; panics after `WAIT`.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(WAIT).await.expect("a watch event in time")
    }

    /// The next event within `wait` (`Err` when none came in time).
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Ok(Some(
                    serde_json::from_slice(&line).expect("one JSON event per line"),
                ));
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk()).await;
            match chunk.map_err(drop)?.expect("the stream reads") {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => return Ok(None),
            }
        }
    }

    /// The next event, which must be of `kind`; returns its object.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let event = self.next().await.expect("an event before the end");
        assert_eq!(event["type"], kind, "{event}");
        event["object"].clone()
    }
}
