//! The real kubectl 1.29 against the kube-apiserver simulator: discovery,
//! get and watch of each resource, and writes (create, apply, patch). Where
//! kubectl needs something docs/kubernetes-api.md did not state, the
//! simulator follows kubectl and the doc says so (its kubectl section).

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::{json, Value};
use support::kube_sim::{KubeSim, Resource, TOKEN};
use support::kube_tools::{run, Kubeconfig};

/// Runs kubectl with `args`; asserts success and returns its stdout.
async fn kubectl(config: &Kubeconfig, args: &[&str]) -> String {
    let mut command = config.kubectl();
    command.args(args);
    let output = run(command).await;
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn kubectl_json(config: &Kubeconfig, args: &[&str]) -> Value {
    let text = kubectl(config, args).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// team-a and team-b, with a pull Secret in team-a and a Lease in team-b.
async fn seeded(name: &str) -> (KubeSim, Kubeconfig) {
    let sim = KubeSim::start().await;
    sim.add_namespace("team-a", &[("project", "p-1")]);
    sim.add_namespace("team-b", &[]);
    sim.put(
        Resource::Secrets,
        json!({"metadata": {"name": "ecr", "namespace": "team-a"},
            "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}}),
    );
    sim.put(
        Resource::Leases,
        json!({"metadata": {"name": "leader", "namespace": "team-b"},
            "spec": {"holderIdentity": "pod-1", "leaseDurationSeconds": 15}}),
    );
    let config = Kubeconfig::new(&sim, TOKEN, name);
    (sim, config)
}

#[tokio::test]
async fn kubectl_gets_every_resource() {
    let (sim, config) = seeded("get").await;
    let table = kubectl(&config, &["get", "namespaces"]).await;
    let names: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["team-a", "team-b"], "{table}");
    let all = kubectl_json(&config, &["get", "secrets", "-A", "-o", "json"]).await;
    assert_eq!(all["items"][0]["metadata"]["name"], "ecr");
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    let one = kubectl_json(
        &config,
        &["get", "secret", "ecr", "-n", "team-a", "-o", "json"],
    )
    .await;
    assert_eq!(one["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(
        one["metadata"]["uid"],
        sim.get(Resource::Secrets, "team-a", "ecr").unwrap()["metadata"]["uid"]
    );
    let accounts = kubectl(&config, &["get", "serviceaccounts", "-n", "team-a"]).await;
    assert!(
        accounts.lines().any(|l| l.starts_with("default ")),
        "{accounts}"
    );
    let all_accounts = kubectl_json(&config, &["get", "sa", "-A", "-o", "json"]).await;
    assert_eq!(all_accounts["items"].as_array().unwrap().len(), 2);
    let leases = kubectl(&config, &["get", "leases", "-n", "team-b"]).await;
    assert!(leases.lines().any(|l| l.starts_with("leader ")), "{leases}");
    let selected = kubectl_json(&config, &["get", "ns", "-l", "project=p-1", "-o", "json"]).await;
    assert_eq!(selected["items"].as_array().unwrap().len(), 1);
    let missing = {
        let mut command = config.kubectl();
        command.args(["get", "secret", "nope", "-n", "team-a"]);
        run(command).await
    };
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("secrets \"nope\" not found"), "{stderr}");
}

#[tokio::test]
async fn kubectl_watch_sees_a_namespace_created_later() {
    let (sim, config) = seeded("watch").await;
    let mut command = config.kubectl();
    command.args(["get", "namespaces", "--watch-only", "-o", "json"]);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("a line");
            text.push_str(&line);
            text.push('\n');
            if line == "}" {
                return text; // kubectl prints one indented object per event
            }
        }
        text
    });
    // kubectl lists first, then watches from the list's resourceVersion.
    let watching = |sim: &KubeSim| {
        sim.requests()
            .iter()
            .any(|r| r.query.contains("watch=true"))
    };
    let deadline = std::time::Instant::now() + support::kube_api::WAIT;
    while !watching(&sim) {
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl never watched"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    sim.add_namespace("late", &[]);
    let text = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let object: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(object["metadata"]["name"], "late");
    let watch = sim
        .requests()
        .into_iter()
        .find(|r| r.query.contains("watch=true"))
        .unwrap();
    assert!(watch.query.contains("resourceVersion="), "{}", watch.query);
}

/// `kubectl patch sa default -n team-a --type=<kind> -p <patch>`.
async fn patch_default(config: &Kubeconfig, kind: &str, patch: &str) {
    let kind = format!("--type={kind}");
    let args = ["patch", "sa", "default", "-n", "team-a", &kind, "-p", patch];
    kubectl(config, &args).await;
}

fn pull_secrets(sim: &KubeSim, namespace: &str, name: &str) -> Value {
    let account = sim.get(Resource::ServiceAccounts, namespace, name);
    account.expect("the ServiceAccount")["imagePullSecrets"].clone()
}

#[tokio::test]
async fn kubectl_creates_a_pull_secret_and_patches_a_service_account() {
    let (sim, config) = seeded("patch").await;
    let args = [
        "create",
        "secret",
        "docker-registry",
        "pull",
        "-n",
        "team-a",
        "--docker-server=123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "--docker-username=AWS",
        "--docker-password=token",
    ];
    kubectl(&config, &args).await;
    let pull = sim
        .get(Resource::Secrets, "team-a", "pull")
        .expect("created");
    assert_eq!(pull["type"], "kubernetes.io/dockerconfigjson");
    patch_default(
        &config,
        "strategic",
        r#"{"imagePullSecrets":[{"name":"pull"}]}"#,
    )
    .await;
    let append = r#"[{"op":"add","path":"/imagePullSecrets/-","value":{"name":"ecr"}}]"#;
    patch_default(&config, "json", append).await;
    let both = json!([{"name": "pull"}, {"name": "ecr"}]);
    assert_eq!(pull_secrets(&sim, "team-a", "default"), both);
    patch_default(&config, "merge", r#"{"imagePullSecrets":[{"name":"ecr"}]}"#).await;
    assert_eq!(
        pull_secrets(&sim, "team-a", "default"),
        json!([{"name": "ecr"}])
    );
    let patches = sim.requests().into_iter().filter(|r| r.method == "PATCH");
    let kinds: Vec<String> = patches.map(|r| r.content_type).collect();
    assert_eq!(
        kinds,
        [
            "application/strategic-merge-patch+json",
            "application/json-patch+json",
            "application/merge-patch+json"
        ]
    );
}

#[tokio::test]
async fn kubectl_applies_server_side_then_client_side() {
    let (sim, config) = seeded("apply").await;
    let manifest = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "team-b"},
        "imagePullSecrets": [{"name": "ecr"}]});
    let manifest = support::scratch_file("kubectl-sa.json", &manifest.to_string());
    // No OpenAPI documents are served: kubectl's validation is off.
    let apply = ["apply", "--validate=false", "-f", &manifest];
    let server_side = ["--server-side", "--field-manager=ecr-updater"];
    kubectl(&config, &[&apply[..], &server_side].concat()).await;
    kubectl(&config, &apply).await;
    assert_eq!(
        pull_secrets(&sim, "team-b", "builder"),
        json!([{"name": "ecr"}])
    );
    let patches: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches[0].content_type, "application/apply-patch+yaml");
    assert!(
        patches[0].query.contains("fieldManager=ecr-updater"),
        "{}",
        patches[0].query
    );
    assert_eq!(
        patches[1].content_type,
        "application/strategic-merge-patch+json"
    );
    assert!(patches[1]
        .body
        .contains("kubectl.kubernetes.io/last-applied-configuration"));
}

#[tokio::test]
async fn the_installed_tools_are_kubectl_1_29_and_a_working_helm() {
    let (sim, config) = seeded("tools").await;
    let version = kubectl_json(&config, &["version", "--client", "-o", "json"]).await;
    assert_eq!(version["clientVersion"]["minor"], "29");
    // helm keeps its releases in Secrets labelled owner=helm: none here.
    let mut helm = std::process::Command::new(support::kube_tools::helm_path());
    helm.env_clear()
        .env("HOME", &config.home)
        .env("KUBECONFIG", &config.path)
        .args(["list", "-n", "team-a", "-o", "json"]);
    let output = run(helm).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "[]");
    let listed = sim
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/namespaces/team-a/secrets");
    assert!(listed.is_some_and(|r| r.query.contains("labelSelector=owner%3Dhelm")));
}
