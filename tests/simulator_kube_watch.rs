//! Pins the kube-apiserver simulator's watches to docs/kubernetes-api.md
//! through raw HTTP: the event stream, selector transitions, bookmarks,
//! `timeoutSeconds`, the 410 of a compacted resourceVersion (an ERROR event
//! in a 200 response), and the test controls that drop, silence or break
//! streams; then the other scripted faults and the request log.

mod support;

use std::time::Duration;

use serde_json::json;
use support::kube_api::{get, send, watch, WAIT};
use support::kube_sim::{KubeSim, Resource, APF_MESSAGE};

const SECRETS: &str = "/api/v1/namespaces/team-a/secrets";

async fn team_a() -> KubeSim {
    let sim = KubeSim::start().await;
    sim.add_namespace("team-a", &[]);
    sim
}

fn opaque(name: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({"metadata": {"name": name, "labels": labels}, "type": "Opaque"})
}

#[tokio::test]
async fn a_watch_streams_changes_after_its_resource_version() {
    let sim = team_a().await;
    send(&sim, "POST", SECRETS, Some(&opaque("before", json!({})))).await;
    let rv = get(&sim, SECRETS).await.rv();
    let mut events = watch(&sim, &format!("{SECRETS}?watch=true&resourceVersion={rv}")).await;
    assert_eq!(
        (events.status, events.content_type.as_str()),
        (200, "application/json")
    );
    let created = send(&sim, "POST", SECRETS, Some(&opaque("s", json!({})))).await;
    let object = events.expect("ADDED").await;
    assert_eq!(object["metadata"]["name"], "s");
    assert_eq!(object["kind"], "Secret");
    let mut changed = created.body.clone();
    changed["metadata"]["labels"] = json!({"x": "1"});
    send(&sim, "PUT", &format!("{SECRETS}/s"), Some(&changed)).await;
    assert_eq!(
        events.expect("MODIFIED").await["metadata"]["labels"]["x"],
        "1"
    );
    send(&sim, "DELETE", &format!("{SECRETS}/s"), None).await;
    let deleted = events.expect("DELETED").await;
    assert_eq!(
        deleted["metadata"]["resourceVersion"],
        sim.resource_version().to_string()
    );
    // Without a resourceVersion, what exists comes first as ADDED.
    let mut fresh = watch(&sim, "/api/v1/secrets?watch=1").await;
    assert_eq!(fresh.expect("ADDED").await["metadata"]["name"], "before");
}

#[tokio::test]
async fn selectors_turn_changes_into_added_and_deleted() {
    let sim = team_a().await;
    let created = send(
        &sim,
        "POST",
        SECRETS,
        Some(&opaque("s", json!({"app": "no"}))),
    )
    .await
    .body;
    let rv = sim.resource_version();
    let path = format!("/api/v1/secrets?watch=true&labelSelector=app%3Decr&resourceVersion={rv}");
    let mut events = watch(&sim, &path).await;
    let mut object = created;
    for (label, expected) in [("ecr", "ADDED"), ("ecr2", "DELETED")] {
        object["metadata"]["labels"]["app"] = json!(label);
        object["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        object = send(&sim, "PUT", &format!("{SECRETS}/s"), Some(&object))
            .await
            .body;
        assert_eq!(
            events.expect(expected).await["metadata"]["labels"]["app"],
            label
        );
    }
}

#[tokio::test]
async fn a_compacted_resource_version_gets_one_error_event_then_the_end() {
    let sim = team_a().await;
    let old = sim.resource_version();
    send(&sim, "POST", SECRETS, Some(&opaque("s", json!({})))).await;
    sim.compact();
    let mut events = watch(&sim, &format!("{SECRETS}?watch=true&resourceVersion={old}")).await;
    assert_eq!(events.status, 200);
    let status = events.expect("ERROR").await;
    assert_eq!(
        (status["kind"].clone(), status["code"].clone()),
        (json!("Status"), json!(410))
    );
    assert_eq!(status["reason"], "Expired");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("too old resource version: {old} (")));
    assert!(events.next().await.is_none());
    // A bounded history compacts by itself.
    sim.set_history_limit(2);
    let rv = sim.resource_version();
    for name in ["a", "b", "c"] {
        send(&sim, "POST", SECRETS, Some(&opaque(name, json!({})))).await;
    }
    let mut events = watch(&sim, &format!("{SECRETS}?watch=true&resourceVersion={rv}")).await;
    assert_eq!(events.expect("ERROR").await["code"], 410);
}

#[tokio::test]
async fn bookmarks_carry_kind_and_only_a_resource_version() {
    let sim = team_a().await;
    sim.set_bookmark_interval(Duration::from_millis(50));
    let rv = sim.resource_version();
    let path = format!("/apis/coordination.k8s.io/v1/leases?watch=true&allowWatchBookmarks=true&resourceVersion={rv}");
    let mut events = watch(&sim, &path).await;
    send(&sim, "POST", SECRETS, Some(&opaque("s", json!({})))).await;
    // Bookmarks follow the store past changes of other resources.
    let now = sim.resource_version().to_string();
    loop {
        let bookmark = events.expect("BOOKMARK").await;
        assert_eq!(bookmark["kind"], "Lease");
        assert_eq!(bookmark["apiVersion"], "coordination.k8s.io/v1");
        assert_eq!(
            bookmark["metadata"].as_object().unwrap().len(),
            1,
            "{bookmark}"
        );
        if bookmark["metadata"]["resourceVersion"] == now {
            break;
        }
    }
}

#[tokio::test]
async fn timeout_seconds_ends_the_stream_cleanly() {
    let sim = team_a().await;
    let mut events = watch(
        &sim,
        &format!(
            "{SECRETS}?watch=true&timeoutSeconds=1&resourceVersion={}",
            sim.resource_version()
        ),
    )
    .await;
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn test_controls_drop_silence_and_break_streams() {
    let sim = team_a().await;
    let path = format!(
        "{SECRETS}?watch=true&resourceVersion={}",
        sim.resource_version()
    );
    let mut dropped = watch(&sim, &path).await;
    sim.drop_watches();
    assert!(dropped.next().await.is_none());

    let mut quiet = watch(&sim, &path).await;
    sim.silence_watches(true);
    send(&sim, "POST", SECRETS, Some(&opaque("held", json!({})))).await;
    assert!(
        quiet.next_within(Duration::from_millis(300)).await.is_err(),
        "silent"
    );
    sim.silence_watches(false);
    assert_eq!(quiet.expect("ADDED").await["metadata"]["name"], "held");

    sim.error_watches(500);
    let error = quiet.expect("ERROR").await;
    assert_eq!(
        (error["code"].clone(), error["reason"].clone()),
        (json!(500), json!("InternalError"))
    );
    assert!(quiet.next_within(WAIT).await.unwrap().is_none());
}

#[tokio::test]
async fn faults_fail_matching_requests_and_the_log_counts_them() {
    let sim = team_a().await;
    sim.fail_next("PUT", "/secrets/", 1, 503);
    sim.fail_next("*", "/leases", 1, 504);
    sim.throttle_next("GET", "/api/v1/namespaces", 1, 3);
    let resp = get(&sim, "/api/v1/namespaces").await;
    assert_eq!((resp.status, resp.text.as_str()), (429, APF_MESSAGE));
    assert_eq!(resp.headers["retry-after"], "3");
    assert!(resp.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let created = send(&sim, "POST", SECRETS, Some(&opaque("s", json!({}))))
        .await
        .body;
    let resp = send(&sim, "PUT", &format!("{SECRETS}/s"), Some(&created)).await;
    resp.assert_status(503, "ServiceUnavailable");
    assert_eq!(resp.headers["retry-after"], "1");
    assert_eq!(
        send(&sim, "PUT", &format!("{SECRETS}/s"), Some(&created))
            .await
            .status,
        200
    );
    get(&sim, "/apis/coordination.k8s.io/v1/leases")
        .await
        .assert_status(504, "Timeout");
    sim.delay(
        "GET",
        "/api/v1/namespaces/team-a",
        Duration::from_millis(20),
    );
    assert_eq!(get(&sim, "/api/v1/namespaces/team-a").await.status, 200);

    let log = sim.requests();
    let writes: Vec<_> = log
        .iter()
        .filter(|r| r.is_write())
        .map(|r| (r.method.as_str(), r.status))
        .collect();
    assert_eq!(writes, [("POST", 201), ("PUT", 503), ("PUT", 200)]);
    assert_eq!(sim.write_count(), 3);
    assert_eq!(log[0].path, "/api/v1/namespaces");
    assert_eq!(log[1].content_type, "application/json");
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    assert!(sim.get(Resource::Secrets, "team-a", "s").is_some());
}

#[tokio::test]
async fn a_bookmark_comes_about_two_seconds_before_the_deadline() {
    let sim = team_a().await;
    let rv = sim.resource_version();
    let path = format!(
        "{SECRETS}?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion={rv}"
    );
    let mut events = watch(&sim, &path).await;
    let bookmark = events.expect("BOOKMARK").await;
    assert_eq!(bookmark["metadata"]["resourceVersion"], rv.to_string());
    assert!(events.next().await.is_none(), "then the deadline ends it");
}

#[tokio::test]
async fn send_initial_events_streams_the_list_then_a_marked_bookmark() {
    let sim = team_a().await;
    send(&sim, "POST", SECRETS, Some(&opaque("s", json!({})))).await;
    let query = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan";
    let path = format!("{SECRETS}?{query}&allowWatchBookmarks=true");
    let mut events = watch(&sim, &path).await;
    assert_eq!(events.expect("ADDED").await["metadata"]["name"], "s");
    let end = events.expect("BOOKMARK").await;
    assert_eq!(
        end["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(
        end["metadata"]["resourceVersion"],
        sim.resource_version().to_string()
    );
    send(&sim, "DELETE", &format!("{SECRETS}/s"), None).await;
    events.expect("DELETED").await;
    // Without bookmarks, or a match without sendInitialEvents: invalid.
    let resp = get(&sim, &format!("{SECRETS}?{query}")).await;
    resp.assert_status(422, "Invalid");
    let resp = get(
        &sim,
        &format!("{SECRETS}?watch=true&resourceVersionMatch=NotOlderThan"),
    )
    .await;
    resp.assert_status(422, "Invalid");
}
