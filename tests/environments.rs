//! One daemon for many environments (RANCHER_ENVIRONMENTS) with one account
//! API key, through the Rancher simulator and moto: which environments are
//! served, which are skipped and why, that every request is scoped to its
//! environment, and what /healthz, --once and --check say about each.

mod support;

use std::time::Duration;

use support::daemon::{
    base_env, moto_password, run, set, spawn, ACCOUNT, ECR_HOST, RANCHER_SECRET_KEY,
};
use support::rancher_sim::{KeyKind, RancherSim, Role};

const USER_KEY: &str = "USERKEY0000000000000";
const ADMIN_KEY: &str = "ADMINKEY000000000000";
/// The user account the account key belongs to.
const USER: &str = "1a20";

/// A Rancher with five environments, each with the ECR registry and a stale
/// credential: Default (1a5, cattle, member), k8s (1a9, kubernetes,
/// restricted), win (1a11, windows, readonly), old (1a12, inactive, owner)
/// and other (1a13, not a member).
async fn rancher() -> RancherSim {
    let sim = RancherSim::start().await;
    for (id, name, orchestration, state, role) in [
        ("1a5", "Default", "cattle", "active", Some(Role::Member)),
        ("1a9", "k8s", "kubernetes", "active", Some(Role::Restricted)),
        ("1a11", "win", "windows", "active", Some(Role::Readonly)),
        ("1a12", "old", "cattle", "inactive", Some(Role::Owner)),
        ("1a13", "other", "cattle", "active", None),
    ] {
        sim.add_project_with(id, name, orchestration, state);
        if let Some(role) = role {
            sim.add_member(id, USER, role);
        }
        let registry = sim.add_registry(id, ECR_HOST, "active");
        sim.add_credential(id, &registry, "AWS", "stale", "active");
    }
    sim.add_key(USER_KEY, RANCHER_SECRET_KEY, KeyKind::User, Some(USER));
    sim.add_key(ADMIN_KEY, RANCHER_SECRET_KEY, KeyKind::Admin, None);
    sim
}

fn env_for(sim: &RancherSim, key: &str, environments: &str) -> Vec<(String, String)> {
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "CATTLE_ACCESS_KEY", key);
    set(&mut env, "RANCHER_ENVIRONMENTS", environments);
    env
}

fn written(sim: &RancherSim, project: &str) -> bool {
    sim.credentials(project)
        .iter()
        .all(|c| c.secret_value.as_deref() == Some(moto_password(ACCOUNT).as_str()))
}

/// Every write went through a request scoped to one environment, by URL
/// and by header.
fn every_write_is_scoped(sim: &RancherSim) {
    for request in sim.requests() {
        if request.method == "GET" {
            continue;
        }
        let project = request.header("X-API-Project-Id").unwrap_or("");
        assert!(
            !project.is_empty()
                && request
                    .path_and_query
                    .contains(&format!("/projects/{project}/")),
            "an unscoped write: {} {}",
            request.method,
            request.path_and_query
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn all_serves_every_writable_environment_and_skips_the_rest() {
    let sim = rancher().await;
    let result = run(&env_for(&sim, USER_KEY, "all"), &["--once"]).await;
    let output = result.output();
    // Skipped environments listed under `all` do not fail the run.
    assert_eq!(result.status.code(), Some(0), "{output}");
    assert!(written(&sim, "1a5") && written(&sim, "1a9"), "{output}");
    for untouched in ["1a11", "1a12", "1a13"] {
        assert!(
            !written(&sim, untouched),
            "{untouched} was written: {output}"
        );
    }
    assert!(
        output.contains("not updatable") || output.contains("may not write"),
        "{output}"
    );
    assert!(output.contains("inactive"), "{output}");
    every_write_is_scoped(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn named_environments_by_name_or_id_and_missing_ones_fail_the_run() {
    let sim = rancher().await;
    let result = run(&env_for(&sim, USER_KEY, "Default,1a9,nowhere"), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert!(written(&sim, "1a5") && written(&sim, "1a9"), "{output}");
    assert!(
        output.contains("no environment has the name or id \"nowhere\""),
        "{output}"
    );
    every_write_is_scoped(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_name_is_ambiguous_and_the_id_resolves_it() {
    let sim = rancher().await;
    sim.add_project_with("1a14", "Default", "cattle", "active");
    sim.add_member("1a14", USER, Role::Member);
    let result = run(&env_for(&sim, USER_KEY, "Default"), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert!(
        output.contains("2 environments are named \"Default\" (1a14, 1a5)")
            || output.contains("2 environments are named \"Default\" (1a5, 1a14)"),
        "{output}"
    );
    assert!(!written(&sim, "1a5"));
    let result = run(&env_for(&sim, USER_KEY, "1a5"), &["--once"]).await;
    assert_eq!(result.status.code(), Some(0), "{}", result.output());
    assert!(written(&sim, "1a5"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_readonly_environment_named_explicitly_fails_the_run() {
    let sim = rancher().await;
    let result = run(&env_for(&sim, USER_KEY, "win,Default"), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert!(written(&sim, "1a5"), "{output}");
    assert!(!written(&sim, "1a11"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_key_reaches_every_environment_with_all() {
    let sim = rancher().await;
    let result = run(&env_for(&sim, ADMIN_KEY, "all"), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    for project in ["1a5", "1a9", "1a11", "1a13"] {
        assert!(written(&sim, project), "{project}: {output}");
    }
    assert!(!written(&sim, "1a12"), "the inactive one: {output}");
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path_and_query.contains("/projects?") && r.path_and_query.contains("all=true")));
    every_write_is_scoped(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_environment_url_with_rancher_environments_is_a_configuration_error() {
    let sim = rancher().await;
    let mut env = env_for(&sim, USER_KEY, "all");
    set(
        &mut env,
        "CATTLE_URL",
        &format!("{}/v2-beta/projects/1a5", sim.url()),
    );
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(2), "{output}");
    assert!(
        output.contains("CATTLE_URL") && output.contains("RANCHER_ENVIRONMENTS"),
        "{output}"
    );
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_environment_does_not_stop_the_others() {
    let sim = rancher().await;
    sim.fail_matching("GET", "/projects/1a9/registries", 100, 500);
    let result = run(&env_for(&sim, USER_KEY, "Default,k8s"), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert!(written(&sim, "1a5"), "{output}");
    assert!(!written(&sim, "1a9"), "{output}");
}

/// The daemon: /healthz has one entry per environment, new environments
/// are picked up by the next cycle, and a skipped one is logged once.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_lists_environments_and_new_ones_are_picked_up() {
    let sim = rancher().await;
    let mut env = env_for(&sim, USER_KEY, "all");
    set(&mut env, "REFRESH_INTERVAL", "1s");
    let mut daemon = spawn(&env, &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("next refresh in").await;
    assert!(written(&sim, "1a5") && written(&sim, "1a9"));

    let (_, body) = healthz(&address).await;
    let environments = body["environments"].as_array().expect("a list");
    let by_id = |id: &str| {
        environments
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing: {body}"))
    };
    assert_eq!(by_id("1a5")["state"], "fresh", "{body}");
    assert_eq!(by_id("1a5")["name"], "Default");
    assert_eq!(by_id("1a9")["orchestration"], "kubernetes");
    assert_eq!(by_id("1a11")["state"], "skipped", "{body}");
    assert_eq!(by_id("1a12")["state"], "skipped", "{body}");
    assert!(by_id("1a12")["reason"]
        .as_str()
        .unwrap()
        .contains("inactive"));
    assert_eq!(body["status"], "ok", "{body}");

    sim.add_project_with("1a15", "later", "cattle", "active");
    sim.add_member("1a15", USER, Role::Member);
    let registry = sim.add_registry("1a15", ECR_HOST, "active");
    sim.add_credential("1a15", &registry, "AWS", "stale", "active");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !written(&sim, "1a15") {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon
        .wait_for("two more cycles", |d| {
            d.output().matches("next refresh in").count() >= 4
        })
        .await;
    let output = daemon.output();
    assert_eq!(
        output
            .matches("environment skipped: the environment is inactive")
            .count(),
        1,
        "logged once, not every cycle: {output}"
    );
    let metrics = support::listener_get(&address, "/metrics").await.1;
    assert!(
        metrics.contains("rancher_ecr_credentials_environments{state=\"skipped\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("environment=\"1a15\""), "{metrics}");
    let (status, _) = daemon.terminate().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_is_red_while_a_named_environment_is_missing() {
    let sim = rancher().await;
    let mut daemon = spawn(&env_for(&sim, USER_KEY, "Default,nowhere"), &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("next refresh in").await;
    let (status, body) = healthz(&address).await;
    assert_eq!(status, 503);
    let nowhere = body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "nowhere")
        .cloned()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(nowhere["state"], "skipped");
    daemon.terminate().await;
}

/// AWS failing from the start: nothing was ever written, so /healthz is
/// red, and each environment to serve says why (the skipped ones, merely
/// listed under `all`, do not make it green).
#[tokio::test(flavor = "multi_thread")]
async fn healthz_is_red_with_all_while_aws_fails_from_the_start() {
    use support::aws_front::{aws_error, AwsFront, Script};
    let front = AwsFront::start(Script::Reply {
        operation: "GetAuthorizationToken",
        status: 400,
        body: aws_error("AccessDeniedException", "denied from the start"),
    })
    .await;
    let sim = rancher().await;
    let mut env = env_for(&sim, USER_KEY, "all");
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    let mut daemon = spawn(&env, &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("denied from the start").await;
    let (status, body) = healthz(&address).await;
    assert_eq!(status, 503, "{body}");
    let default = environment(&body, "1a5");
    assert_eq!(default["state"], "failed", "{body}");
    assert!(
        default["reason"]
            .as_str()
            .unwrap_or("")
            .contains("denied from the start"),
        "{body}"
    );
    daemon.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_each_environment() {
    let sim = rancher().await;
    let result = run(&env_for(&sim, USER_KEY, "Default,win"), &["--check"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert!(
        output.contains("ok   environment 1a5 (Default, cattle)"),
        "{output}"
    );
    assert!(
        output.contains("FAIL environment 1a11 (win, windows)"),
        "{output}"
    );
    // --check writes nothing.
    assert!(!written(&sim, "1a5"));
}

/// Without RANCHER_ENVIRONMENTS an account key writes nothing, and says
/// what to set, in every mode.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_key_without_rancher_environments_writes_nothing() {
    let sim = rancher().await;
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "CATTLE_ACCESS_KEY", USER_KEY);
    for mode in ["--once", "--check"] {
        let result = run(&env, &[mode]).await;
        let output = result.output();
        assert_eq!(result.status.code(), Some(1), "{mode}: {output}");
        assert!(output.contains("account of kind user"), "{mode}: {output}");
        assert!(output.contains("RANCHER_ENVIRONMENTS"), "{mode}: {output}");
    }
    let mut daemon = spawn(&env, &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("retrying in").await;
    assert_eq!(healthz(&address).await.0, 503);
    assert!(daemon.is_running());
    daemon.terminate().await;
    assert!(sim.requests().iter().all(|r| r.method == "GET"));
    assert!(!written(&sim, "1a5"));
}

/// GET /healthz: the status code and the body.
async fn healthz(address: &str) -> (u16, serde_json::Value) {
    let (status, body) = support::listener_get(address, "/healthz").await;
    (status, serde_json::from_str(&body).expect("JSON"))
}

/// The /healthz entry of environment `id`, null while it has none.
fn environment<'a>(body: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    static NONE: serde_json::Value = serde_json::Value::Null;
    let environments = body["environments"].as_array();
    let found = environments.and_then(|list| list.iter().find(|e| e["id"] == id));
    found.unwrap_or(&NONE)
}

/// Polls /healthz until `done` holds for its body; panics with the
/// daemon's output after 60 s.
async fn healthz_until(
    daemon: &support::daemon::Running,
    address: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> (u16, serde_json::Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = healthz(address).await;
        if done(&body) {
            return (status, body);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {body}\n{}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An environment whose Rancher answers slowly does not hold the others
/// back: cycles do not wait for it, it is reported late (never restarted
/// while busy), the others are written every cycle, and what it did is
/// reported once it is done.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_environment_is_late_and_the_others_are_refreshed_on_time() {
    const SLOW: &str = "1a15";
    let sim = rancher().await;
    sim.add_project_with(SLOW, "slow", "cattle", "active");
    sim.add_member(SLOW, USER, Role::Member);
    let registry = sim.add_registry(SLOW, ECR_HOST, "active");
    sim.add_credential(SLOW, &registry, "AWS", "stale", "active");
    // Its reconciliation is four requests (schemas, registries, credentials,
    // PUT), so it takes 16 s; a cycle waits for its environments at most
    // REFRESH_INTERVAL, 2 s.
    sim.set_project_latency(SLOW, Duration::from_secs(4));
    let mut env = env_for(&sim, USER_KEY, "Default,k8s,slow");
    set(&mut env, "REFRESH_INTERVAL", "2s");
    let mut daemon = spawn(&env, &[]);
    let address = daemon.health_address().await;

    // The others are written and fresh while the slow one is still busy.
    let (status, body) = healthz_until(&daemon, &address, "1a5 and 1a9 fresh", |body| {
        ["1a5", "1a9"]
            .iter()
            .all(|id| environment(body, id)["state"] == "fresh")
    })
    .await;
    daemon
        .wait_for("three cycles", |d| {
            d.output().matches("next refresh in").count() >= 3
        })
        .await;
    let metrics = support::listener_get(&address, "/metrics").await.1;
    let output = daemon.output();
    assert!(
        !written(&sim, SLOW),
        "the slow one was written before the others were fresh: cycles waited for it: {body}"
    );
    assert!(written(&sim, "1a5") && written(&sim, "1a9"), "{output}");
    assert_eq!(status, 503, "a named environment never written: {body}");
    let slow = environment(&body, SLOW);
    assert_eq!(slow["state"], "stale", "{body}");
    assert_eq!(slow["reason"], "still busy from an earlier cycle", "{body}");
    assert!(
        metrics.contains("rancher_ecr_credentials_environments{state=\"late\"} 1")
            && metrics.contains("rancher_ecr_credentials_environments{state=\"served\"} 2"),
        "{metrics}"
    );
    assert_eq!(
        output
            .matches("environment late: still busy from an earlier cycle, not waited for")
            .count(),
        1,
        "late in every cycle so far, logged once: {output}"
    );

    // It is written in the end, by the one reconciliation started in the
    // first cycle: not restarted while busy, and meanwhile later cycles
    // began and wrote the others.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !written(&sim, SLOW) {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = sim.requests();
    let scoped_to = |r: &support::rancher_sim::SimRequest, id: &str| {
        r.path_and_query.contains(&format!("/projects/{id}/"))
            || r.header("X-API-Project-Id") == Some(id)
    };
    let slow: Vec<_> = requests.iter().filter(|r| scoped_to(r, SLOW)).collect();
    // One reconciliation at a time: never restarted while busy.
    let show = |r: &support::rancher_sim::SimRequest| {
        let (arrived, answered) = (r.arrived, r.answered);
        format!("{} {} ({arrived}..{answered})", r.method, r.path_and_query)
    };
    for (i, a) in slow.iter().enumerate() {
        for b in &slow[i + 1..] {
            assert!(
                !a.overlaps(b),
                "two requests to {SLOW} in flight together: {} and {}",
                show(a),
                show(b)
            );
        }
    }
    let first = slow.first().expect("requests to the slow environment");
    let put = slow
        .iter()
        .find(|r| r.method == "PUT")
        .expect("the slow environment's PUT");
    let during = |r: &&support::rancher_sim::SimRequest| {
        first.arrived < r.arrived && r.answered < put.answered
    };
    let cycles = requests
        .iter()
        .filter(|r| r.path_and_query.starts_with("/v2-beta/projects?"))
        .filter(during)
        .count();
    assert!(cycles >= 2, "{cycles} cycles began while it was busy");
    let listings = slow
        .iter()
        .filter(|r| r.method == "GET" && r.path_and_query.contains("/registries"))
        .filter(|r| r.arrived < put.answered)
        .count();
    assert_eq!(
        listings, 1,
        "one listing of {SLOW}'s registries before its PUT"
    );
    for fast in ["1a5", "1a9"] {
        let writes = requests
            .iter()
            .filter(|r| r.method == "PUT" && scoped_to(r, fast))
            .filter(during)
            .count();
        assert!(
            writes >= 2,
            "{fast} written {writes} times while {SLOW} was busy"
        );
    }

    // The first cycle after it is done reports it.
    let (status, body) = healthz_until(&daemon, &address, "the slow one fresh", |body| {
        environment(body, SLOW)["state"] == "fresh"
    })
    .await;
    assert_eq!((status, &body["status"]), (200, &"ok".into()), "{body}");
    // The next cycle starts it again: late again, still fresh, and said so.
    healthz_until(&daemon, &address, "the slow one late while fresh", |body| {
        let slow = environment(body, SLOW);
        slow["state"] == "fresh" && slow["reason"] == "still busy from an earlier cycle"
    })
    .await;
    let (status, output) = daemon.terminate().await;
    assert!(status.success(), "{output}");

    every_write_is_scoped(&sim);
}
