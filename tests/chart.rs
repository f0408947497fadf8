//! The Helm chart (charts/rancher-ecr-credentials), linted and rendered by
//! the real helm 3 (scripts/kube-tools installs it): what it deploys, the
//! RBAC it asks for, and a configuration file the daemon reads.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rancher_ecr_credentials::cli::{self, Invocation};
use rancher_ecr_credentials::config_file::ConfigFile;
use rancher_ecr_credentials::daemon::config::Config;
use serde::Deserialize;
use serde_yaml_ng::Value;
use support::kube_tools::helm_path;

const CHART: &str = "charts/rancher-ecr-credentials";
const NAMESPACE: &str = "tools";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn helm(args: &[&str]) -> Output {
    Command::new(helm_path())
        .args(args)
        .current_dir(root())
        // No user's helm settings or cache.
        .env("HELM_CONFIG_HOME", env!("CARGO_TARGET_TMPDIR"))
        .env("HELM_CACHE_HOME", env!("CARGO_TARGET_TMPDIR"))
        .env("HELM_DATA_HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("helm runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `helm template` with the test values and `extra` settings: the
/// rendered documents, or what helm said.
fn render(extra: &[&str]) -> Result<Vec<Value>, String> {
    let values = format!("{CHART}/ci/test-values.yaml");
    let mut args = vec!["template", "rel", CHART, "-n", NAMESPACE, "-f", &values];
    args.extend_from_slice(extra);
    let output = helm(&args);
    if !output.status.success() {
        return Err(text(&output));
    }
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    Ok(serde_yaml_ng::Deserializer::from_str(&stdout)
        .map(|document| Value::deserialize(document).expect("YAML"))
        .filter(|document| !document.is_null())
        .collect())
}

fn find<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    (documents.iter())
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn one<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let found = find(documents, kind);
    assert_eq!(found.len(), 1, "one {kind}: {documents:?}");
    found[0]
}

#[test]
fn the_chart_lints() {
    let values = format!("{CHART}/ci/test-values.yaml");
    let output = helm(&["lint", "--strict", CHART, "-f", &values]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("0 chart(s) failed"),
        "{}",
        text(&output)
    );
}

#[test]
fn the_chart_version_is_the_crates() {
    let chart: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join(CHART).join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn two_replicas_with_the_pod_name_as_identity() {
    let documents = render(&[]).unwrap();
    let deployment = one(&documents, "Deployment");
    assert_eq!(
        deployment["metadata"]["namespace"].as_str(),
        Some(NAMESPACE)
    );
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(2));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let image = container["image"].as_str().unwrap();
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "{image}"
    );
    let args: Vec<&str> = (container["args"].as_sequence().unwrap().iter())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        ["--config", "/etc/rancher-ecr-credentials/config.toml"]
    );
    let env = container["env"].as_sequence().unwrap();
    let pod_name = env
        .iter()
        .find(|e| e["name"].as_str() == Some("POD_NAME"))
        .unwrap();
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.name")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/ping")
    );
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let account = one(&documents, "ServiceAccount");
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str(),
        Some("arn:aws:iam::210987654321:role/ecr-pull"),
        "IRSA"
    );
}

/// `(apiGroup, resource) -> verbs` of a Role or ClusterRole.
fn rules(role: &Value) -> Vec<(String, String, Vec<String>)> {
    let strings = |v: &Value| -> Vec<String> {
        (v.as_sequence().unwrap().iter())
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut out = Vec::new();
    for rule in role["rules"].as_sequence().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                out.push((group.clone(), resource, strings(&rule["verbs"])));
            }
        }
    }
    out
}

#[test]
fn the_least_rbac_that_works() {
    let documents = render(&[]).unwrap();
    let cluster = rules(one(&documents, "ClusterRole"));
    let verbs = |list: &[&str]| list.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    assert_eq!(
        cluster,
        [
            (
                "".into(),
                "namespaces".into(),
                verbs(&["get", "list", "watch"])
            ),
            (
                "".into(),
                "secrets".into(),
                verbs(&["get", "list", "watch", "create", "update"])
            ),
            (
                "".into(),
                "serviceaccounts".into(),
                verbs(&["get", "list", "watch", "patch"])
            ),
        ]
    );
    // Leases only in the release's own namespace.
    let role = one(&documents, "Role");
    assert_eq!(role["metadata"]["namespace"].as_str(), Some(NAMESPACE));
    assert_eq!(
        rules(role),
        [(
            "coordination.k8s.io".into(),
            "leases".into(),
            verbs(&["get", "create", "update"])
        )]
    );
    // docs/kubernetes.md ("RBAC") shows the same rules.
    let docs = std::fs::read_to_string(root().join("docs/kubernetes.md")).unwrap();
    let documented: Vec<Value> = (docs.split("```yaml\n").skip(1))
        .filter_map(|block| block.split("```").next())
        .map(|block| serde_yaml_ng::from_str::<Value>(block).expect("YAML"))
        .filter(|block| matches!(block["kind"].as_str(), Some("ClusterRole" | "Role")))
        .collect();
    assert_eq!(rules(one(&documented, "ClusterRole")), cluster);
    assert_eq!(rules(one(&documented, "Role")), rules(role));
    for binding in ["ClusterRoleBinding", "RoleBinding"] {
        let subject = &one(&documents, binding)["subjects"][0];
        assert_eq!(subject["namespace"].as_str(), Some(NAMESPACE), "{binding}");
    }
}

/// The rendered configuration file, read by the daemon's own grammar.
fn rendered_config(documents: &[Value]) -> String {
    let secret = (find(documents, "Secret").into_iter())
        .find(|s| s["stringData"]["config.toml"].is_string())
        .expect("the configuration Secret");
    secret["stringData"]["config.toml"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_values_become_a_configuration_file_the_daemon_reads() {
    let documents = render(&[]).unwrap();
    let text = rendered_config(&documents);
    let file = ConfigFile::parse(Path::new("config.toml"), &text)
        .unwrap_or_else(|err| panic!("{err}\n{text}"));
    assert_eq!(file.sources.len(), 1);
    assert_eq!(file.sources[0].name, "prod");
    assert_eq!(file.sources[0].region, "eu-west-1");
    assert_eq!(
        file.sources[0].registry_ids,
        ["210987654321", "123456789012"]
    );
    assert_eq!(file.targets.len(), 1);
    assert!(file.leader_election.is_some(), "{text}");
    // The daemon decides it whole, as it would start with it.
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chart-config.toml");
    std::fs::write(&path, &text).unwrap();
    let args = [
        "rancher-ecr-credentials",
        "--config",
        path.to_str().unwrap(),
    ];
    let Ok(Invocation::Daemon(cli)) = cli::parse_from(args) else {
        panic!("the command line parses");
    };
    let config = Config::from_cli(*cli).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let election = config.leader_election.expect("[leader_election]");
    assert_eq!(election.namespace, NAMESPACE);
    assert_eq!(election.lease_duration, std::time::Duration::from_secs(15));
    assert_eq!(config.kubernetes.len(), 1);
    assert_eq!(config.kubernetes[0].settings.secret_name, "ecr-credentials");
    // A new configuration rolls the pods.
    let deployment = one(&documents, "Deployment");
    let checksum = &deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"];
    let other = render(&["--set", "sources[0].region=us-east-1"]).unwrap();
    let changed = &one(&other, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        ["checksum/config"];
    assert!(checksum.is_string() && checksum != changed);
}

#[test]
fn mistakes_are_refused_with_what_to_set() {
    let missing = render(&["--set", "sources[0].region="]).unwrap_err();
    assert!(
        missing.contains("sources: prod needs a region"),
        "{missing}"
    );
    let unguarded = render(&["--set", "leaderElection.enabled=false"]).unwrap_err();
    assert!(
        unguarded.contains("replicaCount above 1 needs leaderElection.enabled"),
        "{unguarded}"
    );
    // One replica needs no election, and gets no Lease permissions.
    let single = render(&[
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "replicaCount=1",
    ])
    .unwrap();
    assert!(find(&single, "Role").is_empty());
    assert!(!rendered_config(&single).contains("[leader_election]"));
}
