//! Tests of the file grammar: sources decided, every mistake at its place.

use std::path::Path;

use super::fixtures::{full, secret_file};
use super::*;

fn parse(text: &str) -> Result<ConfigFile, ConfigFileError> {
    ConfigFile::parse(Path::new("/etc/recc.toml"), text)
}

fn error(text: &str) -> ConfigFileError {
    parse(text).unwrap_err()
}

#[test]
fn the_documented_sources() {
    let file = parse(&full("example-secret")).unwrap();
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
    assert_eq!(file.targets.len(), 1);
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    let err = error("[[source]]\nname = \"a\"\nregion = \"us-east-1\"\nrole = \"x\"\n");
    assert_eq!(err.line, 4, "{err}");
    assert_eq!(err.key, "source.role", "{err}");
    assert!(
        err.to_string()
            .starts_with("/etc/recc.toml:4: source.role: unknown key"),
        "{err}"
    );
    let err = error("[[target]]\nsecret-key = \"TopSecret\"\n");
    assert_eq!(
        (err.line, err.key.as_str()),
        (2, "target.secret-key"),
        "{err}"
    );
    assert!(!err.to_string().contains("TopSecret"), "{err}");
    let err = error("\n\n[[sources]]\nname = \"a\"\n");
    assert_eq!((err.line, err.key.as_str()), (3, "sources"), "{err}");
}

#[test]
fn a_source_without_region_is_named_at_its_table() {
    let err = error("# comment\n\n[[source]]\nname = \"prod\"\n\n");
    assert_eq!(err.line, 3, "{err}");
    assert_eq!(err.key, "source.region", "{err}");
    assert!(err.to_string().contains("required"), "{err}");
    let err = error("[[source]]\nregion = \"us-east-1\"\n");
    assert_eq!((err.line, err.key.as_str()), (1, "source.name"), "{err}");
    let err = error("[[source]]\nname = \"a\"\nregion = \"Ireland\"\n");
    assert_eq!((err.line, err.key.as_str()), (3, "source.region"), "{err}");
}

#[test]
fn duplicates_are_named_at_the_second() {
    let err = error(
        "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n\n\
         [[source]]\nname = \"a\"\nregion = \"eu-west-1\"\n",
    );
    assert_eq!((err.line, err.key.as_str()), (6, "source.name"), "{err}");
    assert!(err.reason.contains("line 1"), "{err}");
    let err = error(
        "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n\
         aliases = { \"m.example.com\" = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\" }\n\
         [[source]]\nname = \"b\"\nregion = \"us-east-1\"\n\
         aliases = { \"M.example.com\" = \"210987654321.dkr.ecr.us-east-1.amazonaws.com\" }\n",
    );
    assert_eq!((err.line, err.key.as_str()), (8, "source.aliases"), "{err}");
}

#[test]
fn targets_need_not_be_decided_but_must_be_well_formed() {
    // The kubelet credential provider does not need the targets.
    let text = "[[target]]\nurl = \"http://r:8080/v1\"\naccess_key = \"K\"\n\
                secret_key_file = \"/nonexistent/secret\"\n";
    assert!(ConfigFile::parse(Path::new("f"), text).is_ok());
    assert!(ConfigFile::parse(Path::new("f"), "[[target]]\nbad = 1\n").is_err());
}

#[test]
fn values_are_checked_where_they_are() {
    let source = "[[source]]\nname = \"a\"\nregion = \"eu-west-1\"\n";
    let cases = [
        ("registry_ids = [\"12345\"]", "source.registry_ids", "12-digit"),
        ("registry_ids = [\"123456789012,210987654321\"]", "source.registry_ids", "12-digit"),
        ("role_arn = \"ecr-pull\"", "source.role_arn", "not an IAM role ARN"),
        ("external_id = \"x\"", "source.external_id", "role_arn"),
        ("profile = \" \"", "source.profile", "empty"),
        (
            "aliases = { \"m.example.com\" = \"m2.example.com\" }",
            "source.aliases",
            "m2.example.com is not one",
        ),
        (
            "aliases = { \"m.example.com\" = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\" }",
            "source.aliases",
            "in us-east-1, but this source's region is eu-west-1",
        ),
        (
            "aliases = { \"123456789012.dkr.ecr.eu-west-1.amazonaws.com\" = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com\" }",
            "source.aliases",
            "itself an ECR host",
        ),
        ("aliases = { \"a b\" = \"x\" }", "source.aliases", "not a registry host"),
    ];
    for (line, key, reason) in cases {
        let err = error(&format!("{source}{line}\n"));
        assert_eq!((err.line, err.key.as_str()), (4, key), "{line}: {err}");
        assert!(err.reason.contains(reason), "{line}: {err}");
    }
}

#[test]
fn unreadable_and_broken_files() {
    let err = ConfigFile::load(Path::new("/nonexistent/recc.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/recc.toml: cannot read it"),
        "{err}"
    );
    let err = error("[[source]\nname = 1\n");
    assert_eq!(err.line, 1, "{err}");
    assert!(!err.reason.contains('\n'), "{err}");
    let path = secret_file("loaded.toml", &full("loaded-secret"));
    assert_eq!(ConfigFile::load(&path).unwrap().sources.len(), 1);
}

#[test]
fn a_value_of_the_wrong_type_is_not_echoed() {
    let err = error("[[target]]\nsecret_key = 12345678\n");
    assert_eq!(
        (err.line, err.key.as_str()),
        (2, "target.secret_key"),
        "{err}"
    );
    assert!(!err.to_string().contains("12345678"), "{err}");
    let err = error("[[source]]\nname = \"a\"\nregion = 42424242\n");
    assert!(!err.to_string().contains("42424242"), "{err}");
}

#[test]
fn kubernetes_keys_and_leader_election_are_read_with_their_places() {
    let text = "[[target]]\nkind = \"kubernetes\"\nnamespaces = [\"team-*\", \"prod\"]\n\
                service_accounts = []\n[leader_election]\nnamespace = \"ecr\"\n";
    let file = parse(text).unwrap();
    let target = file.targets[0].get_ref();
    let namespaces = target.namespaces.as_ref().unwrap();
    assert_eq!(file.positions.line(namespaces.get_ref()[1].span().start), 3);
    assert_eq!(
        target
            .kubernetes_keys()
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>(),
        ["namespaces", "service_accounts"]
    );
    assert!(target.rancher_keys().is_empty());
    let election = file.leader_election.as_ref().unwrap();
    assert_eq!(file.positions.line(election.span().start), 5);
    for (text, line, key, says) in [
        (
            "[leader_election]\nnamespace = \"e\"\nlease = \"1s\"\n",
            3,
            "leader_election.lease",
            "unknown key",
        ),
        (
            "[[target]]\nnamespace_selector = [\"a\"]\n",
            2,
            "target.namespace_selector",
            "expected a string",
        ),
        (
            "[[target]]\nnamespaces = \"SeCrEt\"\n",
            2,
            "target.namespaces",
            "invalid type",
        ),
        (
            "[leader_election]\nnamespace = \"a\"\n[leader_election]\n",
            3,
            "",
            "duplicate",
        ),
    ] {
        let err = error(text);
        assert_eq!((err.line, err.key.as_str()), (line, key), "{text}: {err}");
        assert!(
            err.reason.contains(says) && !err.reason.contains("SeCrEt"),
            "{text}: {err}"
        );
    }
}
