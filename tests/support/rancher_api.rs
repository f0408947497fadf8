//! Raw calls to the Rancher simulator for the tests that pin it to the
//! Rancher 1.6 API contract (tests/simulator_*.rs): a simulator with one key
//! of each kind, requests with any method, key and header, and responses
//! read back as status, headers and JSON.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use super::rancher_sim::{KeyKind, RancherSim};

pub const PROJECT: &str = "1a5";
pub const OTHER_PROJECT: &str = "1a7";
pub const ENV_KEY: Key = ("ENVKEY00000000000005", "env-secret-5");
pub const OTHER_ENV_KEY: Key = ("ENVKEY00000000000007", "env-secret-7");
pub const PROJECT_KEY: Key = ("PROJKEY0000000000005", "project-secret-5");
pub const ADMIN_KEY: Key = ("ADMINKEY000000000001", "admin-secret");
pub const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

pub type Key = (&'static str, &'static str);

/// A simulator with projects 1a5 and 1a7 and one key of each kind.
pub async fn sim() -> RancherSim {
    let sim = RancherSim::start().await;
    sim.add_project(PROJECT);
    sim.add_project(OTHER_PROJECT);
    sim.add_key(ENV_KEY.0, ENV_KEY.1, KeyKind::Environment, Some(PROJECT));
    sim.add_key(
        OTHER_ENV_KEY.0,
        OTHER_ENV_KEY.1,
        KeyKind::Environment,
        Some(OTHER_PROJECT),
    );
    sim.add_key(
        PROJECT_KEY.0,
        PROJECT_KEY.1,
        KeyKind::Project,
        Some(PROJECT),
    );
    sim.add_key(ADMIN_KEY.0, ADMIN_KEY.1, KeyKind::Admin, None);
    sim
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn ids(&self) -> Vec<String> {
        self.body["data"]
            .as_array()
            .expect("collection data")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["type"], "error", "{}", self.body);
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
    }
}

/// Sends a request; `url` is absolute or a path on the simulator.
pub async fn call(
    sim: &RancherSim,
    method: Method,
    url: &str,
    key: Option<Key>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Resp {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", sim.url())
    };
    let mut req = super::http().request(method, url);
    if let Some((access, secret)) = key {
        req = req.basic_auth(access, Some(secret));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("request to simulator");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(sim: &RancherSim, url: &str, key: Key) -> Resp {
    call(sim, Method::GET, url, Some(key), None, &[]).await
}

pub async fn post(sim: &RancherSim, url: &str, key: Key, body: Value) -> Resp {
    call(sim, Method::POST, url, Some(key), Some(body), &[]).await
}

pub async fn put(sim: &RancherSim, url: &str, key: Key, body: Value) -> Resp {
    call(sim, Method::PUT, url, Some(key), Some(body), &[]).await
}

pub fn link(resource: &Value, name: &str) -> String {
    resource["links"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no link {name} in {resource}"))
        .to_string()
}
