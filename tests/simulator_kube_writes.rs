//! Pins the kube-apiserver simulator's writes to docs/kubernetes-api.md
//! through raw HTTP: create, update and delete with their codes, optimistic
//! concurrency, Secret validation, terminating namespaces and Leases.

mod support;

use serde_json::{json, Value};
use support::kube_api::{get, send};
use support::kube_sim::{KubeSim, Resource};

const SECRETS: &str = "/api/v1/namespaces/team-a/secrets";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/team-a/leases";

async fn team_a() -> KubeSim {
    let sim = KubeSim::start().await;
    sim.add_namespace("team-a", &[]);
    sim
}

/// A dockerconfigjson Secret holding `config` (JSON text) as its key.
fn pull_secret(name: &str, config: &str) -> Value {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(config);
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": encoded}})
}

#[tokio::test]
async fn create_answers_201_then_already_exists() {
    let sim = team_a().await;
    let resp = send(
        &sim,
        "POST",
        SECRETS,
        Some(&pull_secret("ecr", "{\"auths\":{}}")),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    let meta = &resp.body["metadata"];
    assert_eq!(meta["namespace"], "team-a");
    assert_eq!(meta["resourceVersion"], sim.resource_version().to_string());
    assert!(meta["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert!(meta["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let again = send(&sim, "POST", SECRETS, Some(&pull_secret("ecr", "{}"))).await;
    assert_eq!(
        again.assert_status(409, "AlreadyExists")["message"],
        "secrets \"ecr\" already exists"
    );
    let missing = send(
        &sim,
        "POST",
        "/api/v1/namespaces/nope/secrets",
        Some(&pull_secret("ecr", "{}")),
    )
    .await;
    assert_eq!(
        missing.assert_status(404, "NotFound")["message"],
        "namespaces \"nope\" not found"
    );
    let mut other = pull_secret("x", "{}");
    other["metadata"]["namespace"] = json!("team-b");
    let resp = send(&sim, "POST", SECRETS, Some(&other)).await;
    assert_eq!(
        resp.assert_status(400, "BadRequest")["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );
}

#[tokio::test]
async fn dockerconfigjson_secrets_are_validated() {
    let sim = team_a().await;
    let mut no_key = pull_secret("ecr", "{}");
    no_key["data"] = json!({"other": "e30="});
    let resp = send(&sim, "POST", SECRETS, Some(&no_key)).await;
    let body = resp.assert_status(422, "Invalid");
    assert_eq!(
        body["message"],
        "Secret \"ecr\" is invalid: data[.dockerconfigjson]: Required value"
    );
    assert_eq!(body["details"]["kind"], "Secret");
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "FieldValueRequired", "message": "Required value", "field": "data[.dockerconfigjson]"}])
    );
    let resp = send(&sim, "POST", SECRETS, Some(&pull_secret("ecr", "not json"))).await;
    let message = resp.assert_status(422, "Invalid")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.starts_with("Secret \"ecr\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "), "{message}");
    assert_eq!(
        send(&sim, "POST", SECRETS, Some(&pull_secret("ecr", "{}")))
            .await
            .status,
        201
    );
    assert_eq!(sim.write_count(), 3);
}

#[tokio::test]
async fn a_secrets_type_is_immutable_and_defaults_to_opaque_on_put() {
    let sim = team_a().await;
    let created = send(&sim, "POST", SECRETS, Some(&pull_secret("ecr", "{}")))
        .await
        .body;
    let mut changed = created.clone();
    changed["type"] = json!("Opaque");
    let resp = send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&changed)).await;
    assert_eq!(
        resp.assert_status(422, "Invalid")["message"],
        "Secret \"ecr\" is invalid: type: Invalid value: \"Opaque\": field is immutable"
    );
    let mut omitted = created.clone();
    omitted.as_object_mut().unwrap().remove("type");
    let resp = send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&omitted)).await;
    assert_eq!(
        resp.assert_status(422, "Invalid")["details"]["causes"][0]["field"],
        "type"
    );
}

#[tokio::test]
async fn a_stale_put_is_409_and_an_unconditional_one_wins() {
    let sim = team_a().await;
    let created = send(&sim, "POST", SECRETS, Some(&pull_secret("ecr", "{}")))
        .await
        .body;
    let mut first = created.clone();
    first["metadata"]["labels"] = json!({"round": "1"});
    let updated = send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&first)).await;
    assert_eq!(updated.status, 200);
    let rv = |text: &str| text.parse::<u64>().expect("a decimal resourceVersion");
    let created_rv = rv(created["metadata"]["resourceVersion"].as_str().unwrap());
    assert!(rv(&updated.rv()) > created_rv);
    let resp = send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&first)).await;
    assert_eq!(
        resp.assert_status(409, "Conflict")["message"],
        "Operation cannot be fulfilled on secrets \"ecr\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let mut blind = first.clone();
    blind["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    blind["metadata"]["labels"] = json!({"round": "2"});
    let resp = send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&blind)).await;
    assert_eq!(resp.body["metadata"]["labels"], json!({"round": "2"}));
    // A byte-identical write is a no-op: no new resourceVersion.
    let rv = sim.resource_version();
    let same = send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&resp.body)).await;
    assert_eq!((same.status, same.rv()), (200, rv.to_string()));
    assert_eq!(sim.resource_version(), rv);
    let mut renamed = resp.body.clone();
    renamed["metadata"]["name"] = json!("other");
    let resp = send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&renamed)).await;
    assert_eq!(
        resp.assert_status(400, "BadRequest")["message"],
        "the name of the object (other) does not match the name on the URL (ecr)"
    );
}

#[tokio::test]
async fn string_data_is_merged_and_never_returned() {
    let sim = team_a().await;
    let secret =
        json!({"metadata": {"name": "s"}, "stringData": {"a": "hello"}, "data": {"b": "eA=="}});
    let resp = send(&sim, "POST", SECRETS, Some(&secret)).await;
    assert_eq!(resp.body["data"], json!({"a": "aGVsbG8=", "b": "eA=="}));
    assert!(resp.body["stringData"].is_null());
    assert_eq!(resp.body["type"], "Opaque");
}

#[tokio::test]
async fn deletes_answer_as_each_resource_does() {
    let sim = team_a().await;
    let created = send(&sim, "POST", SECRETS, Some(&pull_secret("ecr", "{}")))
        .await
        .body;
    let resp = send(&sim, "DELETE", &format!("{SECRETS}/ecr"), None).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["status"], "Success");
    assert_eq!(
        resp.body["details"],
        json!({"name": "ecr", "kind": "secrets", "uid": created["metadata"]["uid"]})
    );
    send(&sim, "DELETE", &format!("{SECRETS}/ecr"), None)
        .await
        .assert_status(404, "NotFound");
    let sa = send(
        &sim,
        "DELETE",
        "/api/v1/namespaces/team-a/serviceaccounts/default",
        None,
    )
    .await;
    assert_eq!(
        (sa.status, sa.body["kind"].clone()),
        (200, json!("ServiceAccount"))
    );
}

#[tokio::test]
async fn a_terminating_namespace_refuses_creates_only() {
    let sim = team_a().await;
    send(&sim, "POST", SECRETS, Some(&pull_secret("ecr", "{}"))).await;
    let resp = send(&sim, "DELETE", "/api/v1/namespaces/team-a", None).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["status"]["phase"], "Terminating");
    assert!(resp.body["metadata"]["deletionTimestamp"].is_string());
    let again = send(&sim, "DELETE", "/api/v1/namespaces/team-a", None).await;
    assert!(again.assert_status(409, "Conflict")["message"]
        .as_str()
        .unwrap()
        .contains("The system is ensuring all content is removed from this namespace."));
    let resp = send(&sim, "POST", SECRETS, Some(&pull_secret("new", "{}"))).await;
    let body = resp.assert_status(403, "Forbidden");
    assert_eq!(
        body["message"],
        "secrets \"new\" is forbidden: unable to create new content in namespace team-a because it is being terminated"
    );
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "NamespaceTerminating", "message": "namespace team-a is being terminated", "field": "metadata.namespace"}])
    );
    let existing = get(&sim, &format!("{SECRETS}/ecr")).await.body;
    assert_eq!(
        send(&sim, "PUT", &format!("{SECRETS}/ecr"), Some(&existing))
            .await
            .status,
        200
    );
    sim.purge_namespace("team-a");
    assert!(sim.get(Resource::Namespaces, "", "team-a").is_none());
    assert!(sim.list(Resource::Secrets).is_empty());
}

#[tokio::test]
async fn namespaces_get_their_label_phase_and_default_service_account() {
    let sim = KubeSim::start().await;
    let resp = send(
        &sim,
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"metadata": {"name": "n1"}})),
    )
    .await;
    assert_eq!(resp.status, 201);
    assert_eq!(
        resp.body["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "n1"})
    );
    assert_eq!(resp.body["status"], json!({"phase": "Active"}));
    assert_eq!(
        get(&sim, "/api/v1/namespaces/n1/serviceaccounts/default")
            .await
            .status,
        200
    );
    sim.set_default_service_account_delay(None);
    sim.add_namespace("n2", &[]);
    assert!(sim
        .get(Resource::ServiceAccounts, "n2", "default")
        .is_none());
}

fn lease(holder: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
            "acquireTime": "2026-07-24T12:00:00.123456Z", "renewTime": "2026-07-24T12:00:00.123456Z",
            "leaseTransitions": 0}})
}

#[tokio::test]
async fn leases_put_creates_requires_a_resource_version_and_races() {
    let sim = team_a().await;
    let created = send(&sim, "PUT", &format!("{LEASES}/leader"), Some(&lease("a"))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let resp = send(&sim, "PUT", &format!("{LEASES}/leader"), Some(&lease("b"))).await;
    assert_eq!(
        resp.assert_status(422, "Invalid")["message"],
        "leases.coordination.k8s.io \"leader\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"
    );
    // Two candidates PUT with the same resourceVersion: one wins.
    let mut a = lease("a");
    a["metadata"]["resourceVersion"] = json!(created.rv());
    let mut b = lease("b");
    b["metadata"]["resourceVersion"] = json!(created.rv());
    b["spec"]["leaseTransitions"] = json!(1);
    assert_eq!(
        send(&sim, "PUT", &format!("{LEASES}/leader"), Some(&b))
            .await
            .status,
        200
    );
    let lost = send(&sim, "PUT", &format!("{LEASES}/leader"), Some(&a)).await;
    assert!(lost.assert_status(409, "Conflict")["message"]
        .as_str()
        .unwrap()
        .starts_with("Operation cannot be fulfilled on leases.coordination.k8s.io \"leader\""));
    let mut bad = lease("c");
    bad["metadata"]["name"] = json!("other");
    bad["spec"]["renewTime"] = json!("2026-07-24T12:00:00.123Z");
    send(&sim, "POST", LEASES, Some(&bad))
        .await
        .assert_status(400, "BadRequest");
    sim.deny("create", Resource::Leases, Some("team-a"));
    let resp = send(
        &sim,
        "PUT",
        &format!("{LEASES}/fresh"),
        Some(&json!({"metadata": {"name": "fresh"}, "spec": {}})),
    )
    .await;
    assert!(resp.assert_status(403, "Forbidden")["message"]
        .as_str()
        .unwrap()
        .contains("cannot create resource \"leases\" in API group \"coordination.k8s.io\""));
}

#[tokio::test]
async fn immutable_secrets_keep_their_data_and_size_is_bounded() {
    let sim = team_a().await;
    let mut secret =
        json!({"metadata": {"name": "frozen"}, "data": {"a": "eA=="}, "immutable": true});
    let created = send(&sim, "POST", SECRETS, Some(&secret)).await.body;
    secret = created.clone();
    secret["data"]["a"] = json!("eQ==");
    let resp = send(&sim, "PUT", &format!("{SECRETS}/frozen"), Some(&secret)).await;
    assert_eq!(
        resp.assert_status(422, "Invalid")["message"],
        "Secret \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    let mut labelled = created.clone();
    labelled["metadata"]["labels"] = json!({"still": "writable"});
    let resp = send(&sim, "PUT", &format!("{SECRETS}/frozen"), Some(&labelled)).await;
    assert_eq!(resp.status, 200, "metadata stays writable");
    use base64::Engine;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 1_048_577]);
    let huge = json!({"metadata": {"name": "huge"}, "data": {"blob": big}});
    let resp = send(&sim, "POST", SECRETS, Some(&huge)).await;
    assert_eq!(
        resp.assert_status(422, "Invalid")["message"],
        "Secret \"huge\" is invalid: data: Too long: may not be more than 1048576 bytes"
    );
}

#[tokio::test]
async fn system_namespaces_may_not_be_deleted() {
    let sim = KubeSim::start().await;
    sim.add_namespace("kube-system", &[]);
    let resp = send(&sim, "DELETE", "/api/v1/namespaces/kube-system", None).await;
    assert_eq!(
        resp.assert_status(403, "Forbidden")["message"],
        "namespaces \"kube-system\" is forbidden: this namespace may not be deleted"
    );
}
