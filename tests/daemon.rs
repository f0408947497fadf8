//! End-to-end: the real binary against moto (AWS) and the Rancher 1.6
//! simulator. Each test builds a small Rancher world, runs the updater and
//! checks what Rancher holds afterwards, and which requests it received.

mod support;

use support::daemon::{
    base_env, moto_password, run, set, spawn, unset, ACCOUNT, AWS_SECRET_KEY, ECR_HOST,
    RANCHER_ACCESS_KEY, RANCHER_SECRET_KEY,
};
use support::rancher_sim::{KeyKind, RancherSim, SimCredential};

const PROJECT: &str = "1a5";
const OTHER_PROJECT: &str = "1a7";

/// A Rancher with two environments and an environment agent key for 1a5.
async fn rancher() -> RancherSim {
    let sim = RancherSim::start().await;
    sim.add_project(PROJECT);
    sim.add_project(OTHER_PROJECT);
    sim.add_key(
        RANCHER_ACCESS_KEY,
        RANCHER_SECRET_KEY,
        KeyKind::Environment,
        Some(PROJECT),
    );
    sim
}

fn credential(sim: &RancherSim, project: &str, id: &str) -> SimCredential {
    sim.credentials(project)
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("credential {id} in {project}"))
}

fn assert_holds_token(credential: &SimCredential, registry_id: &str) {
    assert_eq!(
        credential.public_value.as_deref(),
        Some("AWS"),
        "{credential:?}"
    );
    assert_eq!(
        credential.secret_value.as_deref(),
        Some(moto_password(registry_id).as_str()),
        "{credential:?}"
    );
}

async fn once(env: &[(String, String)]) -> support::daemon::Finished {
    run(env, &["--once"]).await
}

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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
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
    let sim = rancher().await;
    let proxy = sim.add_registry(PROJECT, "ecr-proxy.internal:5000", "active");
    let cred = sim.add_credential(PROJECT, &proxy, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "ECR_PROXY_HOST", "ecr-proxy.internal:5000");

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    assert_holds_token(&credential(&sim, PROJECT, &cred), ACCOUNT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_key_is_named_and_the_daemon_keeps_running() {
    let sim = rancher().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(
        &mut env,
        "CATTLE_SECRET_KEY",
        "WrongSecret0000000000000000000000000000",
    );

    let result = once(&env).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(result.output().contains("401"), "{}", result.output());
    assert!(
        result
            .output()
            .contains("CATTLE_ACCESS_KEY/CATTLE_SECRET_KEY"),
        "{}",
        result.output()
    );

    set(&mut env, "RETRY_MIN_DELAY", "50ms");
    set(&mut env, "RETRY_MAX_DELAY", "200ms");
    let mut daemon = spawn(&env, &[]);
    daemon
        .wait_for("three rejected attempts", |_| {
            sim.requests().iter().filter(|r| r.status == 401).count() >= 3
        })
        .await;
    assert!(daemon.is_running());
    let (status, _) = daemon.terminate().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_keys_never_run_as_admin() {
    // With access control off, Rancher runs an unknown key as admin across
    // environments unless the client insists on authentication (§1).
    let sim = rancher().await;
    sim.set_access_control(false);
    let mut creds = Vec::new();
    for project in [PROJECT, OTHER_PROJECT] {
        let registry = sim.add_registry(project, ECR_HOST, "active");
        creds.push((
            project,
            sim.add_credential(project, &registry, "AWS", "stale", "active"),
        ));
    }
    for path in ["/v2-beta", "/v2-beta/projects/1a5"] {
        let mut env = base_env(&format!("{}{path}", sim.url()));
        set(&mut env, "CATTLE_ACCESS_KEY", "UNKNOWNKEY0000000000");

        let result = once(&env).await;
        assert_eq!(result.status.code(), Some(1), "{path}: {}", result.output());
        assert!(
            result.output().contains("401"),
            "{path}: {}",
            result.output()
        );
        for (project, cred) in &creds {
            assert_eq!(
                credential(&sim, project, cred).secret_value.as_deref(),
                Some("stale")
            );
        }
    }
    assert!(sim
        .requests()
        .iter()
        .all(|r| r.header("X-ENFORCE-AUTHENTICATION") == Some("true")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_key_needs_an_environment_endpoint() {
    let sim = rancher().await;
    sim.add_key(
        "ADMINKEY000000000000",
        RANCHER_SECRET_KEY,
        KeyKind::Admin,
        None,
    );
    let registry = sim.add_registry(OTHER_PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(OTHER_PROJECT, &registry, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "CATTLE_ACCESS_KEY", "ADMINKEY000000000000");

    let result = once(&env).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    for said in [
        "account of kind admin",
        "RANCHER_ENVIRONMENTS",
        "environment API key",
    ] {
        assert!(
            result.output().contains(said),
            "{said}: {}",
            result.output()
        );
    }
    assert_eq!(
        credential(&sim, OTHER_PROJECT, &cred)
            .secret_value
            .as_deref(),
        Some("stale")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recovers_when_rancher_fails_a_few_times() {
    let sim = rancher().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    sim.fail_next(4, 500);
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "RETRY_MIN_DELAY", "50ms");
    set(&mut env, "RETRY_MAX_DELAY", "200ms");

    let mut daemon = spawn(&env, &[]);
    daemon
        .wait_for("the credential update", |_| {
            credential(&sim, PROJECT, &cred).secret_value.as_deref()
                == Some(moto_password(ACCOUNT).as_str())
        })
        .await;
    daemon.wait_for_output("next refresh in").await;
    let (status, output) = daemon.terminate().await;
    assert!(status.success(), "{output}");
    assert!(output.contains("retrying in"), "{output}");
    assert_eq!(sim.requests().iter().filter(|r| r.status == 500).count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_for_rancher_that_is_down_at_start() {
    let port = support::moto::free_port();
    let mut env = base_env(&format!("http://127.0.0.1:{port}/v1"));
    set(&mut env, "RETRY_MIN_DELAY", "50ms");
    set(&mut env, "RETRY_MAX_DELAY", "200ms");
    let mut daemon = spawn(&env, &[]);
    daemon.wait_for_output("unreachable").await;

    let sim = RancherSim::start_at(port).await;
    support::add_environment(&sim, PROJECT);
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    daemon
        .wait_for("the credential update", |_| {
            credential(&sim, PROJECT, &cred).secret_value.as_deref()
                == Some(moto_password(ACCOUNT).as_str())
        })
        .await;
    let (status, _) = daemon.terminate().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_answers_pong() {
    let sim = rancher().await;
    let mut daemon = spawn(&base_env(&format!("{}/v1", sim.url())), &[]);
    let address = daemon.health_address().await;
    let body = support::http()
        .get(format!("http://{address}/ping"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "pong!");
    let (status, _) = daemon.terminate().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_output_at_the_most_verbose_level() {
    let sim = rancher().await;
    // No credential yet: the POST whose response echoes secretValue runs too.
    sim.add_registry(
        PROJECT,
        "111122223333.dkr.ecr.us-east-1.amazonaws.com",
        "active",
    );
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "LOG_LEVEL", "trace,rancher_ecr_credentials=trace");
    set(
        &mut env,
        "AWS_ROLE_ARN",
        "arn:aws:iam::111122223333:role/ecr-pull",
    );
    set(&mut env, "AUTO_CREATE", "true");

    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    let output = result.output();
    assert!(output.contains("TRACE"), "the run was not at trace level");
    let password = moto_password("111122223333");
    let token = base64_of(&format!("AWS:{password}"));
    let basic = base64_of(&format!("{RANCHER_ACCESS_KEY}:{RANCHER_SECRET_KEY}"));
    for secret in [
        password.as_str(),
        &token,
        AWS_SECRET_KEY,
        RANCHER_SECRET_KEY,
        &basic,
    ] {
        assert!(!output.contains(secret), "{secret} leaked:\n{output}");
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_exit_2_and_name_the_setting() {
    let sim = rancher().await;
    let good = base_env(&format!("{}/v1", sim.url()));
    type Change = Box<dyn Fn(&mut Vec<(String, String)>)>;
    let cases: Vec<(&str, Change)> = vec![
        ("CATTLE_URL", Box::new(|env| unset(env, "CATTLE_URL"))),
        (
            "CATTLE_SECRET_KEY",
            Box::new(|env| unset(env, "CATTLE_SECRET_KEY")),
        ),
        (
            "AWS_ECR_REGISTRY_IDS",
            Box::new(|env| set(env, "AWS_ECR_REGISTRY_IDS", "12345")),
        ),
        (
            "AUTO_CREATE",
            Box::new(|env| set(env, "AUTO_CREATE", "yes please")),
        ),
        ("AWS_REGION", Box::new(|env| unset(env, "AWS_REGION"))),
        ("LOG_LEVEL", Box::new(|env| set(env, "LOG_LEVEL", "=["))),
        (
            "AWS_ROLE_ARN",
            Box::new(|env| set(env, "AWS_ROLE_ARN", "my-role")),
        ),
        (
            "CATTLE_ACCESS_KEY",
            Box::new(|env| unset(env, "CATTLE_ACCESS_KEY")),
        ),
        (
            "CATTLE_URL",
            Box::new(|env| set(env, "CATTLE_URL", "rancher:8080/v1")),
        ),
        (
            "REFRESH_INTERVAL",
            Box::new(|env| set(env, "REFRESH_INTERVAL", "often")),
        ),
    ];
    for (setting, change) in cases {
        let mut env = good.clone();
        change(&mut env);
        let result = once(&env).await;
        assert_eq!(
            result.status.code(),
            Some(2),
            "{setting}: {}",
            result.output()
        );
        assert!(
            result.stderr.contains(setting),
            "{setting}: {}",
            result.stderr
        );
        // Said once, not once by the log and once more on the way out.
        assert_eq!(
            result
                .stderr
                .lines()
                .filter(|line| line.contains(setting))
                .count(),
            1,
            "{setting} repeated: {}",
            result.stderr
        );
        assert!(!result.output().contains(RANCHER_SECRET_KEY));
    }
    assert!(
        sim.requests().is_empty(),
        "a configuration error made a request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_create_uses_a_registry_that_appeared_meanwhile() {
    // Another writer adds the registry between our list and our create:
    // Rancher answers 400 ServerAddressUsed and we must not duplicate it.
    let sim = rancher().await;
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
    let sim = rancher().await;
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
async fn one_failing_registry_does_not_block_the_others() {
    let sim = rancher().await;
    let ids = ["111111111111", "222222222222"];
    let mut creds = Vec::new();
    for id in ids {
        let address = format!("{id}.dkr.ecr.us-east-1.amazonaws.com");
        let registry = sim.add_registry(PROJECT, &address, "active");
        creds.push(sim.add_credential(PROJECT, &registry, "AWS", "stale", "active"));
    }
    sim.fail_matching("PUT", &creds[0], 1, 500);
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "AWS_ECR_REGISTRY_IDS", &ids.join(","));

    let result = once(&env).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert_eq!(
        credential(&sim, PROJECT, &creds[0]).secret_value.as_deref(),
        Some("stale")
    );
    assert_holds_token(&credential(&sim, PROJECT, &creds[1]), ids[1]);
    assert!(result.output().contains("500"), "{}", result.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_outage_fails_once_and_the_daemon_keeps_retrying() {
    let sim = rancher().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v1", sim.url()));
    let nothing_there = support::moto::free_port();
    set(
        &mut env,
        "AWS_ENDPOINT_URL",
        &format!("http://127.0.0.1:{nothing_there}"),
    );

    let result = once(&env).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.output().contains("aws_unreachable"),
        "{}",
        result.output()
    );

    set(&mut env, "RETRY_MIN_DELAY", "50ms");
    set(&mut env, "RETRY_MAX_DELAY", "100ms");
    let mut daemon = spawn(&env, &[]);
    daemon
        .wait_for("three failed attempts", |d| {
            d.output().matches("retrying in").count() >= 3
        })
        .await;
    assert!(daemon.is_running());
    let (status, _) = daemon.terminate().await;
    assert!(status.success());
    assert_eq!(
        credential(&sim, PROJECT, &cred).secret_value.as_deref(),
        Some("stale")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_registry_is_not_revived_without_auto_create() {
    let sim = rancher().await;
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
    let sim = rancher().await;
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

/// An ECR look-alike whose 200 answer cannot be parsed: the SDK's error
/// then holds the raw response, token included.
async fn unparsable_ecr(token: &str) -> String {
    let body = serde_json::json!({"authorizationData": [{
        "authorizationToken": token,
        "expiresAt": "tomorrow",
        "proxyEndpoint": format!("https://{ECR_HOST}"),
    }]})
    .to_string();
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/x-amz-json-1.1")], body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_output_when_aws_answers_garbage() {
    let sim = rancher().await;
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let password = "GarbagePathPassword0123456789";
    let token = base64_of(&format!("AWS:{password}"));
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &unparsable_ecr(&token).await);
    set(&mut env, "LOG_LEVEL", "trace,rancher_ecr_credentials=trace");

    for args in [&["--once"][..], &["--check"][..]] {
        let result = run(&env, args).await;
        assert_eq!(
            result.status.code(),
            Some(1),
            "{args:?}: {}",
            result.output()
        );
        let output = result.output();
        assert!(output.contains("ECR") || output.contains("AWS"), "{output}");
        for secret in [password, token.as_str(), AWS_SECRET_KEY, RANCHER_SECRET_KEY] {
            assert!(
                !output.contains(secret),
                "{args:?}: {secret} leaked:\n{output}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_instance_metadata_service_gets_the_hop_limit_hint() {
    // No keys, no profile: the chain ends at IMDS, which accepts and never
    // answers, as a container behind a hop limit of 1 sees it.
    let (imds, _) = support::silent_server().await;
    let sim = rancher().await;
    let mut env = base_env(&format!("{}/v1", sim.url()));
    unset(&mut env, "AWS_ACCESS_KEY_ID");
    unset(&mut env, "AWS_SECRET_ACCESS_KEY");
    unset(&mut env, "AWS_EC2_METADATA_DISABLED");
    set(&mut env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds);

    let result = once(&env).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    let line = result
        .stderr
        .lines()
        .find(|l| l.contains("cannot get an ECR token"))
        .unwrap_or_else(|| panic!("no ECR error line:\n{}", result.stderr));
    assert!(line.contains("aws_imds"), "{line}");
    assert!(line.contains("hop limit"), "{line}");
}
