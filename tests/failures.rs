//! When things go wrong, end to end (the real binary, moto, the Rancher
//! simulator): a rejected or unknown key, an admin key without an
//! environment, Rancher or AWS failing or down, one failing registry among
//! others, a silent instance metadata service, configuration mistakes (exit
//! 2, naming the setting), and no secret in the output, even at trace level
//! or when AWS answers garbage. The daemon names the cause and, running,
//! keeps retrying.

mod support;

use support::daemon::{
    base_env, moto_password, once, run, set, spawn, unset, ACCOUNT, AWS_SECRET_KEY, ECR_HOST,
    RANCHER_ACCESS_KEY, RANCHER_SECRET_KEY,
};
use support::rancher_sim::{KeyKind, RancherSim};
use support::{assert_holds_token, credential, two_environments, OTHER_PROJECT, PROJECT};

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_key_is_named_and_the_daemon_keeps_running() {
    let sim = two_environments().await;
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
    let sim = two_environments().await;
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
    let sim = two_environments().await;
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
    let sim = two_environments().await;
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
async fn no_secret_in_output_at_the_most_verbose_level() {
    let sim = two_environments().await;
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
    let sim = two_environments().await;
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
async fn one_failing_registry_does_not_block_the_others() {
    let sim = two_environments().await;
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
    let sim = two_environments().await;
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
    let sim = two_environments().await;
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
    let sim = two_environments().await;
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
