//! Hostile peers: every response body the daemon reads is bounded in size
//! while it streams, and every read is bounded in time, so a server posing
//! as Rancher or AWS cannot grow the daemon or stall it. Each attack is an
//! ordinary, retryable failure whose message names the URL (and the limit);
//! nothing stored in Rancher changes. Peak memory under these attacks is
//! measured by the benchmark (docs/benchmarks.md), not asserted here.

mod support;

use support::daemon::{base_env, moto_password, run, set, spawn, ACCOUNT, ECR_HOST};
use support::hostile::{Attack, HostileServer};
use support::rancher_sim::RancherSim;

const PROJECT: &str = "1a5";

/// Runs `--once` against a hostile "Rancher" and returns its output, after
/// checking it failed as an ordinary failure (status 1, not a crash).
async fn once_against_rancher(attack: Attack, timeout: &str) -> (String, HostileServer) {
    let server = HostileServer::start(attack).await;
    let mut env = base_env(&format!("{}/v2-beta/projects/{PROJECT}", server.url));
    set(&mut env, "RANCHER_TIMEOUT", timeout);
    let result = run(&env, &["--once"]).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    (result.output(), server)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_rancher_body_stops_at_the_limit() {
    let (output, server) = once_against_rancher(Attack::EndlessBody, "60s").await;
    assert!(output.contains(&server.url), "{output}");
    assert!(
        output.contains("larger than the 4096 KiB limit"),
        "{output}"
    );
    // The daemon hung up soon after the limit, not at the time limit.
    assert!(server.bytes_sent() < 64 << 20, "{}", server.bytes_sent());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_content_length_is_refused_before_reading() {
    let (output, server) = once_against_rancher(Attack::HugeContentLength, "60s").await;
    assert!(output.contains(&server.url), "{output}");
    assert!(
        output.contains("larger than the 4096 KiB limit"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_that_never_end_are_cut_off() {
    let (output, server) = once_against_rancher(Attack::EndlessHeaders, "60s").await;
    assert!(output.contains(&server.url), "{output}");
    assert!(output.contains("Rancher at"), "{output}");
    assert!(server.bytes_sent() < 64 << 20, "{}", server.bytes_sent());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickling_body_is_cut_off_by_the_request_timeout() {
    let (output, server) = once_against_rancher(Attack::Trickle, "2s").await;
    assert!(output.contains(&server.url), "{output}");
    assert!(output.contains("timed out"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_from_rancher_is_an_error_not_a_crash() {
    let body = b"{\"type\":\"project\",\"id\":\"\xff\xfe\"}".to_vec();
    let (output, server) = once_against_rancher(Attack::Body(body), "10s").await;
    assert!(output.contains(&server.url), "{output}");
    assert!(output.contains("not the expected JSON"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_json_from_rancher_is_an_error_not_a_crash() {
    let depth = 200_000;
    let mut body = "[".repeat(depth).into_bytes();
    body.extend("]".repeat(depth).into_bytes());
    let (output, _server) = once_against_rancher(Attack::Body(body), "10s").await;
    assert!(output.contains("recursion limit exceeded"), "{output}");
}

/// The AWS side: the SDK would read any body whole; ours stops it, and the
/// credential in Rancher keeps its value.
#[tokio::test(flavor = "multi_thread")]
async fn an_endless_aws_body_stops_at_the_limit_and_nothing_is_written() {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, PROJECT);
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    for attack in [Attack::EndlessBody, Attack::HugeContentLength] {
        let aws = HostileServer::start(attack).await;
        let mut env = base_env(&format!("{}/v2-beta/projects/{PROJECT}", sim.url()));
        set(&mut env, "AWS_ENDPOINT_URL", &aws.url);
        let result = run(&env, &["--once"]).await;
        let output = result.output();
        assert_eq!(result.status.code(), Some(1), "{output}");
        assert!(output.contains(&aws.url), "{output}");
        assert!(
            output.contains("larger than the 1024 KiB limit"),
            "{output}"
        );
        assert!(aws.bytes_sent() < 64 << 20, "{}", aws.bytes_sent());
    }
    let credentials = sim.credentials(PROJECT);
    assert_eq!(credentials[0].secret_value.as_deref(), Some("stale"));
    assert_ne!(
        credentials[0].secret_value.as_deref(),
        Some(moto_password(ACCOUNT).as_str())
    );
}

/// In the daemon an attack is retried like any failure: the process stays
/// up and says when it tries again.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_survives_and_retries() {
    let server = HostileServer::start(Attack::EndlessBody).await;
    let mut env = base_env(&format!("{}/v2-beta/projects/{PROJECT}", server.url));
    set(&mut env, "RETRY_MIN_DELAY", "100ms");
    set(&mut env, "RETRY_MAX_DELAY", "200ms");
    let mut daemon = spawn(&env, &[]);
    daemon
        .wait_for("a second failed attempt", |d| {
            d.output().matches("larger than the 4096 KiB limit").count() >= 2
        })
        .await;
    assert!(daemon.output().contains("retrying in"));
    assert!(daemon.is_running());
    let (status, _) = daemon.terminate().await;
    assert!(status.success());
}

/// The Rancher limit is sized for the largest real answer: a full page of
/// 1000 registries (the page size the client asks for) fits, with room.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_page_of_registries_fits_the_limit() {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, PROJECT);
    for n in 0..999 {
        let address = format!("{n:012}.dkr.ecr.ap-southeast-2.amazonaws.com");
        sim.add_registry(PROJECT, &address, "active");
    }
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let page = support::http()
        .get(format!(
            "{}/v2-beta/projects/{PROJECT}/registries?limit=1000",
            sim.url()
        ))
        .basic_auth(
            support::daemon::RANCHER_ACCESS_KEY,
            Some(support::daemon::RANCHER_SECRET_KEY),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    println!("a page of 1000 registries: {} bytes", page.len());
    assert!(
        page.len() > 500_000,
        "not a full page: {} bytes",
        page.len()
    );
    assert!(
        page.len() < (4 << 20) / 2,
        "the limit leaves too little room"
    );

    let env = base_env(&format!("{}/v2-beta/projects/{PROJECT}", sim.url()));
    let result = run(&env, &["--once"]).await;
    assert_eq!(result.status.code(), Some(0), "{}", result.output());
    let written = sim.credentials(PROJECT)[0].secret_value.clone();
    assert_eq!(written, Some(moto_password(ACCOUNT)));
}
