//! Pins the Rancher simulator's writes to the Rancher 1.6 API contract
//! (docs/rancher-api.md §5), through real HTTP: creates that start
//! registering and become active, validation and dropped unknown fields,
//! duplicate server addresses, the email only v1 with a project key wants,
//! partial PUT with a write-only secretValue, actions, delete and purge, and
//! the errors of unsupported methods and unknown objects. Whatever the
//! daemon's tests say it wrote is read back from this simulator.

mod support;

use reqwest::Method;
use serde_json::{json, Value};

use support::rancher_api::{
    call, get, link, post, put, sim, ECR, ENV_KEY, OTHER_ENV_KEY, OTHER_PROJECT, PROJECT,
    PROJECT_KEY,
};

// ---------------------------------------------------------------------------
// §5 Writes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_starts_registering_then_becomes_active() {
    let sim = sim().await;
    let created = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ECR}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["state"], "registering");
    assert_eq!(created.body["transitioning"], "yes");
    assert_eq!(created.body["transitioningMessage"], "In Progress");
    let url = link(&created.body, "self");

    // Default delay 1: the next request still sees registering, the one after active.
    assert_eq!(get(&sim, &url, ENV_KEY).await.body["state"], "registering");
    let active = get(&sim, &url, ENV_KEY).await.body;
    assert_eq!(active["state"], "active");
    assert_eq!(active["transitioning"], "no");

    sim.set_activation_delay(0);
    let quick = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": "quay.io"}),
    )
    .await;
    assert_eq!(quick.body["state"], "registering");
    assert_eq!(
        get(&sim, &link(&quick.body, "self"), ENV_KEY).await.body["state"],
        "active"
    );

    sim.set_activation_delay(3);
    let slow = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": "gcr.io"}),
    )
    .await;
    let slow_url = link(&slow.body, "self");
    for _ in 0..3 {
        assert_eq!(
            get(&sim, &slow_url, ENV_KEY).await.body["state"],
            "registering"
        );
    }
    assert_eq!(get(&sim, &slow_url, ENV_KEY).await.body["state"], "active");
    assert_eq!(sim.registries(PROJECT).len(), 3);
}

#[tokio::test]
async fn create_validates_and_drops_unknown_fields() {
    let sim = sim().await;
    let missing = post(&sim, "/v1/registries", ENV_KEY, json!({"name": "x"})).await;
    missing.assert_error(422, "MissingRequired");
    assert_eq!(missing.body["fieldName"], "serverAddress");
    assert!(missing.body["message"].is_null());
    let null = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": null}),
    )
    .await;
    null.assert_error(422, "MissingRequired");
    let empty = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ""}),
    )
    .await;
    empty.assert_error(422, "MinLengthExceeded");
    assert_eq!(empty.body["fieldName"], "serverAddress");

    let garbage = call(
        &sim,
        Method::POST,
        "/v1/registries",
        Some(ENV_KEY),
        None,
        &[("Content-Type", "text/plain")],
    )
    .await;
    garbage.assert_error(422, "MissingRequired"); // empty body is an empty object
    let resp = support::http()
        .post(format!("{}/v1/registries", sim.url()))
        .basic_auth(ENV_KEY.0, Some(ENV_KEY.1))
        .header("Content-Type", "text/plain")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "InvalidBodyContent");

    // Whatever the Content-Type, JSON is parsed; unknown keys are dropped.
    let resp = support::http()
        .post(format!("{}/v1/registries", sim.url()))
        .basic_auth(ENV_KEY.0, Some(ENV_KEY.1))
        .header("Content-Type", "text/plain")
        .body(json!({"serverAddress": ECR, "links": null, "actions": null, "type": "x", "kind": "y", "state": "active"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "registry");
    assert_eq!(body["kind"], "registry");
    assert_eq!(body["state"], "registering");
    let registry = body["id"].as_str().unwrap().to_string();

    // registryId must reference a visible, non-removed registry of the caller.
    let bad_refs = [
        json!({"publicValue": "AWS"}),
        json!({"registryId": "1sp999"}),
        json!({"registryId": registry.trim_start_matches("1sp")}),
    ];
    for body in bad_refs {
        let resp = post(&sim, "/v1/registrycredentials", ENV_KEY, body.clone()).await;
        let code = if body.get("registryId").is_none() {
            "MissingRequired"
        } else {
            "InvalidReference"
        };
        resp.assert_error(422, code);
        assert_eq!(resp.body["fieldName"], "registryId");
    }
    let other = sim.add_registry(OTHER_PROJECT, ECR, "active");
    post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": other}),
    )
    .await
    .assert_error(422, "InvalidReference");
    let removed = sim.add_registry(PROJECT, "removed.example.com", "inactive");
    sim.remove_registry(&removed);
    post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": removed}),
    )
    .await
    .assert_error(422, "InvalidReference");
    // A registering registry is fine.
    let ok = post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": registry, "publicValue": "AWS", "secretValue": "tok"}),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test]
async fn duplicate_server_address_is_rejected() {
    let sim = sim().await;
    assert_eq!(
        post(
            &sim,
            "/v1/registries",
            ENV_KEY,
            json!({"serverAddress": ECR})
        )
        .await
        .status,
        201
    );
    let dup = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ECR.to_uppercase()}),
    )
    .await;
    dup.assert_error(400, "ServerAddressUsed");
    assert_eq!(dup.body["message"], "ServerAddressUsed");
    // Different strings and other projects are fine.
    let https = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": format!("https://{ECR}")}),
    )
    .await;
    assert_eq!(https.status, 201);
    let other = post(
        &sim,
        "/v1/registries",
        OTHER_ENV_KEY,
        json!({"serverAddress": ECR}),
    )
    .await;
    assert_eq!(other.status, 201);
    assert_eq!(other.body["accountId"], OTHER_PROJECT);
    // After removal the address is free again.
    let gone = sim.add_registry(PROJECT, "quay.io", "inactive");
    sim.remove_registry(&gone);
    assert_eq!(
        post(
            &sim,
            "/v1/registries",
            ENV_KEY,
            json!({"serverAddress": "quay.io"})
        )
        .await
        .status,
        201
    );
    assert_eq!(sim.registries(PROJECT).len(), 4);
}

#[tokio::test]
async fn email_exists_only_on_v1_with_a_project_key() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");

    let schema = get(&sim, "/v1/schemas/registrycredential", PROJECT_KEY)
        .await
        .body;
    let email = &schema["resourceFields"]["email"];
    assert_eq!(email["required"], true);
    assert_eq!(email["nullable"], false);
    assert_eq!(email["minLength"], 1);
    for (path, key) in [
        ("/v1", ENV_KEY),
        ("/v2-beta", PROJECT_KEY),
        ("/v2-beta", ENV_KEY),
    ] {
        let schema = get(&sim, &format!("{path}/schemas/registrycredential"), key)
            .await
            .body;
        assert!(schema["resourceFields"].get("email").is_none(), "{path}");
    }

    let no_email = json!({"registryId": registry, "publicValue": "AWS", "secretValue": "t"});
    let missing = post(
        &sim,
        "/v1/projects/1a5/registrycredentials",
        PROJECT_KEY,
        no_email.clone(),
    )
    .await;
    missing.assert_error(422, "MissingRequired");
    assert_eq!(missing.body["fieldName"], "email");
    let mut with_email = no_email.clone();
    with_email["email"] = json!("not-really@required.anymore");
    let created = post(
        &sim,
        "/v1/projects/1a5/registrycredentials",
        PROJECT_KEY,
        with_email.clone(),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["email"], "not-really@required.anymore");

    // Environment key on /v1, project key on /v2-beta: not required, and dropped.
    let env = post(&sim, "/v1/registrycredentials", ENV_KEY, no_email.clone()).await;
    assert_eq!(env.status, 201);
    assert!(env.body.get("email").is_none());
    let v2 = post(
        &sim,
        "/v2-beta/registrycredentials",
        PROJECT_KEY,
        with_email,
    )
    .await;
    assert_eq!(v2.status, 201);
    assert!(v2.body.get("email").is_none());
    let emails: Vec<Option<String>> = sim
        .credentials(PROJECT)
        .into_iter()
        .map(|c| c.email)
        .collect();
    assert_eq!(
        emails,
        [Some("not-really@required.anymore".to_string()), None, None]
    );

    // On v1 + project key, email may not be blanked or nulled by PUT.
    let url = link(&created.body, "self");
    put(&sim, &url, PROJECT_KEY, json!({"email": ""}))
        .await
        .assert_error(422, "MinLengthExceeded");
    put(&sim, &url, PROJECT_KEY, json!({"email": null}))
        .await
        .assert_error(422, "NotNullable");
    assert_eq!(
        put(&sim, &url, PROJECT_KEY, json!({"publicValue": "AWS"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn put_is_partial_and_secret_value_is_write_only() {
    let sim = sim().await;
    sim.set_activation_delay(0);
    let registry = sim.add_registry(PROJECT, ECR, "active");
    let created = post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": registry, "publicValue": "AWS", "secretValue": "first", "name": "ecr"}),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.body["secretValue"], "first",
        "POST echoes the secret"
    );
    let url = link(&created.body, "self");
    assert!(get(&sim, &url, ENV_KEY).await.body["secretValue"].is_null());
    let listed = get(&sim, "/v1/registrycredentials", ENV_KEY).await;
    assert!(listed.body["data"][0]["secretValue"].is_null());

    // The go-rancher update body: links/actions null, non-updatable keys ignored.
    let other = sim.add_registry(PROJECT, "quay.io", "active");
    let updated = put(
        &sim,
        &url,
        ENV_KEY,
        json!({"links": null, "actions": null, "email": "x@y", "publicValue": "AWS", "secretValue": "second", "registryId": other, "state": "inactive"}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert!(updated.body["secretValue"].is_null());
    assert_eq!(updated.body["registryId"], registry);
    assert_eq!(updated.body["name"], "ecr", "absent keys keep their value");
    assert_eq!(updated.body["state"], "active");
    let stored = sim
        .credential(created.body["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored.secret_value.as_deref(), Some("second"));
    assert_eq!(stored.email, None, "email dropped for an environment key");

    // serverAddress cannot be changed.
    let reg_url = format!("/v1/registries/{registry}");
    let resp = put(
        &sim,
        &reg_url,
        ENV_KEY,
        json!({"serverAddress": "evil.io", "name": "n"}),
    )
    .await;
    assert_eq!(resp.body["serverAddress"], ECR);
    assert_eq!(resp.body["name"], "n");

    // Updating while inactive is fine.
    let inactive = sim.add_credential(PROJECT, &registry, "AWS", "old", "inactive");
    let resp = put(
        &sim,
        &format!("/v1/registrycredentials/{inactive}"),
        ENV_KEY,
        json!({"secretValue": "new"}),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["state"], "inactive");
    assert_eq!(
        sim.credential(&inactive).unwrap().secret_value.as_deref(),
        Some("new")
    );

    put(&sim, &url, ENV_KEY, json!({"secretValue": {"nested": 1}}))
        .await
        .assert_error(422, "InvalidFormat");
}

#[tokio::test]
async fn actions_delete_and_purge() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "s", "active");
    let url = format!("{}/v1/registries/{registry}", sim.url());

    call(&sim, Method::DELETE, &url, Some(ENV_KEY), None, &[])
        .await
        .assert_error(405, "Method not allowed");
    post(&sim, &format!("{url}/?action=activate"), ENV_KEY, json!({}))
        .await
        .assert_error(422, "ActionNotAvailable");
    let unknown = post(&sim, &format!("{url}/?action=explode"), ENV_KEY, json!({})).await;
    unknown.assert_error(422, "InvalidAction");
    assert_eq!(unknown.body["fieldName"], "action");

    let deactivating = post(
        &sim,
        &format!("{url}/?action=deactivate"),
        ENV_KEY,
        json!({}),
    )
    .await;
    assert_eq!(deactivating.status, 202);
    assert_eq!(deactivating.body["state"], "deactivating");
    assert_eq!(deactivating.body["transitioning"], "yes");
    let inactive = get(&sim, &url, ENV_KEY).await.body;
    assert_eq!(inactive["state"], "inactive");
    let mut actions: Vec<&String> = inactive["actions"].as_object().unwrap().keys().collect();
    actions.sort();
    assert_eq!(actions, ["activate", "remove", "update"]);

    let deleted = call(&sim, Method::DELETE, &url, Some(ENV_KEY), None, &[]).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["state"], "removing");
    let removed = get(&sim, &url, ENV_KEY).await.body;
    assert_eq!(removed["state"], "removed");
    assert!(removed["removed"].is_string());
    assert!(get(&sim, "/v1/registries", ENV_KEY).await.ids().is_empty());
    assert_eq!(
        sim.credential(&cred).unwrap().state,
        "active",
        "remove keeps credentials"
    );

    let purging = post(&sim, &format!("{url}/?action=purge"), ENV_KEY, json!({})).await;
    assert_eq!(purging.status, 202);
    assert_eq!(purging.body["state"], "purging");
    assert_eq!(get(&sim, &url, ENV_KEY).await.body["state"], "purged");
    assert_eq!(
        sim.credential(&cred).unwrap().state,
        "removed",
        "purge removes credentials"
    );

    // Credential action responses echo the secret (POST).
    let other = sim.add_registry(PROJECT, "quay.io", "active");
    let cred = sim.add_credential(PROJECT, &other, "AWS", "tok", "active");
    let resp = post(
        &sim,
        &format!("/v1/registrycredentials/{cred}/?action=deactivate"),
        ENV_KEY,
        json!({}),
    )
    .await;
    assert_eq!(resp.status, 202);
    assert_eq!(resp.body["secretValue"], "tok");
}

#[tokio::test]
async fn unsupported_methods_and_unknown_objects() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");
    let url = format!("/v1/registries/{registry}");
    post(&sim, &url, ENV_KEY, json!({}))
        .await
        .assert_error(405, "Method not allowed");
    call(
        &sim,
        Method::PATCH,
        &url,
        Some(ENV_KEY),
        Some(json!({})),
        &[],
    )
    .await
    .assert_error(405, "Method not allowed");
    call(
        &sim,
        Method::PUT,
        "/v1/registries",
        Some(ENV_KEY),
        Some(json!({})),
        &[],
    )
    .await
    .assert_error(405, "Method not allowed");
    post(&sim, "/v1/schemas", ENV_KEY, json!({}))
        .await
        .assert_error(405, "Method not allowed");
    for path in [
        "/v1/registries/1sp999",
        "/v1/registries/bogus",
        "/v1/registries/1sp1/nothing",
    ] {
        get(&sim, path, ENV_KEY)
            .await
            .assert_error(404, "Not Found");
    }
    put(&sim, "/v1/registries/1sp999", ENV_KEY, json!({}))
        .await
        .assert_error(404, "Not Found");
}
