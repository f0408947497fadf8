//! The Kubernetes target through the kube-apiserver simulator and moto:
//! the daemon binary run with a config file naming a kubeconfig of the
//! simulator. What is written (the Secret's exact contents, label and
//! annotation; the ServiceAccounts' entries, others' kept), what is left
//! (a foreign Secret, a namespace RBAC denies), what the watches repair
//! between refreshes without asking ECR again, and that a steady cluster
//! gets no write at all.

mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use support::aws_front::{tagged, AwsFront, Script};
use support::daemon::{base_env, moto_password, run, set, spawn, unset, Running};
use support::kube_sim::{KubeSim, Resource, TOKEN};
use support::scratch_file;

const OWN: &str = "123456789012";
const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const SECRET: &str = "ecr-credentials";
/// The longest any wait for the daemon lasts; never a measure of speed.
const WAIT: Duration = Duration::from_secs(60);

/// A config file with one source in us-east-1 and one Kubernetes target
/// of `sim` (with `extra` keys), plus `rest`.
fn config(sim: &KubeSim, extra: &str, rest: &str) -> String {
    // Named after the simulator's port: the tests run side by side.
    let port = sim.url().rsplit(':').next().unwrap_or_default().to_string();
    let kubeconfig = scratch_file(&format!("kubeconfig-{port}"), &sim.kubeconfig(TOKEN));
    scratch_file(
        &format!("kubernetes-{port}.toml"),
        &format!(
            r#"
[[source]]
name = "home"
region = "us-east-1"

[[target]]
kind = "kubernetes"
name = "sim"
kubeconfig = "{kubeconfig}"
{extra}
{rest}
"#
        ),
    )
}

/// The daemon's environment for `config`: moto behind an AwsFront, no
/// Rancher.
fn env(front: &AwsFront, config: &str) -> Vec<(String, String)> {
    let mut env = base_env("http://rancher.invalid/v2-beta");
    for rancher in ["CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY"] {
        unset(&mut env, rancher);
    }
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "CONFIG_FILE", config);
    env
}

/// The `.dockerconfigjson` of a stored Secret, decoded.
fn docker_config(secret: &Value) -> Value {
    let encoded = secret["data"][".dockerconfigjson"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn pull_secrets(sim: &KubeSim, namespace: &str, account: &str) -> Vec<String> {
    let account = sim
        .get(Resource::ServiceAccounts, namespace, account)
        .unwrap();
    account["imagePullSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| entry["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn cluster() -> KubeSim {
    let sim = KubeSim::start().await;
    for namespace in ["team-a", "team-b", "kube-system"] {
        sim.add_namespace(namespace, &[]);
    }
    sim
}

#[tokio::test(flavor = "multi_thread")]
async fn once_writes_the_secret_and_names_it_keeping_other_entries() {
    let sim = cluster().await;
    // Being deleted: skipped, and not a failure.
    sim.add_namespace("team-gone", &[]);
    sim.terminate_namespace("team-gone");
    sim.put(
        Resource::ServiceAccounts,
        json!({"metadata": {"name": "default", "namespace": "team-a"},
               "imagePullSecrets": [{"name": "someone-elses"}]}),
    );
    let front = AwsFront::start(Script::TagRegions).await;
    let path = config(&sim, "", "");
    let result = run(&env(&front, &path), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    let password = tagged(&moto_password(OWN), "us-east-1");
    for namespace in ["team-a", "team-b"] {
        let secret = sim
            .get(Resource::Secrets, namespace, SECRET)
            .unwrap_or_else(|| panic!("no Secret in {namespace}: {output}"));
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(
            secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "rancher-ecr-credentials"
        );
        assert!(
            secret["metadata"]["annotations"]["rancher-ecr-credentials/expires-at"].is_string()
        );
        let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
        assert_eq!(keys, [".dockerconfigjson"]);
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
        assert_eq!(
            docker_config(&secret),
            json!({"auths": {HOST: {"username": "AWS", "password": password, "auth": auth}}})
        );
    }
    assert!(sim.get(Resource::Secrets, "kube-system", SECRET).is_none());
    assert!(sim.get(Resource::Secrets, "team-gone", SECRET).is_none());
    assert_eq!(
        pull_secrets(&sim, "team-a", "default"),
        ["someone-elses", SECRET]
    );
    assert_eq!(pull_secrets(&sim, "team-b", "default"), [SECRET]);
    assert_eq!(front.token_calls(0).values().sum::<usize>(), 1);
    assert!(!output.contains(&password), "{output}");
    assert!(
        !output.contains(TOKEN),
        "the cluster's bearer token: {output}"
    );
    // A second run finds everything up to date: no write at all.
    sim.clear_requests();
    let again = run(&env(&front, &path), &["--once"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", again.output());
    assert_eq!(sim.write_count(), 0, "{:?}", sim.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_secret_and_a_forbidden_namespace_stay_local() {
    let sim = cluster().await;
    sim.add_namespace("team-c", &[]);
    let foreign = sim.put(
        Resource::Secrets,
        json!({"metadata": {"name": SECRET, "namespace": "team-b"},
               "type": "Opaque", "data": {"x": "eQ=="}}),
    );
    sim.deny("create", Resource::Secrets, Some("team-c"));
    let front = AwsFront::start(Script::TagRegions).await;
    let result = run(&env(&front, &config(&sim, "", "")), &["--once"]).await;
    let output = result.output();
    assert_ne!(result.status.code(), Some(0), "{output}");
    assert!(
        sim.get(Resource::Secrets, "team-a", SECRET).is_some(),
        "{output}"
    );
    assert_eq!(sim.get(Resource::Secrets, "team-b", SECRET), Some(foreign));
    assert!(sim.get(Resource::Secrets, "team-c", SECRET).is_none());
    assert!(
        output.contains("conflict") && output.contains("team-b"),
        "{output}"
    );
    assert!(
        output.contains("kubernetes_forbidden") && output.contains("team-c"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_lists_every_namespace_and_dry_run_writes_nothing() {
    let sim = cluster().await;
    let front = AwsFront::start(Script::TagRegions).await;
    let path = config(&sim, "", "");
    for mode in ["--check", "--dry-run"] {
        let result = run(&env(&front, &path), &[mode]).await;
        let output = result.output();
        assert_eq!(result.status.code(), Some(0), "{mode}: {output}");
        for namespace in ["sim/team-a", "sim/team-b"] {
            assert!(output.contains(namespace), "{mode}: {output}");
        }
        assert!(output.contains("create Secret ecr-credentials"), "{output}");
        assert!(!output.contains(&moto_password(OWN)), "{output}");
    }
    assert_eq!(sim.write_count(), 0, "{:?}", sim.requests());
}

/// Waits until `done` holds of the simulator.
async fn until(daemon: &mut Running, what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}\n{}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watches_repair_between_refreshes_without_asking_ecr() {
    let sim = cluster().await;
    let front = AwsFront::start(Script::TagRegions).await;
    let mut daemon = spawn(&env(&front, &config(&sim, "", "")), &[]);
    until(&mut daemon, "the first cycle", || {
        sim.get(Resource::Secrets, "team-b", SECRET).is_some()
    })
    .await;
    let address = daemon.health_address().await;
    let calls = front.token_calls(0).values().sum::<usize>();
    // A namespace created later gets the Secret and the entry.
    sim.add_namespace("team-late", &[]);
    until(&mut daemon, "the new namespace served", || {
        sim.get(Resource::Secrets, "team-late", SECRET).is_some()
            && sim
                .get(Resource::ServiceAccounts, "team-late", "default")
                .is_some_and(|a| a["imagePullSecrets"][0]["name"] == SECRET)
    })
    .await;
    // Our Secret deleted is put back.
    assert!(sim.remove(Resource::Secrets, "team-a", SECRET));
    until(&mut daemon, "the deleted Secret back", || {
        sim.get(Resource::Secrets, "team-a", SECRET).is_some()
    })
    .await;
    // Ours tampered with (contents and type kept, data changed): put back.
    let mut tampered = sim.get(Resource::Secrets, "team-b", SECRET).unwrap();
    tampered["data"][".dockerconfigjson"] = json!("e30=");
    sim.put(Resource::Secrets, tampered);
    until(&mut daemon, "the tampered Secret repaired", || {
        let secret = sim.get(Resource::Secrets, "team-b", SECRET).unwrap();
        docker_config(&secret)["auths"][HOST].is_object()
    })
    .await;
    // A watch answered with 410 relists; one that drops is re-established.
    sim.compact();
    sim.error_watches(410);
    assert!(sim.remove(Resource::Secrets, "team-b", SECRET));
    until(&mut daemon, "the Secret back after a 410", || {
        sim.get(Resource::Secrets, "team-b", SECRET).is_some()
    })
    .await;
    sim.drop_watches();
    sim.add_namespace("team-after-drop", &[]);
    until(
        &mut daemon,
        "a namespace served after a dropped watch",
        || {
            sim.get(Resource::Secrets, "team-after-drop", SECRET)
                .is_some()
        },
    )
    .await;
    assert_eq!(
        front.token_calls(0).values().sum::<usize>(),
        calls,
        "no ECR call for repairs"
    );
    // Steady: the watches write nothing more.
    sim.clear_requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim.write_count(), 0, "{:?}", sim.requests());
    let (code, body) = support::listener_get(&address, "/healthz").await;
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{body}");
    let states: Vec<(&str, &str)> = health["kubernetes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["namespace"].as_str().unwrap(),
                e["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, [("team-a", "fresh"), ("team-b", "fresh")]);
    let (_, metrics) = support::listener_get(&address, "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "last_success_timestamp_seconds{{host=\"{HOST}\",environment=\"sim\",namespace=\"team-a\"}}"
        )),
        "{metrics}"
    );
    daemon.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rancher_and_a_kubernetes_target_share_one_token() {
    let rancher = support::rancher_sim::RancherSim::start().await;
    support::add_environment(&rancher, "1a5");
    let registry = rancher.add_registry("1a5", HOST, "active");
    let credential = rancher.add_credential("1a5", &registry, "AWS", "stale", "active");
    let sim = cluster().await;
    let front = AwsFront::start(Script::TagRegions).await;
    let path = config(&sim, "", "[[target]]\n");
    let mut env = base_env(&format!("{}/v2-beta/projects/1a5", rancher.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "CONFIG_FILE", &path);
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    let password = tagged(&moto_password(OWN), "us-east-1");
    let written = rancher.credential(&credential).unwrap().secret_value;
    assert_eq!(written.as_deref(), Some(password.as_str()), "{output}");
    let secret = sim.get(Resource::Secrets, "team-a", SECRET).unwrap();
    assert_eq!(docker_config(&secret)["auths"][HOST]["password"], password);
    assert_eq!(front.token_calls(0).values().sum::<usize>(), 1, "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_kubeconfig_is_a_configuration_error_naming_it() {
    let kubeconfig = scratch_file(
        "malformed-kubeconfig",
        "users:\n- name: u\n  user: {token: [leaked-token-value\n",
    );
    let path = scratch_file(
        "malformed-kubeconfig.toml",
        &format!(
            "[[source]]\nname = \"home\"\nregion = \"us-east-1\"\n\n[[target]]\nkind = \"kubernetes\"\nkubeconfig = \"{kubeconfig}\"\n"
        ),
    );
    let front = AwsFront::start(Script::TagRegions).await;
    let result = run(&env(&front, &path), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(2), "{output}");
    assert!(output.contains(&kubeconfig), "{output}");
    assert!(output.contains("not a valid kubeconfig"), "{output}");
    assert!(!output.contains("leaked-token-value"), "{output}");
    assert!(front.seen().is_empty(), "nothing asked of AWS");
}
