//! Tests of the settings decided from the command line.

use clap::Parser;

use super::*;
use crate::daemon::rancher::Selection;

fn cli(args: &[&str]) -> Cli {
    let mut argv = vec![
        "rancher-ecr-credentials",
        "--cattle-url",
        "http://rancher:8080/v1/",
        "--cattle-access-key",
        "ACCESS",
        "--cattle-secret-key",
        "SECRETVALUE",
    ];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).unwrap()
}

fn error_of(args: &[&str]) -> String {
    Config::from_cli(cli(args)).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let config = Config::from_cli(cli(&[])).unwrap();
    assert_eq!(
        config.rancher().unwrap().url.as_str(),
        "http://rancher:8080/v1"
    );
    assert_eq!(config.refresh_interval, Duration::from_secs(6 * 3600));
    assert!(!config.targets[0].auto_create);
    assert!(config.sources[0].aws.registry_ids.is_empty());
    assert_eq!(config.listen.port(), 8080);
    assert!(!format!("{config:?}").contains("SECRETVALUE"));
    assert_eq!(config.mode, Mode::Daemon);
    assert_eq!(config.log_format, LogFormat::Text);
}

#[test]
fn modes_exclude_each_other() {
    assert_eq!(
        Config::from_cli(cli(&["--check"])).unwrap().mode,
        Mode::Check
    );
    assert_eq!(
        Config::from_cli(cli(&["--dry-run"])).unwrap().mode,
        Mode::DryRun
    );
    let argv = ["x", "--once", "--check"];
    assert!(Cli::try_parse_from(argv).is_err());
    assert!(error_of(&["--log-format", "xml"]).contains("LOG_FORMAT"));
    assert!(error_of(&["--ca-file", "/nonexistent.pem"]).contains("CA_FILE"));
    assert!(error_of(&["--ssl-cert-file", "/nonexistent.pem"]).contains("SSL_CERT_FILE"));
    assert!(error_of(&["--ca-file", "/etc/hostname"]).contains("no PEM certificate"));
    assert!(error_of(&["--ca-file", "/dev/zero"]).contains("not a regular file"));
}

#[test]
fn go_booleans() {
    for yes in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(parse_go_bool(yes), Some(true), "{yes}");
    }
    for no in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(parse_go_bool(no), Some(false), "{no}");
    }
    assert_eq!(parse_go_bool("yes"), None);
    assert!(Config::from_cli(cli(&["--auto-create"])).unwrap().targets[0].auto_create);
    assert!(error_of(&["--auto-create=maybe"]).contains("AUTO_CREATE"));
}

#[test]
fn registry_ids_are_validated() {
    let config =
        Config::from_cli(cli(&["--registry-ids", " 123456789012, 210987654321,"])).unwrap();
    assert_eq!(
        config.sources[0].aws.registry_ids,
        ["123456789012", "210987654321"]
    );
    let err = error_of(&["--registry-ids", "123456789012,12345"]);
    assert!(
        err.contains("AWS_ECR_REGISTRY_IDS") && err.contains("\"12345\""),
        "{err}"
    );
}

#[test]
fn cattle_url_is_checked_without_echoing_secrets() {
    let mut c = cli(&[]);
    c.cattle_url = Some("http://key:topsecret@rancher:8080/v1".into());
    let err = Config::from_cli(c).unwrap_err().to_string();
    assert!(
        err.contains("CATTLE_URL") && !err.contains("topsecret"),
        "{err}"
    );

    let mut c = cli(&[]);
    c.cattle_url = Some("rancher:8080".into());
    assert!(Config::from_cli(c)
        .unwrap_err()
        .to_string()
        .contains("CATTLE_URL"));

    let mut c = cli(&[]);
    c.cattle_url = None;
    assert!(matches!(
        Config::from_cli(c),
        Err(ConfigError::Missing { setting, .. }) if setting.contains("CATTLE_URL")
    ));
}

#[test]
fn role_arn_and_durations() {
    let config = Config::from_cli(cli(&[
        "--role-arn",
        "arn:aws:iam::111122223333:role/ecr-pull",
    ]))
    .unwrap();
    assert_eq!(
        config.sources[0].aws.role.as_ref().unwrap().session_name,
        "rancher-ecr-credentials"
    );
    assert!(error_of(&["--role-arn", "ecr-pull"]).contains("AWS_ROLE_ARN"));
    assert!(error_of(&["--refresh-interval", "13h"]).contains("REFRESH_INTERVAL"));
    assert!(error_of(&["--refresh-interval", "soon"]).contains("REFRESH_INTERVAL"));
    assert!(error_of(&["--listen-port", "99999"]).contains("LISTEN_PORT"));
    assert!(error_of(&["--retry-max-delay", "2h"]).contains("RETRY_MAX_DELAY"));
    assert!(error_of(&["--retry-min-delay", "10m"]).contains("RETRY_MIN_DELAY"));
    assert!(error_of(&["--proxy-host", "a/b"]).contains("ECR_PROXY_HOST"));
}

#[test]
fn rancher_environments() {
    let config = Config::from_cli(cli(&["--rancher-environments", "all"])).unwrap();
    assert_eq!(config.rancher().unwrap().environments, Some(Selection::All));
    let config =
        Config::from_cli(cli(&["--rancher-environments", " Default, 1a9 ,prod,"])).unwrap();
    assert_eq!(
        config.rancher().unwrap().environments,
        Some(Selection::Named(vec![
            "Default".into(),
            "1a9".into(),
            "prod".into()
        ]))
    );
    assert!(Config::from_cli(cli(&[]))
        .unwrap()
        .rancher()
        .unwrap()
        .environments
        .is_none());
    let err = error_of(&["--rancher-environments", ","]);
    assert!(err.contains("RANCHER_ENVIRONMENTS"), "{err}");
    let mut c = cli(&["--rancher-environments", "all"]);
    c.cattle_url = Some("http://rancher:8080/v2-beta/projects/1a5".into());
    let err = Config::from_cli(c).unwrap_err().to_string();
    assert!(
        err.contains("CATTLE_URL") && err.contains("RANCHER_ENVIRONMENTS"),
        "{err}"
    );
}

#[test]
fn every_duration_has_a_floor_and_a_ceiling() {
    for (flag, too_short, too_long) in [
        ("--refresh-interval", "1ms", "13h"),
        ("--retry-min-delay", "1ms", "11m"),
        ("--retry-max-delay", "1ms", "2h"),
        ("--rancher-timeout", "10ms", "11m"),
    ] {
        for value in [too_short, too_long] {
            let err = error_of(&[flag, value]);
            let setting = flag
                .trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase();
            assert!(err.contains(&setting), "{flag} {value}: {err}");
        }
    }
    assert!(error_of(&["--refresh-interval", "1ms"]).contains("shorter than 1s"));
    let config = Config::from_cli(cli(&[
        "--refresh-interval",
        "1s",
        "--rancher-timeout",
        "1s",
    ]));
    assert!(config.is_ok());
}

fn file_cli(text: &str, args: &[&str]) -> Result<Config, ConfigError> {
    let dir = std::env::temp_dir().join(format!("daemon-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(text, args), &mut hasher);
    let path = dir.join(format!("{:x}.toml", std::hash::Hasher::finish(&hasher)));
    std::fs::write(&path, text).unwrap();
    let mut argv = vec![
        "rancher-ecr-credentials",
        "--config",
        path.to_str().unwrap(),
    ];
    argv.extend_from_slice(args);
    let mut parsed = Cli::try_parse_from(argv).unwrap();
    parsed.cattle_url = Some("http://rancher:8080/v2-beta".into());
    parsed.cattle_access_key = Some("ACCESS".into());
    parsed.cattle_secret_key = Some(crate::secret::Secret::new("SECRETVALUE"));
    Config::from_cli(parsed)
}

#[test]
fn a_role_is_not_silently_ignored_with_a_file() {
    let text = "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n[[target]]\n";
    let err = file_cli(text, &["--role-arn", "arn:aws:iam::111122223333:role/x"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("AWS_ROLE_ARN") && err.contains("role_arn"),
        "{err}"
    );
    // With a web identity token file it is the SDK's (IRSA), not ours.
    let irsa = [
        "--role-arn",
        "arn:aws:iam::111122223333:role/x",
        "--web-identity-token-file",
        "/var/run/secrets/token",
    ];
    assert!(file_cli(text, &irsa).is_ok());
}

#[test]
fn targets_serving_the_same_environment_are_refused() {
    let sources = "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n\
                   [[source]]\nname = \"b\"\nregion = \"eu-west-1\"\n";
    let overlapping = [
        "[[target]]\nenvironments = \"all\"\nsources = [\"a\"]\n\
         [[target]]\nenvironments = [\"prod\"]\nsources = [\"b\"]\n",
        "[[target]]\nenvironments = [\"dev\", \"prod\"]\n\
         [[target]]\nenvironments = [\"prod\"]\n",
        "[[target]]\n[[target]]\n",
    ];
    for targets in overlapping {
        let err = file_cli(&format!("{sources}{targets}"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at line 7") && err.contains("both serve"),
            "{err}"
        );
    }
    let apart = "[[target]]\nenvironments = [\"dev\"]\n[[target]]\nenvironments = [\"prod\"]\n";
    assert!(file_cli(&format!("{sources}{apart}"), &[]).is_ok());
}

#[test]
fn a_proxy_host_with_user_information_is_not_echoed() {
    let err = error_of(&["--proxy-host", "user:Pr0xyS3cret@proxy.example.com"]);
    assert!(
        err.contains("ECR_PROXY_HOST") && !err.contains("Pr0xyS3cret"),
        "{err}"
    );
}

#[test]
fn kubernetes_targets_and_leader_election_are_served() {
    let head = "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n[[target]]\n";
    let refused = |tail: &str| {
        file_cli(&format!("{head}{tail}"), &[])
            .unwrap_err()
            .to_string()
    };
    let both = file_cli(
        &format!("{head}[[target]]\nkind = \"kubernetes\"\nname = \"prod\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(both.targets.len(), 1);
    assert_eq!(both.kubernetes.len(), 1);
    assert_eq!(both.kubernetes[0].settings.name.as_deref(), Some("prod"));
    assert_eq!(both.kubernetes[0].sources, [0]);
    let only =
        "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n[[target]]\nkind = \"kubernetes\"\n";
    let only = file_cli(only, &[]).unwrap();
    assert!(only.targets.is_empty() && only.rancher().is_none());
    assert_eq!(only.kubernetes.len(), 1);
    // A mistake in it is named.
    let err = refused("[[target]]\nkind = \"kubernetes\"\nnamespaces = [\"Prod\"]\n");
    assert!(err.contains(".toml:7: target.namespaces: "), "{err}");
    assert!(
        err.starts_with("CONFIG_FILE (--config) is invalid: "),
        "{err}"
    );
    let elected = file_cli(
        &format!("{head}\n[leader_election]\nnamespace = \"ecr\"\n"),
        &[],
    )
    .unwrap();
    let election = elected.leader_election.expect("[leader_election]");
    assert_eq!(election.namespace, "ecr");
    assert_eq!(election.lease_name, "rancher-ecr-credentials");
    assert!(only.leader_election.is_none());
    let err = refused("[leader_election]\nlease_duration = \"1h\"\nnamespace = \"ecr\"\n");
    assert!(
        err.contains(".toml:6: leader_election.lease_duration: 1h is longer than 10m"),
        "{err}"
    );
}
