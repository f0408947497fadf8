//! Operating the daemon: health and metrics endpoints, the read-only modes
//! (`--dry-run`, `--check`, `--check --check-image` against a fake OCI
//! registry), log formats, TLS and proxies, and shutdown. Real binary, moto
//! and the Rancher simulator, as in tests/daemon.rs.

mod support;

use support::daemon::{
    base_env, moto_password, run, set, spawn, unset, ACCOUNT, ECR_HOST, RANCHER_SECRET_KEY,
};
use support::moto::Moto;
use support::oci_registry::OciRegistry;
use support::rancher_sim::RancherSim;
use support::tls_front::TlsFront;

const PROJECT: &str = "1a5";

async fn rancher_with_registry(with_credential: bool) -> (RancherSim, String) {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, PROJECT);
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    if with_credential {
        sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    }
    (sim, registry)
}

fn secret_of_first_credential(sim: &RancherSim) -> Option<String> {
    sim.credentials(PROJECT)
        .first()
        .and_then(|c| c.secret_value.clone())
}

fn written(sim: &RancherSim) -> bool {
    secret_of_first_credential(sim).as_deref() == Some(moto_password(ACCOUNT).as_str())
}

fn sim_port(sim: &RancherSim) -> u16 {
    sim.url().rsplit(':').next().unwrap().parse().unwrap()
}

async fn get(url: &str) -> (u16, String) {
    let response = support::http()
        .get(url)
        .send()
        .await
        .expect("health endpoint answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_answers_pong() {
    let sim = support::two_environments().await;
    let mut daemon = spawn(&base_env(&format!("{}/v1", sim.url())), &[]);
    let address = daemon.health_address().await;
    let body = support::listener_get(&address, "/ping").await.1;
    assert_eq!(body, "pong!");
    let (status, _) = daemon.terminate().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_is_green_only_when_credentials_are_fresh() {
    let (sim, _) = rancher_with_registry(true).await;
    let mut daemon = spawn(&base_env(&format!("{}/v1", sim.url())), &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("next refresh in").await;

    let (status, body) = get(&format!("http://{address}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ok");
    let registry = &body["registries"][0];
    assert_eq!(registry["host"], ECR_HOST);
    assert_eq!(registry["environment"], PROJECT);
    assert!(registry["lastSuccess"].is_string(), "{body}");
    assert!(registry["refreshDeadline"].is_string(), "{body}");
    assert!(registry["lastError"].is_null(), "{body}");

    let (status, metrics) = get(&format!("http://{address}/metrics")).await;
    assert_eq!(status, 200);
    for family in [
        "rancher_ecr_credentials_build_info{version=",
        "rancher_ecr_credentials_refresh_cycles_total 1",
        &format!(
            "rancher_ecr_credentials_last_success_timestamp_seconds{{host=\"{ECR_HOST}\",environment=\"{PROJECT}\"}}"
        ),
        "rancher_ecr_credentials_aws_request_duration_seconds_count{operation=\"GetAuthorizationToken\"} 1",
        "rancher_ecr_credentials_rancher_request_duration_seconds_count{operation=\"PUT\"} 1",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }
    let (status, pong) = get(&format!("http://{address}/ping")).await;
    assert_eq!((status, pong.as_str()), (200, "pong!"));

    // The image's HEALTHCHECK: the binary asks /ping, needing no other setting.
    let port = address.rsplit(':').next().unwrap();
    let probe = |port: String| async move {
        run(&[("LISTEN_PORT".to_string(), port)], &["--health-probe"]).await
    };
    let healthy = probe(port.to_string()).await;
    assert!(healthy.status.success(), "{}", healthy.output());
    let (exit, _) = daemon.terminate().await;
    assert!(exit.success());
    let gone = probe(port.to_string()).await;
    assert_eq!(gone.status.code(), Some(1), "{}", gone.output());
}

/// The outage the README's alert exists for: after a write, AWS fails.
/// /healthz and /metrics keep the registry's last success (and say why
/// nothing is written), so `time() - last_success` keeps growing.
#[tokio::test(flavor = "multi_thread")]
async fn an_aws_outage_after_a_write_forgets_no_registry() {
    use support::aws_front::{aws_error, AwsFront, Script};
    let front = AwsFront::start(Script::ReplyAfter {
        after: 1,
        operation: "GetAuthorizationToken",
        status: 400,
        body: aws_error("AccessDeniedException", "not any more"),
    })
    .await;
    let (sim, _) = rancher_with_registry(true).await;
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "REFRESH_INTERVAL", "1s");
    let mut daemon = spawn(&env, &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("next refresh in").await;
    assert!(written(&sim));
    daemon.wait_for_output("not any more").await;

    let (_, body) = get(&format!("http://{address}/healthz")).await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let registry = &body["registries"][0];
    assert_eq!(registry["host"], ECR_HOST, "{body}");
    assert!(registry["lastSuccess"].is_string(), "{body}");
    assert!(
        registry["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("not any more"),
        "{body}"
    );
    let (_, metrics) = get(&format!("http://{address}/metrics")).await;
    let series = format!(
        "rancher_ecr_credentials_last_success_timestamp_seconds{{host=\"{ECR_HOST}\",environment=\"{PROJECT}\"}}"
    );
    assert!(metrics.contains(&series), "{series} missing:\n{metrics}");
    daemon.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_shows_a_bad_key_and_a_missing_registry_while_ping_stays_up() {
    for broken in ["bad key", "no registry"] {
        let sim = RancherSim::start().await;
        support::add_environment(&sim, PROJECT);
        let mut env = base_env(&format!("{}/v2-beta", sim.url()));
        let expected_error = if broken == "bad key" {
            sim.add_registry(PROJECT, ECR_HOST, "active");
            set(
                &mut env,
                "CATTLE_SECRET_KEY",
                "WrongSecret0000000000000000000000000000",
            );
            "CATTLE_ACCESS_KEY/CATTLE_SECRET_KEY"
        } else {
            "AUTO_CREATE"
        };
        set(&mut env, "RETRY_MIN_DELAY", "10s");
        let mut daemon = spawn(&env, &[]);
        let address = daemon.health_address().await;
        // A bad key is retried with backoff; a missing registry waits for a
        // person, on the normal schedule.
        let end_of_cycle = if broken == "bad key" {
            "retrying in"
        } else {
            "next refresh in"
        };
        daemon.wait_for_output(end_of_cycle).await;

        let (status, body) = get(&format!("http://{address}/healthz")).await;
        assert_eq!(status, 503, "{broken}: {body}");
        assert!(body.contains(expected_error), "{broken}: {body}");
        assert!(!body.contains(RANCHER_SECRET_KEY) && !body.contains("WrongSecret"));
        let (status, _) = get(&format!("http://{address}/ping")).await;
        assert_eq!(
            status, 200,
            "{broken}: /ping must not restart-loop the container"
        );
        let (_, metrics) = get(&format!("http://{address}/metrics")).await;
        let cause = if broken == "bad key" {
            "rancher_auth"
        } else {
            "no_matching_registry"
        };
        assert!(
            metrics.contains(&format!("refresh_failures_total{{cause=\"{cause}\"}} 1")),
            "{broken}:\n{metrics}"
        );
        let (exit, _) = daemon.terminate().await;
        assert!(exit.success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_reports_missing_aws_credentials() {
    let (sim, _) = rancher_with_registry(true).await;
    let mut env = base_env(&format!("{}/v1", sim.url()));
    // Credentials that sign nothing: the chain finds none.
    unset(&mut env, "AWS_ACCESS_KEY_ID");
    unset(&mut env, "AWS_SECRET_ACCESS_KEY");
    set(&mut env, "RETRY_MIN_DELAY", "10s");
    let mut daemon = spawn(&env, &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("retrying in").await;
    let (status, body) = get(&format!("http://{address}/healthz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ECR token"), "{body}");
    let (_, metrics) = get(&format!("http://{address}/metrics")).await;
    assert!(
        metrics.contains("refresh_failures_total{cause=\"aws_auth\"} 1"),
        "{metrics}"
    );
    let (exit, _) = daemon.terminate().await;
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_reads_plans_and_writes_nothing() {
    let (sim, registry) = rancher_with_registry(false).await;
    let result = run(&base_env(&format!("{}/v1", sim.url())), &["--dry-run"]).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(
        result
            .stdout
            .contains(&format!("would create a credential in registry {registry}")),
        "{}",
        result.stdout
    );
    assert!(sim.credentials(PROJECT).is_empty());
    assert!(sim.requests().iter().all(|r| r.method == "GET"));

    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "ECR_PROXY_HOST", "not-there.example.com");
    set(&mut env, "AUTO_CREATE", "true");
    let result = run(&env, &["--dry-run"]).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(
        result
            .stdout
            .contains("would create registry not-there.example.com"),
        "{}",
        result.stdout
    );
    assert_eq!(sim.registries(PROJECT).len(), 1);
    assert!(sim.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_diagnoses_each_step() {
    let (sim, registry) = rancher_with_registry(true).await;
    let env = base_env(&format!("{}/v1", sim.url()));
    let result = run(&env, &["--check"]).await;
    assert!(result.status.success(), "{}", result.output());
    for line in [
        "ok   AWS identity: arn:aws:",
        &format!("ok   ECR token: {ECR_HOST}"),
        "ok   Rancher API: reachable, environment 1a5",
        &format!("ok   registry: {ECR_HOST} matches {registry}"),
    ] {
        assert!(
            result.stdout.contains(line),
            "{line} missing:\n{}",
            result.stdout
        );
    }
    assert!(sim.requests().iter().all(|r| r.method == "GET"));

    let mut bad = env.clone();
    set(
        &mut bad,
        "CATTLE_SECRET_KEY",
        "WrongSecret0000000000000000000000000000",
    );
    let result = run(&bad, &["--check"]).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.stdout.contains("FAIL Rancher API"),
        "{}",
        result.stdout
    );

    let mut elsewhere = env.clone();
    set(&mut elsewhere, "ECR_PROXY_HOST", "not-there.example.com");
    let result = run(&elsewhere, &["--check"]).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result
            .stdout
            .contains("FAIL registry: no registry has the address"),
        "{}",
        result.stdout
    );
}

/// The daemon's `--check --check-image`: the same manifest request, with
/// the token the daemon would write, for a registry the daemon serves.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemons_check_tries_the_image_too() {
    let registry = OciRegistry::start().await;
    let tls = TlsFront::start(registry.port);
    let host = format!("localhost:{}", tls.port);
    let sim = RancherSim::start().await;
    support::add_environment(&sim, "1a5");
    sim.add_registry("1a5", &host, "active");
    let mut env = base_env(&format!("{}/v2-beta/projects/1a5", sim.url()));
    set(&mut env, "ECR_PROXY_HOST", &host);
    set(&mut env, "CA_FILE", tls.ca_file.to_str().unwrap());
    let check = |image: String| {
        let env = env.clone();
        async move { run(&env, &["--check", "--check-image", &image]).await }
    };

    let result = check(format!("{host}/team/app:1")).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(
        result.stdout.contains("ok   image pull: "),
        "{}",
        result.stdout
    );

    let result = check(format!("{host}/secret")).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.stdout.contains("FAIL image pull: ") && result.stdout.contains("ecr:BatchGetImage"),
        "{}",
        result.stdout
    );

    let result = check("registry.example.com/team/app:1".to_string()).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.stdout.contains("not a registry this daemon writes"),
        "{}",
        result.stdout
    );
    assert!(!result.output().contains(&moto_password(ACCOUNT)));

    let result = run(&env, &["--check-image", "x/y"]).await;
    assert_eq!(
        result.status.code(),
        Some(2),
        "needs --check: {}",
        result.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line() {
    let (sim, _) = rancher_with_registry(true).await;
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "LOG_FORMAT", "json");
    set(&mut env, "LOG_LEVEL", "INFO");
    let result = run(&env, &["--once"]).await;
    assert!(result.status.success(), "{}", result.output());
    let lines: Vec<serde_json::Value> = result
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let update = lines
        .iter()
        .find(|l| l["action"] == "updated")
        .expect("an 'updated' line");
    assert_eq!(update["host"], ECR_HOST);
    assert_eq!(update["environment"], PROJECT);
    assert_eq!(update["level"], "INFO");
}

#[tokio::test(flavor = "multi_thread")]
async fn rancher_over_tls_with_a_private_ca() {
    let (sim, _) = rancher_with_registry(true).await;
    let front = TlsFront::start(sim_port(&sim));
    let url = format!("https://127.0.0.1:{}/v1", front.port);

    let result = run(&base_env(&url), &["--once"]).await;
    assert_eq!(
        result.status.code(),
        Some(1),
        "an unknown CA must be refused"
    );
    assert!(
        result.output().contains("TLS certificate is not trusted"),
        "{}",
        result.output()
    );
    assert!(!written(&sim));

    // CA_FILE adds to the system roots.
    let mut env = base_env(&url);
    set(&mut env, "CA_FILE", front.ca_file.to_str().unwrap());
    let result = run(&env, &["--once"]).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(written(&sim));

    // SSL_CERT_FILE replaces them (OpenSSL's convention), which works too.
    let mut env = base_env(&url);
    set(&mut env, "SSL_CERT_FILE", front.ca_file.to_str().unwrap());
    let result = run(&env, &["--once"]).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(written(&sim));

    let mut env = base_env(&url);
    set(&mut env, "RANCHER_INSECURE", "true");
    let result = run(&env, &["--once"]).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(result.stderr.contains("NOT verified"), "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_calls_go_through_https_proxy() {
    let (sim, _) = rancher_with_registry(true).await;
    let proxy = Moto::proxy();
    let mut env = base_env(&format!("{}/v1", sim.url()));
    // No endpoint override: the SDK addresses the real ECR host, and only
    // the proxy (moto_proxy, intercepting with its CA) can answer.
    unset(&mut env, "AWS_ENDPOINT_URL");
    set(&mut env, "HTTPS_PROXY", &proxy.endpoint);
    set(&mut env, "NO_PROXY", "127.0.0.1");
    set(
        &mut env,
        "SSL_CERT_FILE",
        Moto::proxy_ca().to_str().unwrap(),
    );
    let result = run(&env, &["--once"]).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(written(&sim));
}

#[tokio::test(flavor = "multi_thread")]
async fn rancher_calls_go_through_http_proxy() {
    let (sim, _) = rancher_with_registry(true).await;
    // rancher.invalid does not resolve: only a proxy can reach it. The
    // simulator serves proxy-form requests (absolute URIs) too.
    let mut env = base_env("http://rancher.invalid:8080/v1");
    set(&mut env, "HTTP_PROXY", &sim.url());
    set(&mut env, "NO_PROXY", "127.0.0.1"); // moto, the AWS endpoint
    let result = run(&env, &["--once"]).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(written(&sim));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_the_daemon_mid_sleep_and_mid_backoff() {
    // Mid-sleep: a good cycle, then 6 hours to wait.
    let (sim, _) = rancher_with_registry(true).await;
    let mut daemon = spawn(&base_env(&format!("{}/v1", sim.url())), &[]);
    daemon.wait_for_output("next refresh in").await;
    let (status, output) = daemon.terminate().await;
    assert!(status.success(), "{output}");
    assert!(output.contains("shutting down"), "{output}");

    // Mid-backoff: Rancher keeps failing, the retry is minutes away.
    sim.fail_next(1000, 503);
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "RETRY_MIN_DELAY", "5m");
    let mut daemon = spawn(&env, &[]);
    daemon.wait_for_output("retrying in").await;
    let (status, output) = daemon.terminate().await;
    assert!(status.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_end_every_mode_mid_request() {
    // A Rancher that accepts connections and never answers: a request
    // would wait for RANCHER_TIMEOUT (10 minutes here), far beyond the 20 s
    // the harness waits for the exit.
    let (rancher_url, connections) = support::silent_server().await;
    let mut env = base_env(&format!("{rancher_url}/v1"));
    set(&mut env, "RANCHER_TIMEOUT", "10m");

    for (args, signal, expected) in [
        (&[][..], "INT", 0),
        (&[][..], "TERM", 0),
        (&["--once"][..], "TERM", 1),
        (&["--check"][..], "INT", 1),
    ] {
        let before = connections.load(std::sync::atomic::Ordering::SeqCst);
        let mut daemon = spawn(&env, args);
        daemon
            .wait_for("a request in flight", |_| {
                connections.load(std::sync::atomic::Ordering::SeqCst) > before
            })
            .await;
        let (status, output) = daemon.stop(signal).await;
        assert_eq!(status.code(), Some(expected), "{args:?} {signal}: {output}");
        assert!(output.contains("shutting down"), "{output}");
    }
}
