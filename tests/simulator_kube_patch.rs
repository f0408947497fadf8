//! Pins the kube-apiserver simulator's PATCH to docs/kubernetes-api.md
//! through raw HTTP: the four content types, the list semantics of
//! `imagePullSecrets` (atomic: replaced whole) and `secrets` (merged by
//! name), JSON patch failures as 422, and server-side apply's managers,
//! conflicts and `force`.

mod support;

use serde_json::json;
use support::kube_api::{get, patch, send};
use support::kube_sim::{KubeSim, Resource};

const SA: &str = "/api/v1/namespaces/team-a/serviceaccounts/default";
const JSON_PATCH: &str = "application/json-patch+json";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

/// team-a, whose default ServiceAccount pulls with `old`.
async fn with_pull_secret() -> KubeSim {
    let sim = KubeSim::start().await;
    sim.add_namespace("team-a", &[]);
    sim.put(
        Resource::ServiceAccounts,
        json!({"metadata": {"name": "default", "namespace": "team-a"},
            "imagePullSecrets": [{"name": "old"}], "secrets": [{"name": "token"}]}),
    );
    sim
}

#[tokio::test]
async fn strategic_merge_replaces_image_pull_secrets_whole() {
    let sim = with_pull_secret().await;
    let body = json!({"imagePullSecrets": [{"name": "ecr"}], "secrets": [{"name": "extra"}]});
    let resp = patch(&sim, SA, STRATEGIC, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["imagePullSecrets"], json!([{"name": "ecr"}]));
    assert_eq!(
        resp.body["secrets"],
        json!([{"name": "token"}, {"name": "extra"}])
    );
    let delete = json!({"secrets": [{"name": "token", "$patch": "delete"}]});
    let resp = patch(&sim, SA, STRATEGIC, &delete).await;
    assert_eq!(resp.body["secrets"], json!([{"name": "extra"}]));
}

#[tokio::test]
async fn merge_patch_replaces_lists_and_null_deletes() {
    let sim = with_pull_secret().await;
    let body = json!({"metadata": {"labels": {"a": "1"}}, "imagePullSecrets": [{"name": "ecr"}]});
    let resp = patch(&sim, SA, MERGE, &body).await;
    assert_eq!(resp.body["imagePullSecrets"], json!([{"name": "ecr"}]));
    assert_eq!(resp.body["metadata"]["labels"], json!({"a": "1"}));
    let resp = patch(
        &sim,
        SA,
        MERGE,
        &json!({"metadata": {"labels": {"a": null}}}),
    )
    .await;
    assert_eq!(resp.body["metadata"]["labels"], json!({}));
    // A resourceVersion in the patch is a precondition.
    let stale = json!({"metadata": {"resourceVersion": "1"}, "imagePullSecrets": []});
    patch(&sim, SA, MERGE, &stale)
        .await
        .assert_status(409, "Conflict");
}

#[tokio::test]
async fn json_patch_appends_and_a_failed_test_is_422() {
    let sim = with_pull_secret().await;
    let append = json!([
        {"op": "test", "path": "/imagePullSecrets", "value": [{"name": "old"}]},
        {"op": "add", "path": "/imagePullSecrets/-", "value": {"name": "ecr"}},
    ]);
    let resp = patch(&sim, SA, JSON_PATCH, &append).await;
    assert_eq!(
        resp.body["imagePullSecrets"],
        json!([{"name": "old"}, {"name": "ecr"}])
    );
    let rv = sim.resource_version();
    let resp = patch(&sim, SA, JSON_PATCH, &append).await;
    let body = resp.assert_status(422, "Invalid");
    assert_eq!(
        body["message"],
        "the server rejected our request due to an error in our request"
    );
    assert_eq!(sim.resource_version(), rv, "nothing written");
    let missing = json!([{"op": "add", "path": "/missing/-", "value": 1}]);
    patch(&sim, SA, JSON_PATCH, &missing)
        .await
        .assert_status(422, "Invalid");
    let resp = patch(&sim, SA, "application/xml", &json!({})).await;
    resp.assert_status(415, "UnsupportedMediaType");
    let resp = patch(
        &sim,
        "/api/v1/namespaces/team-a/serviceaccounts/nope",
        MERGE,
        &json!({}),
    )
    .await;
    resp.assert_status(404, "NotFound");
}

#[tokio::test]
async fn patches_keep_a_secrets_type() {
    let sim = with_pull_secret().await;
    let secret = json!({"metadata": {"name": "ecr"}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="}});
    send(
        &sim,
        "POST",
        "/api/v1/namespaces/team-a/secrets",
        Some(&secret),
    )
    .await;
    let path = "/api/v1/namespaces/team-a/secrets/ecr";
    let resp = patch(
        &sim,
        path,
        MERGE,
        &json!({"data": {".dockerconfigjson": "eyJhdXRocyI6e319"}}),
    )
    .await;
    assert_eq!(resp.body["type"], "kubernetes.io/dockerconfigjson");
    let resp = patch(&sim, path, MERGE, &json!({"type": "Opaque"})).await;
    resp.assert_status(422, "Invalid");
    let resp = patch(
        &sim,
        path,
        MERGE,
        &json!({"data": {".dockerconfigjson": null}}),
    )
    .await;
    assert!(
        resp.message()
            .contains("data[.dockerconfigjson]: Required value"),
        "{}",
        resp.text
    );
}

fn applied(pull: &[&str]) -> serde_json::Value {
    let entries: Vec<_> = pull.iter().map(|n| json!({"name": n})).collect();
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "team-a"}, "imagePullSecrets": entries})
}

#[tokio::test]
async fn apply_needs_a_manager_and_conflicts_name_the_other_one() {
    let sim = with_pull_secret().await;
    let resp = patch(&sim, SA, APPLY, &applied(&["ecr"])).await;
    assert_eq!(
        resp.assert_status(422, "Invalid")["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    // An Update manager owns the list now.
    let update = json!({"imagePullSecrets": [{"name": "mine"}]});
    let resp = patch(
        &sim,
        &format!("{SA}?fieldManager=other-writer"),
        STRATEGIC,
        &update,
    )
    .await;
    assert_eq!(resp.status, 200);
    let resp = patch(
        &sim,
        &format!("{SA}?fieldManager=ecr-updater"),
        APPLY,
        &applied(&["ecr"]),
    )
    .await;
    let body = resp.assert_status(409, "Conflict");
    assert_eq!(
        body["message"],
        "Apply failed with 1 conflict: conflict with \"other-writer\" using v1: .imagePullSecrets"
    );
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"other-writer\" using v1", "field": ".imagePullSecrets"}])
    );
    let resp = patch(
        &sim,
        &format!("{SA}?fieldManager=ecr-updater&force=true"),
        APPLY,
        &applied(&["ecr"]),
    )
    .await;
    assert_eq!(
        resp.body["imagePullSecrets"],
        json!([{"name": "ecr"}]),
        "force drops the others' entries"
    );
    // The same apply again is a no-op; force on another patch type is 422.
    let rv = sim.resource_version();
    let resp = patch(
        &sim,
        &format!("{SA}?fieldManager=ecr-updater"),
        APPLY,
        &applied(&["ecr"]),
    )
    .await;
    assert_eq!((resp.status, sim.resource_version()), (200, rv));
    patch(&sim, &format!("{SA}?force=true"), MERGE, &json!({}))
        .await
        .assert_status(422, "Invalid");
}

#[tokio::test]
async fn apply_creates_and_drops_fields_it_no_longer_applies() {
    let sim = with_pull_secret().await;
    let path = "/api/v1/namespaces/team-a/secrets/applied?fieldManager=ecr-updater";
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "applied", "labels": {"a": "1", "b": "2"}}, "type": "Opaque"});
    let resp = patch(&sim, path, APPLY, &secret).await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    let mut fewer = secret.clone();
    fewer["metadata"]["labels"] = json!({"a": "1"});
    let resp = patch(&sim, path, APPLY, &fewer).await;
    assert_eq!(resp.body["metadata"]["labels"], json!({"a": "1"}));
    let mut managed = secret.clone();
    managed["metadata"]["managedFields"] = json!([]);
    patch(&sim, path, APPLY, &managed)
        .await
        .assert_status(400, "BadRequest");
    assert_eq!(
        get(&sim, "/api/v1/namespaces/team-a/secrets/applied")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn apply_takes_yaml_too() {
    let sim = with_pull_secret().await;
    let yaml = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: team-a\nimagePullSecrets:\n- name: ecr\n";
    let url = format!("{}{SA}?fieldManager=ecr-updater&force=true", sim.url());
    let resp = support::http()
        .patch(url)
        .bearer_auth(support::kube_sim::TOKEN)
        .header("content-type", APPLY)
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["imagePullSecrets"], json!([{"name": "ecr"}]));
}
