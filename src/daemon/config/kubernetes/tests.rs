//! Tests of the Kubernetes target and `[leader_election]` decisions,
//! through the whole file: defaults, every key, every mistake at its line.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config_file::ConfigFile;
use crate::daemon::config::targets::{decide_targets, FileTarget, KubernetesTarget};

const SOURCES: &str = "[[source]]\nname = \"prod-eu\"\nregion = \"eu-west-1\"\n\
                       [[source]]\nname = \"dev\"\nregion = \"us-east-1\"\n";

const FULL: &str = r#"[[target]]
kind = "kubernetes"
name = "prod-cluster"
kubeconfig = "/etc/kube/config"
context = "prod"
namespaces = ["*"]
exclude_namespaces = ["kube-system", "kube-public", "kube-node-lease"]
namespace_selector = "team in (a,b),!legacy"
rancher_projects = ["c-m-abc12:p-xyz34"]
secret_name = "ecr-credentials"
service_accounts = ["default"]
sources = ["prod-eu"]
"#;

fn file(text: &str) -> Result<ConfigFile, ConfigFileError> {
    ConfigFile::parse(Path::new("/etc/recc.toml"), &format!("{SOURCES}{text}"))
}

fn kubernetes(text: &str) -> Result<KubernetesTarget, ConfigFileError> {
    match decide_targets(&file(text)?)?.pop() {
        Some(FileTarget::Kubernetes(target)) => Ok(target),
        other => panic!("expected a Kubernetes target, got {other:?}"),
    }
}

/// The error for `lines` in a Kubernetes target, its line counted from the
/// `[[target]]` (1).
fn error(lines: &str) -> ConfigFileError {
    let text = format!("[[target]]\nkind = \"kubernetes\"\n{lines}\n");
    let mut err = file(&text)
        .and_then(|file| decide_targets(&file))
        .expect_err(lines);
    err.line -= SOURCES.lines().count();
    err
}

#[test]
fn the_full_example() {
    let target = kubernetes(FULL).unwrap();
    assert_eq!(target.line, 7);
    assert_eq!(target.sources, ["prod-eu"]);
    let settings = &target.settings;
    assert_eq!(settings.name.as_deref(), Some("prod-cluster"));
    assert_eq!(settings.kubeconfig, Some(PathBuf::from("/etc/kube/config")));
    assert_eq!(settings.context.as_deref(), Some("prod"));
    assert_eq!(settings.secret_name, "ecr-credentials");
    assert_eq!(
        settings.service_accounts,
        ServiceAccounts::Named(vec!["default".into()])
    );
    let filter = &settings.namespaces;
    assert_eq!(filter.include.len(), 1);
    assert_eq!(filter.exclude.len(), 3);
    assert_eq!(
        filter.selector.as_ref().unwrap().to_string(),
        "team in (a,b),!legacy"
    );
    let projects = filter.projects.as_ref().unwrap();
    assert_eq!(projects[0].project, "p-xyz34");
    let labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ours = labels(&[("team", "a"), ("field.cattle.io/projectId", "p-xyz34")]);
    assert!(filter.serves("team-a", &ours));
    assert!(!filter.serves("kube-system", &ours));
}

#[test]
fn defaults() {
    let target = kubernetes("[[target]]\nkind = \"kubernetes\"\n").unwrap();
    let settings = target.settings;
    assert_eq!(target.sources, ["prod-eu", "dev"]);
    assert_eq!(settings.name, None);
    assert_eq!(settings.kubeconfig, None);
    assert_eq!(settings.context, None);
    assert_eq!(settings.namespaces, NamespaceFilter::default());
    assert_eq!(settings.secret_name, DEFAULT_SECRET_NAME);
    assert_eq!(
        settings.service_accounts,
        ServiceAccounts::Named(vec!["default".into()])
    );
    let with = |line: &str| {
        kubernetes(&format!("[[target]]\nkind = \"kubernetes\"\n{line}\n"))
            .unwrap()
            .settings
    };
    assert_eq!(
        with("service_accounts = []").service_accounts,
        ServiceAccounts::None
    );
    assert_eq!(
        with("service_accounts = [\"*\"]").service_accounts,
        ServiceAccounts::All
    );
    assert_eq!(
        with("service_accounts = [\"a\", \" b \", \"a\"]").service_accounts,
        ServiceAccounts::Named(vec!["a".into(), "b".into()])
    );
    let filter = with("exclude_namespaces = []").namespaces;
    assert!(filter.exclude.is_empty() && filter.serves("kube-system", &Default::default()));
    let filter = with("exclude_namespaces = [\"legacy-*\"]").namespaces;
    assert!(filter.serves("kube-system", &Default::default()));
    assert!(!filter.serves("legacy-1", &Default::default()));
}

/// Each line in a Kubernetes target: the error is at it, about its key.
fn assert_mistakes(cases: &[(&str, &str, &str)]) {
    for &(line, key, says) in cases {
        let err = error(line);
        assert_eq!((err.line, err.key.as_str()), (3, key), "{line}: {err}");
        assert!(err.reason.contains(says), "{line}: {err}");
    }
}

#[test]
fn mistakes_name_line_and_key() {
    assert_mistakes(&[
        (
            "name = \"prod cluster\"",
            "target.name",
            "not a target name",
        ),
        ("name = \"\"", "target.name", "empty"),
        ("kubeconfig = \" \"", "target.kubeconfig", "empty"),
        (
            "kubeconfig = \"~/.kube/config\"",
            "target.kubeconfig",
            "whole path",
        ),
        ("context = \"a\\nb\"", "target.context", "one line"),
        (
            "namespaces = []",
            "target.namespaces",
            "nothing would be served",
        ),
        (
            "namespaces = [\"team-*\", \"Team\"]",
            "target.namespaces",
            "\"T\"",
        ),
        ("namespaces = [1]", "target.namespaces", "expected a string"),
        (
            "namespaces = \"*\"",
            "target.namespaces",
            "expected a sequence",
        ),
        (
            "exclude_namespaces = [\"[a\"]",
            "target.exclude_namespaces",
            "not closed",
        ),
        (
            "namespace_selector = \"\"",
            "target.namespace_selector",
            "empty",
        ),
    ]);
}

#[test]
fn more_mistakes_name_line_and_key() {
    assert_mistakes(&[
        (
            "namespace_selector = \"a in b\"",
            "target.namespace_selector",
            "'('",
        ),
        (
            "namespace_selector = \"a>1\"",
            "target.namespace_selector",
            "numeric",
        ),
        (
            "rancher_projects = []",
            "target.rancher_projects",
            "nothing would be served",
        ),
        (
            "rancher_projects = [\"c-1:\"]",
            "target.rancher_projects",
            "project id is empty",
        ),
        (
            "secret_name = \"ECR\"",
            "target.secret_name",
            "DNS-1123 subdomain",
        ),
        (
            "service_accounts = [\"*\", \"default\"]",
            "target.service_accounts",
            "alone",
        ),
        (
            "service_accounts = [\"Default\"]",
            "target.service_accounts",
            "DNS-1123",
        ),
        (
            "sources = [\"nope\"]",
            "target.sources",
            "no source is named \"nope\"",
        ),
        (
            "url = \"http://rancher:8080/v1\"",
            "target.url",
            "for Rancher targets",
        ),
        (
            "auto_create = true",
            "target.auto_create",
            "for Rancher targets",
        ),
        ("namespace = \"a\"", "target.namespace", "unknown key"),
    ]);
    let many = vec!["\"a\""; MAX_LIST + 1].join(",");
    let err = error(&format!("namespaces = [{many}]"));
    assert!(err.reason.contains("at most 256"), "{err}");
    let err = error("namespaces = [\"SeCrEt-VaLuE\"]");
    assert!(
        !err.reason.contains("SeCrEt-VaLuE"),
        "only the character: {err}"
    );
}

#[test]
fn names_differ() {
    let named = "[[target]]\nkind = \"kubernetes\"\nname = \"a\"\n";
    let unnamed = "[[target]]\nkind = \"kubernetes\"\n";
    let text = format!("{named}{unnamed}{unnamed}{named}");
    let err = file(&text)
        .and_then(|file| decide_targets(&file))
        .unwrap_err();
    assert_eq!((err.line, err.key.as_str()), (16, "target.name"), "{err}");
    assert!(err.reason.contains("line 7"), "{err}");
}

#[test]
fn leader_election() {
    let decide = |text: &str| file(text).and_then(|file| decide_leader_election(&file));
    assert_eq!(decide("").unwrap(), None);
    let election = decide("[leader_election]\nnamespace = \"ecr\"\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        election,
        LeaderElection {
            namespace: "ecr".into(),
            lease_name: DEFAULT_LEASE_NAME.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            kubeconfig: None,
            context: None,
        }
    );
    let election = decide(
        "[leader_election]\nnamespace = \"ecr\"\nlease_name = \"recc\"\n\
         lease_duration = \"30s\"\nkubeconfig = \"/k\"\ncontext = \"c\"\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(election.lease_duration, Duration::from_secs(30));
    assert_eq!(election.kubeconfig, Some(PathBuf::from("/k")));
    assert_eq!(
        (election.lease_name.as_str(), election.context.as_deref()),
        ("recc", Some("c"))
    );
    for (text, line, key, says) in [
        (
            "[leader_election]\n",
            7,
            "leader_election.namespace",
            "required",
        ),
        (
            "[leader_election]\nnamespace = \"Ecr\"\n",
            8,
            "leader_election.namespace",
            "DNS-1123",
        ),
        (
            "[leader_election]\nnamespace = \"e\"\nlease_duration = \"1s\"\n",
            9,
            "leader_election.lease_duration",
            "shorter than 5s",
        ),
        (
            "[leader_election]\nnamespace = \"e\"\nlease_duration = 15\n",
            9,
            "leader_election.lease_duration",
            "expected a string",
        ),
        (
            "[leader_election]\nnamespace = \"e\"\nlease_name = \"a_b\"\n",
            9,
            "leader_election.lease_name",
            "DNS-1123",
        ),
        (
            "[leader_election]\nnamespaces = \"e\"\n",
            8,
            "leader_election.namespaces",
            "unknown key",
        ),
    ] {
        let err = decide(text).unwrap_err();
        assert_eq!((err.line, err.key.as_str()), (line, key), "{text}: {err}");
        assert!(err.reason.contains(says), "{text}: {err}");
    }
}
