//! Pins the kube-apiserver simulator's reads to docs/kubernetes-api.md
//! through raw HTTP: discovery, authentication, RBAC, NotFound bodies,
//! lists with the resourceVersion rules, selectors and consistent pages.

mod support;

use serde_json::json;
use support::kube_api::{get, request, send};
use support::kube_sim::{KubeSim, Resource, TOKEN, USER};

/// Two namespaces, each with a dockerconfigjson Secret and an Opaque one.
async fn seeded() -> KubeSim {
    let sim = KubeSim::start().await;
    for ns in ["team-a", "team-b"] {
        sim.add_namespace(ns, &[("tier", if ns == "team-a" { "1" } else { "2" })]);
        for (name, kind) in [
            ("ecr", "kubernetes.io/dockerconfigjson"),
            ("other", "Opaque"),
        ] {
            let data = json!({".dockerconfigjson": "e30="});
            let labels = json!({"app": name});
            let secret = json!({"metadata": {"name": name, "namespace": ns, "labels": labels},
                "type": kind, "data": data});
            sim.put(Resource::Secrets, secret);
        }
    }
    sim
}

#[tokio::test]
async fn discovery_documents_name_the_four_resources() {
    let sim = KubeSim::start().await;
    assert_eq!(get(&sim, "/api").await.body["versions"], json!(["v1"]));
    let core = get(&sim, "/api/v1").await.body;
    let names: Vec<&str> = (core["resources"].as_array().unwrap().iter())
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["namespaces", "secrets", "serviceaccounts"]);
    let groups = get(&sim, "/apis").await.body;
    assert_eq!(
        groups["groups"][0]["preferredVersion"]["groupVersion"],
        "coordination.k8s.io/v1"
    );
    let leases = get(&sim, "/apis/coordination.k8s.io/v1").await.body;
    assert_eq!(leases["resources"][0]["kind"], "Lease");
    assert_eq!(leases["resources"][0]["namespaced"], true);
    // /version is open without credentials.
    let version = request(&sim, "GET", "/version", "", None, None).await;
    assert_eq!(version.body["major"], "1");
    get(&sim, "/api/v1/pods")
        .await
        .assert_status(404, "NotFound");
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401() {
    let sim = KubeSim::start().await;
    for token in [None, Some("wrong")] {
        let resp = request(&sim, "GET", "/api/v1/namespaces", "", None, token).await;
        assert_eq!(
            resp.assert_status(401, "Unauthorized")["message"],
            "Unauthorized"
        );
    }
    sim.add_token("second", "alice");
    let resp = request(&sim, "GET", "/api/v1/namespaces", "", None, Some("second")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(get(&sim, "/api/v1/namespaces").await.status, 200, "{TOKEN}");
}

#[tokio::test]
async fn not_found_names_the_resource_and_its_group() {
    let sim = seeded().await;
    let resp = get(&sim, "/api/v1/namespaces/team-a/secrets/nope").await;
    let body = resp.assert_status(404, "NotFound");
    assert_eq!(body["message"], "secrets \"nope\" not found");
    assert_eq!(body["details"], json!({"name": "nope", "kind": "secrets"}));
    let resp = get(
        &sim,
        "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/x",
    )
    .await;
    let body = resp.assert_status(404, "NotFound");
    assert_eq!(
        body["message"],
        "leases.coordination.k8s.io \"x\" not found"
    );
    assert_eq!(body["details"]["group"], "coordination.k8s.io");
}

#[tokio::test]
async fn rbac_denies_one_verb_in_one_namespace_only() {
    let sim = seeded().await;
    sim.deny("get", Resource::Secrets, Some("team-b"));
    assert_eq!(
        get(&sim, "/api/v1/namespaces/team-a/secrets/ecr")
            .await
            .status,
        200
    );
    let resp = get(&sim, "/api/v1/namespaces/team-b/secrets/ecr").await;
    let body = resp.assert_status(403, "Forbidden");
    assert_eq!(
        body["message"],
        format!("secrets \"ecr\" is forbidden: User \"{USER}\" cannot get resource \"secrets\" in API group \"\" in the namespace \"team-b\"")
    );
    assert_eq!(body["details"], json!({"name": "ecr", "kind": "secrets"}));
    // list is another verb; a cluster-wide denial covers every scope.
    assert_eq!(
        get(&sim, "/api/v1/namespaces/team-b/secrets").await.status,
        200
    );
    sim.deny("list", Resource::Secrets, None);
    let resp = get(&sim, "/api/v1/secrets").await;
    assert_eq!(
        resp.assert_status(403, "Forbidden")["message"],
        format!("secrets is forbidden: User \"{USER}\" cannot list resource \"secrets\" in API group \"\" at the cluster scope")
    );
    sim.allow_all();
    assert_eq!(get(&sim, "/api/v1/secrets").await.status, 200);
}

fn names(list: &serde_json::Value) -> Vec<String> {
    (list["items"].as_array().unwrap().iter())
        .map(|i| {
            format!(
                "{}/{}",
                i["metadata"]["namespace"].as_str().unwrap_or(""),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn lists_filter_by_namespace_labels_and_fields() {
    let sim = seeded().await;
    let all = get(&sim, "/api/v1/secrets").await.body;
    assert_eq!(all["kind"], "SecretList");
    assert_eq!(
        all["metadata"]["resourceVersion"],
        sim.resource_version().to_string()
    );
    assert_eq!(
        names(&all),
        ["team-a/ecr", "team-a/other", "team-b/ecr", "team-b/other"]
    );
    let one = get(&sim, "/api/v1/namespaces/team-b/secrets").await.body;
    assert_eq!(names(&one), ["team-b/ecr", "team-b/other"]);
    let typed = get(
        &sim,
        "/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fdockerconfigjson",
    )
    .await;
    assert_eq!(names(&typed.body), ["team-a/ecr", "team-b/ecr"]);
    let named = get(&sim, "/api/v1/secrets?fieldSelector=metadata.name!%3Decr").await;
    assert_eq!(names(&named.body), ["team-a/other", "team-b/other"]);
    for (selector, expected) in [
        ("app%3Decr", vec!["team-a/ecr", "team-b/ecr"]),
        ("app+notin+(ecr)", vec!["team-a/other", "team-b/other"]),
        (
            "missing!%3Dx",
            vec!["team-a/ecr", "team-a/other", "team-b/ecr", "team-b/other"],
        ),
        ("!app", vec![]),
    ] {
        let resp = get(&sim, &format!("/api/v1/secrets?labelSelector={selector}")).await;
        assert_eq!(names(&resp.body), expected, "{selector}");
    }
    let ns = get(&sim, "/api/v1/namespaces?labelSelector=tier>1").await;
    assert_eq!(names(&ns.body), ["/team-b"]);
    let resp = get(&sim, "/api/v1/secrets?fieldSelector=data.x%3D1").await;
    assert_eq!(
        resp.assert_status(400, "BadRequest")["message"],
        "field label not supported: data.x"
    );
    let resp = get(&sim, "/api/v1/serviceaccounts?fieldSelector=type%3Dx").await;
    assert_eq!(
        resp.assert_status(400, "BadRequest")["message"],
        "\"type\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    get(&sim, "/api/v1/secrets?labelSelector=a+in+b")
        .await
        .assert_status(400, "BadRequest");
}

#[tokio::test]
async fn pages_form_one_snapshot_until_compacted() {
    let sim = seeded().await;
    let first = get(&sim, "/api/v1/secrets?limit=3").await.body;
    assert_eq!(names(&first).len(), 3);
    assert_eq!(first["metadata"]["remainingItemCount"], 1);
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    // Changes after the first page do not show in the next ones.
    send(
        &sim,
        "DELETE",
        "/api/v1/namespaces/team-b/secrets/other",
        None,
    )
    .await;
    let secret = json!({"metadata": {"name": "zz"}, "type": "Opaque"});
    send(
        &sim,
        "POST",
        "/api/v1/namespaces/team-b/secrets",
        Some(&secret),
    )
    .await;
    let second = get(&sim, &format!("/api/v1/secrets?limit=3&continue={token}"))
        .await
        .body;
    assert_eq!(names(&second.clone()), ["team-b/other"]);
    assert_eq!(
        second["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    assert!(second["metadata"]["continue"].is_null());
    sim.compact();
    let resp = get(&sim, &format!("/api/v1/secrets?limit=3&continue={token}")).await;
    let message = resp.assert_status(410, "Expired")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("The provided continue parameter is too old"),
        "{message}"
    );
}

#[tokio::test]
async fn list_resource_versions_follow_the_rules() {
    let sim = seeded().await;
    let now = sim.resource_version();
    let before = now - 1;
    let secret = json!({"metadata": {"name": "late"}, "type": "Opaque"});
    send(
        &sim,
        "POST",
        "/api/v1/namespaces/team-a/secrets",
        Some(&secret),
    )
    .await;
    let exact = get(
        &sim,
        &format!(
            "/api/v1/namespaces/team-a/secrets?resourceVersion={now}&resourceVersionMatch=Exact"
        ),
    )
    .await;
    assert_eq!(names(&exact.body), ["team-a/ecr", "team-a/other"]);
    let newer = get(&sim, &format!("/api/v1/namespaces/team-a/secrets?resourceVersion={before}&resourceVersionMatch=NotOlderThan")).await;
    assert_eq!(names(&newer.body).len(), 3);
    let too_large = get(
        &sim,
        "/api/v1/secrets?resourceVersion=999999&resourceVersionMatch=NotOlderThan",
    )
    .await;
    let body = too_large.assert_status(504, "Timeout");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Timeout: Too large resource version: 999999, current: "));
    assert_eq!(too_large.headers["retry-after"], "1");
    get(&sim, "/api/v1/secrets?resourceVersionMatch=Exact")
        .await
        .assert_status(422, "Invalid");
    get(
        &sim,
        "/api/v1/secrets?resourceVersion=0&resourceVersionMatch=Exact",
    )
    .await
    .assert_status(422, "Invalid");
    sim.compact();
    let gone = get(
        &sim,
        &format!("/api/v1/secrets?resourceVersion={now}&resourceVersionMatch=Exact"),
    )
    .await;
    gone.assert_status(410, "Expired");
}

#[tokio::test]
async fn a_removed_token_is_refused() {
    let sim = KubeSim::start().await;
    sim.add_token("rotated", "bob");
    let path = "/api/v1/namespaces";
    let before = request(&sim, "GET", path, "", None, Some("rotated")).await;
    assert_eq!(before.status, 200);
    sim.remove_token("rotated");
    let after = request(&sim, "GET", path, "", None, Some("rotated")).await;
    after.assert_status(401, "Unauthorized");
}
