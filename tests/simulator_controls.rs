//! Pins the Rancher simulator's test controls, which no Rancher has but the
//! daemon's tests steer by: failures answered before authentication,
//! latency for every request or one project's, and the record of requests.
//! A test that injects a fault or counts requests relies on these.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use support::rancher_api::{
    call, get, post, sim, Key, ADMIN_KEY, ECR, ENV_KEY, OTHER_ENV_KEY, OTHER_PROJECT, PROJECT,
};
use support::rancher_sim::RancherSim;

// ---------------------------------------------------------------------------
// Test controls
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fail_next_answers_errors_before_auth() {
    let sim = sim().await;
    sim.fail_next(2, 503);
    for _ in 0..2 {
        let resp = call(&sim, Method::GET, "/v1", None, None, &[]).await;
        resp.assert_error(503, "Service Unavailable");
        assert!(resp.header("x-api-schemas").is_some());
    }
    assert_eq!(get(&sim, "/v1", ENV_KEY).await.status, 200);

    sim.fail_next(1, 500);
    get(&sim, "/v1/registries", ENV_KEY)
        .await
        .assert_error(500, "Internal Server Error");
    assert_eq!(get(&sim, "/v1/registries", ENV_KEY).await.status, 200);
}

#[tokio::test]
async fn latency_delays_every_request() {
    let sim = sim().await;
    get(&sim, "/v1", ENV_KEY).await;
    let served = sim.request_count();
    sim.set_latency(Duration::from_secs(3600));
    let slow = support::http()
        .get(format!("{}/v1", sim.url()))
        .basic_auth(ENV_KEY.0, Some(ENV_KEY.1))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(
        slow.is_err_and(|err| err.is_timeout()),
        "an hour's latency answers late"
    );
    assert_eq!(
        sim.request_count(),
        served,
        "a waiting request is not served yet"
    );
    sim.set_latency(Duration::from_millis(1));
    assert_eq!(get(&sim, "/v1", ENV_KEY).await.status, 200);
    assert_eq!(sim.request_count(), served + 1);
}

/// Whether a GET is answered before `wait` runs out.
async fn answered_within(
    sim: &RancherSim,
    url: &str,
    key: Key,
    project: &str,
    wait: Duration,
) -> bool {
    let mut request = support::http()
        .get(format!("{}{url}", sim.url()))
        .basic_auth(key.0, Some(key.1))
        .timeout(wait);
    if !project.is_empty() {
        request = request.header("X-API-Project-Id", project);
    }
    match request.send().await {
        Ok(response) => response.status().is_success(),
        Err(err) if err.is_timeout() => false,
        Err(err) => panic!("{url}: {err}"),
    }
}

#[tokio::test]
async fn project_latency_delays_only_that_projects_requests() {
    let sim = sim().await;
    sim.set_project_latency(PROJECT, Duration::from_secs(3600));
    let (never, ample) = (Duration::from_millis(200), Duration::from_secs(60));
    for (url, key, header) in [
        ("/v2-beta/projects/1a5/registries", ENV_KEY, ""),
        ("/v2-beta/registries", ADMIN_KEY, PROJECT),
    ] {
        let answered = answered_within(&sim, url, key, header, never).await;
        assert!(
            !answered,
            "{url} {header}: scoped to {PROJECT}, so an hour late"
        );
    }
    for (url, key, header) in [
        ("/v2-beta/projects/1a7/registries", OTHER_ENV_KEY, ""),
        ("/v2-beta/registries", ADMIN_KEY, OTHER_PROJECT),
        ("/v2-beta/registries", ADMIN_KEY, ""),
        // The project resource itself is not scoped to it (§2).
        ("/v2-beta/projects/1a5", ADMIN_KEY, ""),
    ] {
        let answered = answered_within(&sim, url, key, header, ample).await;
        assert!(answered, "{url} {header}: not scoped to {PROJECT}");
    }
    assert_eq!(sim.request_count(), 4, "the slow ones are not served yet");

    // A short latency: other projects' requests are answered one after
    // another while the slow one waits, and the log says which were in
    // flight together.
    sim.set_project_latency(PROJECT, Duration::from_secs(1));
    sim.clear_requests();
    let slow_done = std::cell::Cell::new(false);
    let slow = async {
        let slow = get(&sim, "/v2-beta/projects/1a5/registries", ENV_KEY).await;
        slow_done.set(true);
        slow
    };
    let fast = async {
        while !slow_done.get() {
            get(&sim, "/v2-beta/projects/1a7/registries", OTHER_ENV_KEY).await;
        }
    };
    let (slow, ()) = tokio::join!(slow, fast);
    assert_eq!(slow.status, 200);
    get(&sim, "/v2-beta/projects/1a7/registries", OTHER_ENV_KEY).await;
    let requests = sim.requests();
    let (slow, fast): (Vec<_>, Vec<_>) = requests[..requests.len() - 1]
        .iter()
        .partition(|r| r.path_and_query.contains("/1a5/"));
    let after = requests.last().unwrap();
    let timeline: Vec<(&str, u64, u64)> = (requests.iter())
        .map(|r| (r.path_and_query.as_str(), r.arrived, r.answered))
        .collect();
    assert_eq!(slow.len(), 1, "{timeline:?}");
    assert!(fast.iter().any(|f| f.overlaps(slow[0])), "{timeline:?}");
    assert!(
        fast.windows(2).all(|pair| !pair[0].overlaps(pair[1])),
        "one after another: {timeline:?}"
    );
    assert!(!after.overlaps(slow[0]), "{timeline:?}");
    sim.set_latency(Duration::from_secs(3600));
    assert!(
        answered_within(&sim, "/v2-beta/projects/1a5/registries", ENV_KEY, "", ample).await,
        "the project's own latency wins over the global one"
    );
}

#[tokio::test]
async fn requests_are_recorded() {
    let sim = sim().await;
    get(&sim, "/v1/registries?limit=5", ENV_KEY).await;
    post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ECR}),
    )
    .await;
    let requests = sim.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(sim.request_count(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path_and_query, "/v1/registries?limit=5");
    assert_eq!(requests[0].status, 200);
    assert!(requests[0]
        .header("Authorization")
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].status, 201);
    let body: Value = serde_json::from_str(&requests[1].body).unwrap();
    assert_eq!(body["serverAddress"], ECR);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}
