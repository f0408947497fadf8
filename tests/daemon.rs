//! End-to-end: the real binary against moto (AWS) and the Rancher 1.6
//! simulator. Each test builds a small Rancher world, runs the updater once
//! and checks what Rancher holds afterwards, and which requests it received:
//! which credentials are written or created, how registries are found and
//! matched, AUTO_CREATE, and the token's source (registry ids, a role, a
//! proxy host). What goes wrong is in tests/failures.rs.

mod support;

use support::daemon::{
    base_env, once, set, ACCOUNT, ECR_HOST, RANCHER_ACCESS_KEY, RANCHER_SECRET_KEY,
};
use support::rancher_sim::{KeyKind, RancherSim};
use support::{assert_holds_token, credential, two_environments, OTHER_PROJECT, PROJECT};

#[tokio::test(flavor = "multi_thread")]
async fn updates_the_credential_on_every_url_form() {
    // (CATTLE_URL path, key kind): what agent labels inject, what the UI's
    // "Environment API Endpoint" shows, with and without trailing slash.
    let forms = [
        ("/v1", KeyKind::Environment),
        ("/v2-beta/", KeyKind::Environment),
        ("/v1/projects/1a5", KeyKind::Project),
        ("/v2-beta/projects/1a5/", KeyKind::Project),
        ("/v2-beta/projects/1a5", KeyKind::Admin),
        ("/v1/", KeyKind::Environment),
        ("/v2-beta", KeyKind::Environment),
        ("/v1/projects/1a5/", KeyKind::Project),
        ("/v2-beta/projects/1a5", KeyKind::Environment),
    ];
    for (path, kind) in forms {
        let sim = RancherSim::start().await;
        sim.add_project(PROJECT);
        sim.add_project(OTHER_PROJECT);
        let key_project = (!matches!(kind, KeyKind::Admin)).then_some(PROJECT);
        sim.add_key(RANCHER_ACCESS_KEY, RANCHER_SECRET_KEY, kind, key_project);
        let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
        let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
        let other = sim.add_registry(OTHER_PROJECT, ECR_HOST, "active");
        let other_cred = sim.add_credential(OTHER_PROJECT, &other, "AWS", "stale", "active");

        let result = once(&base_env(&format!("{}{path}", sim.url()))).await;
        assert!(result.status.success(), "{path}: {}", result.output());
        assert_holds_token(&credential(&sim, PROJECT, &cred), ACCOUNT);
        let untouched = credential(&sim, OTHER_PROJECT, &other_cred);
        assert_eq!(untouched.secret_value.as_deref(), Some("stale"), "{path}");
        // Only a partial update of the two values: no email, no links.
        let puts: Vec<_> = sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .collect();
        assert_eq!(puts.len(), 1, "{path}: {puts:?}");
        let body: serde_json::Value = serde_json::from_str(&puts[0].body).unwrap();
        let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["publicValue", "secretValue"], "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_the_credential_with_email_only_where_required() {
    for (path, kind, email_expected) in [
        ("/v1/projects/1a5", KeyKind::Project, true),
        ("/v1", KeyKind::Environment, false),
        ("/v2-beta/projects/1a5", KeyKind::Project, false),
    ] {
        let sim = RancherSim::start().await;
        sim.add_project(PROJECT);
        sim.add_key(RANCHER_ACCESS_KEY, RANCHER_SECRET_KEY, kind, Some(PROJECT));
        let registry = sim.add_registry(PROJECT, ECR_HOST, "active");

        let result = once(&base_env(&format!("{}{path}", sim.url()))).await;
        assert!(result.status.success(), "{path}: {}", result.output());
        let credentials = sim.credentials(PROJECT);
        assert_eq!(credentials.len(), 1, "{path}: {credentials:?}");
        assert_eq!(credentials[0].registry_id, registry);
        assert_holds_token(&credentials[0], ACCOUNT);
        let post = sim
            .requests()
            .into_iter()
            .find(|r| r.method == "POST")
            .expect("a POST");
        assert_eq!(
            post.body.contains("\"email\""),
            email_expected,
            "{path}: {}",
            post.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finds_the_registry_after_many_others_in_the_fewest_requests() {
    let sim = two_environments().await;
    for n in 0..250 {
        sim.add_registry(PROJECT, &format!("registry-{n}.example.com"), "active");
    }
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");

    let result = once(&base_env(&format!("{}/v1", sim.url()))).await;
    assert!(result.status.success(), "{}", result.output());
    assert_holds_token(&credential(&sim, PROJECT, &cred), ACCOUNT);
    // Discovery (version root + schemas), one registry page, one credential
    // list, one PUT.
    let requests = sim.requests();
    assert_eq!(requests.len(), 5, "{requests:#?}");
    assert!(requests
        .iter()
        .all(|r| !r.path_and_query.contains("serverAddress")));
}

#[tokio::test(flavor = "multi_thread")]
async fn follows_pagination_past_the_first_page() {
    let sim = two_environments().await;
    for n in 0..1100 {
        sim.add_registry(PROJECT, &format!("registry-{n}.example.com"), "active");
    }
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");

    let result = once(&base_env(&format!("{}/v2-beta", sim.url()))).await;
    assert!(result.status.success(), "{}", result.output());
    assert_holds_token(&credential(&sim, PROJECT, &cred), ACCOUNT);
    let pages = sim
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/v2-beta/registries"))
        .count();
    assert_eq!(pages, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn matches_addresses_as_rancher_does() {
    let sim = two_environments().await;
    let spellings = [
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM/",
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:443/",
    ];
    let mut creds = Vec::new();
    for address in spellings {
        let registry = sim.add_registry(PROJECT, address, "active");
        creds.push(sim.add_credential(PROJECT, &registry, "AWS", "stale", "active"));
    }
    let other_port = sim.add_registry(
        PROJECT,
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:5000",
        "active",
    );
    let other_port_cred = sim.add_credential(PROJECT, &other_port, "AWS", "stale", "active");
    let docker_hub = sim.add_registry(PROJECT, "index.docker.io", "active");
    let docker_hub_cred = sim.add_credential(PROJECT, &docker_hub, "me", "hub-password", "active");

    let result = once(&base_env(&format!("{}/v1", sim.url()))).await;
    assert!(result.status.success(), "{}", result.output());
    for cred in &creds {
        assert_holds_token(&credential(&sim, PROJECT, cred), ACCOUNT);
    }
    assert_eq!(
        credential(&sim, PROJECT, &other_port_cred)
            .secret_value
            .as_deref(),
        Some("stale")
    );
    let hub = credential(&sim, PROJECT, &docker_hub_cred);
    assert_eq!(
        (hub.public_value.as_deref(), hub.secret_value.as_deref()),
        (Some("me"), Some("hub-password"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_every_active_credential_and_leaves_inactive_ones() {
    let sim = two_environments().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let first = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let second = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let inactive = sim.add_credential(PROJECT, &registry, "AWS", "stale", "inactive");

    let result = once(&base_env(&format!("{}/v1", sim.url()))).await;
    assert!(result.status.success(), "{}", result.output());
    assert_holds_token(&credential(&sim, PROJECT, &first), ACCOUNT);
    assert_holds_token(&credential(&sim, PROJECT, &second), ACCOUNT);
    assert_eq!(
        credential(&sim, PROJECT, &inactive).secret_value.as_deref(),
        Some("stale")
    );
    assert_eq!(sim.credentials(PROJECT).len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_auto_create_a_missing_registry_is_reported_not_created() {
    let sim = two_environments().await;
    sim.add_registry(PROJECT, "index.docker.io", "active");

    let result = once(&base_env(&format!("{}/v1", sim.url()))).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(result.output().contains(ECR_HOST), "{}", result.output());
    assert!(
        result.output().contains("AUTO_CREATE"),
        "{}",
        result.output()
    );
    assert_eq!(sim.registries(PROJECT).len(), 1);
    assert!(sim.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_create_is_idempotent() {
    let sim = two_environments().await;
    let removed = sim.add_registry(PROJECT, ECR_HOST, "active");
    sim.remove_registry(&removed);
    sim.add_registry(OTHER_PROJECT, ECR_HOST, "active");
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "AUTO_CREATE", "True");

    for round in 0..2 {
        let result = once(&env).await;
        assert!(
            result.status.success(),
            "round {round}: {}",
            result.output()
        );
        let live: Vec<_> = sim
            .registries(PROJECT)
            .into_iter()
            .filter(|r| !r.removed)
            .collect();
        assert_eq!(live.len(), 1, "round {round}: {live:?}");
        assert_eq!(live[0].server_address, ECR_HOST);
        let credentials = sim.credentials(PROJECT);
        assert_eq!(credentials.len(), 1, "round {round}: {credentials:?}");
        assert_eq!(credentials[0].registry_id, live[0].id);
        assert_holds_token(&credentials[0], ACCOUNT);
    }
    assert_eq!(sim.registries(OTHER_PROJECT).len(), 1);
    assert!(sim.credentials(OTHER_PROJECT).is_empty());
    let removed_now = sim
        .registries(PROJECT)
        .into_iter()
        .find(|r| r.id == removed)
        .unwrap();
    assert!(removed_now.removed);
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_create_uses_an_existing_registry() {
    let sim = two_environments().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "AUTO_CREATE", "1");

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    assert_eq!(sim.registries(PROJECT).len(), 1);
    let credentials = sim.credentials(PROJECT);
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].registry_id, registry);
}

#[tokio::test(flavor = "multi_thread")]
async fn inactive_registries_are_left_alone() {
    let sim = two_environments().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "inactive");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "AUTO_CREATE", "true");

    let result = once(&env).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.output().contains("deactivated"),
        "{}",
        result.output()
    );
    assert_eq!(
        credential(&sim, PROJECT, &cred).secret_value.as_deref(),
        Some("stale")
    );
    assert_eq!(sim.registries(PROJECT).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn several_registry_ids() {
    let sim = two_environments().await;
    let ids = ["111111111111", "222222222222"];
    let mut creds = Vec::new();
    for id in ids {
        let registry = sim.add_registry(
            PROJECT,
            &format!("{id}.dkr.ecr.us-east-1.amazonaws.com"),
            "active",
        );
        creds.push(sim.add_credential(PROJECT, &registry, "AWS", "stale", "active"));
    }
    let own = sim.add_registry(PROJECT, ECR_HOST, "active");
    let own_cred = sim.add_credential(PROJECT, &own, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "AWS_ECR_REGISTRY_IDS", &ids.join(","));

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    for (id, cred) in ids.iter().zip(&creds) {
        assert_holds_token(&credential(&sim, PROJECT, cred), id);
    }
    assert_eq!(
        credential(&sim, PROJECT, &own_cred).secret_value.as_deref(),
        Some("stale")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn assumes_the_role_through_sts() {
    let sim = two_environments().await;
    let role_account = "111122223333";
    let registry = sim.add_registry(
        PROJECT,
        &format!("{role_account}.dkr.ecr.us-east-1.amazonaws.com"),
        "active",
    );
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(
        &mut env,
        "AWS_ROLE_ARN",
        &format!("arn:aws:iam::{role_account}:role/ecr-pull"),
    );
    set(&mut env, "AWS_ROLE_EXTERNAL_ID", "rancher");

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    // moto answers in the assumed role's account: proof the role was used.
    assert_holds_token(&credential(&sim, PROJECT, &cred), role_account);
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_host_replaces_the_ecr_host() {
    let sim = two_environments().await;
    let proxy = sim.add_registry(PROJECT, "ecr-proxy.internal:5000", "active");
    let cred = sim.add_credential(PROJECT, &proxy, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "ECR_PROXY_HOST", "ecr-proxy.internal:5000");

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    assert_holds_token(&credential(&sim, PROJECT, &cred), ACCOUNT);
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_create_uses_a_registry_that_appeared_meanwhile() {
    // Another writer adds the registry between our list and our create:
    // Rancher answers 400 ServerAddressUsed and we must not duplicate it.
    let sim = two_environments().await;
    sim.add_registry_before_next_post(PROJECT, ECR_HOST);
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "AUTO_CREATE", "true");

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    let registries = sim.registries(PROJECT);
    assert_eq!(registries.len(), 1, "{registries:?}");
    let credentials = sim.credentials(PROJECT);
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    assert_eq!(credentials[0].registry_id, registries[0].id);
    assert_holds_token(&credentials[0], ACCOUNT);
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.status == 400 && r.path_and_query.contains("registries")));
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_create_through_an_environment_endpoint_lands_in_that_environment() {
    let sim = two_environments().await;
    sim.add_key(
        "ADMINKEY000000000000",
        RANCHER_SECRET_KEY,
        KeyKind::Admin,
        None,
    );
    let mut env = base_env(&format!("{}/v2-beta/projects/1a5", sim.url()));
    set(&mut env, "CATTLE_ACCESS_KEY", "ADMINKEY000000000000");
    set(&mut env, "AUTO_CREATE", "true");

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    let registries = sim.registries(PROJECT);
    assert_eq!(registries.len(), 1, "{registries:?}");
    assert_eq!(registries[0].account_id, PROJECT);
    let credentials = sim.credentials(PROJECT);
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].account_id, PROJECT);
    // Nothing in the admin's own account or another environment.
    assert!(sim.registries("1a1").is_empty());
    assert!(sim.registries(OTHER_PROJECT).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_registry_is_not_revived_without_auto_create() {
    let sim = two_environments().await;
    let removed = sim.add_registry(PROJECT, ECR_HOST, "active");
    sim.remove_registry(&removed);

    let result = once(&base_env(&format!("{}/v1", sim.url()))).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.output().contains("AUTO_CREATE"),
        "{}",
        result.output()
    );
    assert_eq!(sim.registries(PROJECT).len(), 1);
    assert!(sim.credentials(PROJECT).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivated_credentials_are_reported_not_replaced() {
    let sim = two_environments().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let inactive = sim.add_credential(PROJECT, &registry, "AWS", "stale", "inactive");

    let result = once(&base_env(&format!("{}/v1", sim.url()))).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(result.output().contains(&inactive), "{}", result.output());
    assert_eq!(sim.credentials(PROJECT).len(), 1);
    assert_eq!(
        credential(&sim, PROJECT, &inactive).secret_value.as_deref(),
        Some("stale")
    );
}
