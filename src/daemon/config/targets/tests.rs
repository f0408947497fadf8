//! Tests of the `[[target]]` decisions, through the whole file.

use std::path::Path;

use super::*;
use crate::config_file::fixtures::full;
use crate::registry_host::RegistryHost;

/// The file and its (Rancher) targets, decided.
struct Decided {
    file: ConfigFile,
    targets: Vec<RancherTarget>,
}

fn parse(text: &str) -> Result<Decided, ConfigFileError> {
    let file = ConfigFile::parse(Path::new("/etc/recc.toml"), text)?;
    let targets = decide_targets(&file)?
        .into_iter()
        .map(|target| match target {
            FileTarget::Rancher(rancher) => rancher,
            FileTarget::Kubernetes(_) => panic!("a Rancher target"),
        })
        .collect();
    Ok(Decided { file, targets })
}

fn error(text: &str) -> ConfigFileError {
    parse(text).err().expect("an error")
}

#[test]
fn the_documented_example() {
    let decided = parse(&full("example-secret")).unwrap();
    let file = &decided.file;
    assert_eq!(file.sources.len(), 1);
    let source = &file.sources[0];
    assert_eq!(source.name, "prod-eu");
    assert_eq!(source.region, "eu-west-1");
    assert_eq!(source.registry_ids, ["210987654321"]);
    assert_eq!(source.line, 2);
    let role = source.role.as_ref().unwrap();
    assert_eq!(role.arn, "arn:aws:iam::210987654321:role/ecr-pull");
    assert_eq!(role.external_id.as_deref(), Some("ext-42"));
    let alias = RegistryHost::parse("registry.example.com").unwrap();
    let (owner, ecr) = file.alias(&alias).unwrap();
    assert_eq!(owner.name, "prod-eu");
    assert_eq!(ecr.region(), "eu-west-1");

    let target = &decided.targets[0];
    let connection = target.connection.as_ref().unwrap();
    assert_eq!(connection.url.as_str(), "http://rancher:8080/v2-beta");
    assert_eq!(connection.access_key, "ACCESSKEY");
    assert_eq!(connection.secret_key.expose(), "SecretFromFile");
    assert_eq!(
        target.environments,
        Some(Selection::Named(vec!["prod".into(), "1a9".into()]))
    );
    assert_eq!(target.sources, ["prod-eu"]);
    assert!(!target.auto_create);
    assert_eq!(target.line, 9);
    assert!(!format!("{:?}", decided.targets).contains("SecretFromFile"));
}

#[test]
fn defaults_and_the_environment_target() {
    let decided = parse(
        "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n\
         [[source]]\nname = \"b\"\nregion = \"eu-west-1\"\n\
         [[target]]\nenvironments = \"all\"\nauto_create = true\n",
    )
    .unwrap();
    let target = &decided.targets[0];
    assert!(target.connection.is_none());
    assert_eq!(target.environments, Some(Selection::All));
    assert_eq!(target.sources, ["a", "b"]);
    assert!(target.auto_create);
    assert!(
        decided.file.sources[0].role.is_none() && decided.file.sources[0].registry_ids.is_empty()
    );
    let decided = parse("[[target]]\nkind = \"rancher\"\n").unwrap();
    assert_eq!(decided.targets[0].environments, None);
    assert!(parse("").unwrap().file.sources.is_empty());
}

#[test]
fn a_missing_secret_file_is_named() {
    let err = error(
        "[[target]]\nurl = \"http://rancher:8080/v1\"\naccess_key = \"K\"\n\
         secret_key_file = \"/nonexistent/secret\"\n",
    );
    assert_eq!(
        (err.line, err.key.as_str()),
        (4, "target.secret_key_file"),
        "{err}"
    );
    assert!(err.reason.contains("/nonexistent/secret"), "{err}");
}

#[test]
fn connection_keys_go_together() {
    let err = error("[[target]]\nurl = \"http://rancher:8080/v1\"\n");
    assert_eq!(
        (err.line, err.key.as_str()),
        (1, "target.access_key"),
        "{err}"
    );
    let err = error("[[target]]\nurl = \"http://rancher:8080/v1\"\naccess_key = \"K\"\n");
    assert_eq!(err.key, "target.secret_key", "{err}");
    let err = error(
        "[[target]]\nurl = \"http://rancher:8080/v1\"\naccess_key = \"K\"\n\
         secret_key = \"S3cr3t\"\nsecret_key_file = \"/x\"\n",
    );
    assert_eq!((err.line, err.key.as_str()), (5, "target.secret_key_file"));
    let err = error(
        "[[target]]\nurl = \"http://user:S3cr3t@rancher:8080/v1\"\naccess_key = \"K\"\n\
         secret_key = \"S3cr3t\"\n",
    );
    assert_eq!((err.line, err.key.as_str()), (2, "target.url"), "{err}");
    assert!(!err.to_string().contains("S3cr3t"), "{err}");
    let decided = parse(
        "[[target]]\nurl = \"http://rancher:8080/v1/\"\naccess_key = \"K\"\n\
         secret_key = \"S3cr3t\"\n",
    )
    .unwrap();
    let target = &decided.targets[0];
    assert_eq!(
        target.connection.as_ref().unwrap().secret_key.expose(),
        "S3cr3t"
    );
}

#[test]
fn target_values_are_checked_where_they_are() {
    let target = "[[target]]\n";
    for (line, key, reason) in [
        ("kind = \"swarm\"", "target.kind", "\"swarm\" is not a kind"),
        (
            "namespaces = [\"a\"]",
            "target.namespaces",
            "kind = \"kubernetes\"",
        ),
        ("secret_name = \"a\"", "target.secret_name", "a Rancher"),
        ("environments = \"some\"", "target.environments", "\"all\""),
        ("environments = []", "target.environments", "empty"),
        ("environments = [1]", "target.environments", "\"all\""),
        (
            "sources = [\"nope\"]",
            "target.sources",
            "no source is named \"nope\"",
        ),
        (
            "auto_create = \"yes\"",
            "target.auto_create",
            "expected a boolean",
        ),
    ] {
        let err = error(&format!("{target}{line}\n"));
        assert_eq!(err.line, 2, "{line}: {err}");
        assert_eq!(err.key, key, "{line}: {err}");
        assert!(err.reason.contains(reason), "{line}: {err}");
    }
}
