//! Configuration: the settings the program runs with, decided once from the
//! low-level arguments of [`crate::cli`].
//!
//! Everything a user can get wrong is checked here, before any network call,
//! and every error names the variable (and flag) to fix. Each setting's text
//! is parsed by a function of [`parse`]; this file decides how settings fit
//! together (which are required, which exclude each other). [`file`] reads
//! the `--config` TOML file, for what environment variables cannot say.

pub mod file;
pub(crate) mod parse;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use crate::cli::Cli;
use crate::ecr_host::EcrHost;
use crate::kubelet::image::ImageRef;
use crate::rancher::Selection;
use crate::registry_host::RegistryHost;
use crate::schedule::{RetryPolicy, MAX_REFRESH_INTERVAL, MAX_RETRY_DELAY};
use crate::secret::Secret;
use file::{ConfigFile, Environments, RancherConnection, Target};
pub use parse::parse_go_bool;
use parse::{
    non_empty, parse_cattle_url, parse_duration, parse_environments, parse_flag,
    parse_registry_ids, parse_role, read_ca_bundle,
};

/// What the process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refresh until SIGTERM.
    Daemon,
    /// One cycle (`--once`).
    Once,
    /// Plan without writing (`--dry-run`).
    DryRun,
    /// Diagnose (`--check`).
    Check,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration mistake, naming the setting to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{setting} is not set: {hint}")]
    Missing {
        setting: &'static str,
        hint: &'static str,
    },
    #[error("{setting} is invalid: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

/// Everything the daemon needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where tokens come from: one source from the environment variables,
    /// or the config file's `[[source]]`s.
    pub sources: Vec<SourceSettings>,
    /// Where credentials go: one Rancher from the environment variables, or
    /// the config file's `[[target]]`s.
    pub targets: Vec<TargetSettings>,
    /// Which registries the sources serve.
    pub supply: Supply,
    /// `CONFIG_FILE`, when the sources and targets come from it.
    pub file: Option<PathBuf>,
    pub proxy_host: Option<RegistryHost>,
    pub refresh_interval: Duration,
    pub retry: RetryPolicy,
    pub log_level: String,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub mode: Mode,
    /// Extra trusted CA certificates (PEM), for both AWS and Rancher.
    pub ca_bundle: Option<Vec<u8>>,
    /// `--check-image`: an image to try pulling with the token.
    pub check_image: Option<ImageRef>,
}

/// How the registries to keep fresh are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supply {
    /// Those of AWS_ECR_REGISTRY_IDS (or the caller's own) in AWS_REGION:
    /// ECR names their hosts, one token each.
    Listed,
    /// The ECR hosts found in Rancher that a source claims (ECR_DISCOVER,
    /// the config file): one token per source and region.
    Discovered,
}

/// One AWS identity and what it serves.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub name: String,
    /// Its region (and so its partition), registry ids and role.
    pub aws: AwsSettings,
    /// Serves ECR hosts of every region, not only `aws.region`'s
    /// (ECR_DISCOVER without a config file).
    pub any_region: bool,
    pub aliases: BTreeMap<RegistryHost, EcrHost>,
}

/// One Rancher, the environments to serve there, and from which sources.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    pub rancher: RancherSettings,
    /// Indexes into [`Config::sources`].
    pub sources: Vec<usize>,
    pub auto_create: bool,
}

impl Config {
    /// The first target's Rancher settings (the only one without a file).
    pub fn rancher(&self) -> &RancherSettings {
        &self.targets[0].rancher
    }
}

#[derive(Debug, Clone)]
pub struct RancherSettings {
    pub url: Url,
    pub access_key: String,
    pub secret_key: Secret,
    pub timeout: Duration,
    /// Skip TLS verification (RANCHER_INSECURE).
    pub insecure: bool,
    /// `RANCHER_ENVIRONMENTS`: serve these environments with an account
    /// key; `None` serves the one environment CATTLE_URL and the key name.
    pub environments: Option<Selection>,
}

#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Region given explicitly; `None` defers to AWS_DEFAULT_REGION and the profile.
    pub region: Option<String>,
    pub registry_ids: Vec<String>,
    pub role: Option<RoleSettings>,
    /// A shared-files profile to take credentials from instead of the
    /// default chain (a config file source's `profile`).
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

const URL_SETTING: &str = "CATTLE_URL (--cattle-url)";

impl Config {
    /// Decides the settings from the command line (and its environment
    /// fallbacks).
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let (sources, targets, supply, file) = match non_empty(cli.config.clone()) {
            None => {
                let (sources, targets, supply) = from_environment(&cli)?;
                (sources, targets, supply, None)
            }
            Some(path) => {
                let path = PathBuf::from(path);
                let (sources, targets) = from_file(&cli, &path)?;
                (sources, targets, Supply::Discovered, Some(path))
            }
        };
        let proxy_host = proxy_host(&cli, &sources[0].aws)?;
        let (refresh_interval, retry) = schedule_settings(&cli)?;
        let ca_bundle = trust_settings(&cli)?;
        Ok(Config {
            sources,
            targets,
            supply,
            file,
            proxy_host,
            refresh_interval,
            retry,
            log_level: cli.log_level.clone(),
            log_format: log_format(&cli.log_format)?,
            listen: listen_address(&cli.listen_address, &cli.listen_port)?,
            mode: mode(&cli),
            ca_bundle,
            check_image: cli
                .check_image
                .as_deref()
                .map(ImageRef::parse)
                .transpose()
                .map_err(|reason| ConfigError::Invalid {
                    setting: "--check-image",
                    reason,
                })?,
        })
    }
}

/// Without a file: one source (AWS_REGION, AWS_ECR_REGISTRY_IDS,
/// AWS_ROLE_ARN) and one Rancher (CATTLE_URL and its key).
fn from_environment(
    cli: &Cli,
) -> Result<(Vec<SourceSettings>, Vec<TargetSettings>, Supply), ConfigError> {
    let aws = AwsSettings {
        region: non_empty(cli.aws_region.clone()),
        registry_ids: parse_registry_ids(cli.registry_ids.as_deref().unwrap_or(""))?,
        role: non_empty(cli.role_arn.clone())
            .map(|arn| {
                parse_role(
                    arn,
                    cli.role_external_id.clone(),
                    cli.role_session_name.clone(),
                )
            })
            .transpose()?,
        profile: None,
    };
    let discover = parse_flag("ECR_DISCOVER (--ecr-discover)", cli.ecr_discover.clone())?;
    let source = SourceSettings {
        name: "environment".into(),
        aws,
        any_region: discover,
        aliases: BTreeMap::new(),
    };
    let target = TargetSettings {
        rancher: rancher_settings(cli, None)?,
        sources: vec![0],
        auto_create: parse_flag("AUTO_CREATE (--auto-create)", cli.auto_create.clone())?,
    };
    let supply = if discover {
        Supply::Discovered
    } else {
        Supply::Listed
    };
    Ok((vec![source], vec![target], supply))
}

/// The settings a config file replaces, which must then not be set too:
/// the file would silently win over them, or they over the file.
fn file_conflicts(cli: &Cli) -> [(&'static str, Option<String>, &'static str); 5] {
    [
        (
            "RANCHER_ENVIRONMENTS (--rancher-environments)",
            cli.rancher_environments.clone(),
            "each [[target]]'s environments",
        ),
        (
            "AWS_ECR_REGISTRY_IDS (--registry-ids)",
            cli.registry_ids.clone(),
            "each [[source]]'s registry_ids",
        ),
        (
            "ECR_DISCOVER (--ecr-discover)",
            cli.ecr_discover.clone(),
            "the registries: with a file, the ECR hosts its sources claim",
        ),
        (
            "AUTO_CREATE (--auto-create)",
            cli.auto_create.clone(),
            "each [[target]]'s auto_create",
        ),
        (
            "ECR_PROXY_HOST (--proxy-host)",
            cli.proxy_host.clone(),
            "each [[source]]'s aliases",
        ),
    ]
}

/// With CONFIG_FILE: its sources and targets. A target without `url` and
/// keys takes CATTLE_URL and its key from the environment.
fn from_file(
    cli: &Cli,
    path: &Path,
) -> Result<(Vec<SourceSettings>, Vec<TargetSettings>), ConfigError> {
    const SETTING: &str = "CONFIG_FILE (--config)";
    for (setting, value, instead) in file_conflicts(cli) {
        if non_empty(value).is_some() {
            return Err(ConfigError::Invalid {
                setting,
                reason: format!(
                    "it cannot be set together with {SETTING} ({}), which says {instead}; \
                     unset one of them",
                    path.display()
                ),
            });
        }
    }
    let file = ConfigFile::load(path).map_err(|err| ConfigError::Invalid {
        setting: SETTING,
        reason: err.to_string(),
    })?;
    let in_file = |line: usize, reason: String| ConfigError::Invalid {
        setting: SETTING,
        reason: match line {
            0 => format!("{}: {reason}", path.display()),
            line => format!("{}:{line}: {reason}", path.display()),
        },
    };
    if file.sources.is_empty() {
        return Err(in_file(
            0,
            "it has no [[source]]: name at least one AWS identity and region".into(),
        ));
    }
    if file.targets.is_empty() {
        return Err(in_file(
            0,
            "it has no [[target]]: name at least one Rancher to write to".into(),
        ));
    }
    let sources: Vec<SourceSettings> = file
        .sources
        .iter()
        .map(|source| SourceSettings {
            name: source.name.clone(),
            aws: AwsSettings {
                region: Some(source.region.clone()),
                registry_ids: source.registry_ids.clone(),
                role: source.role.clone(),
                profile: source.profile.clone(),
            },
            any_region: false,
            aliases: source.aliases.clone(),
        })
        .collect();
    let mut targets = Vec::new();
    for target in &file.targets {
        let Target::Rancher(target) = target;
        let environments = match &target.environments {
            Environments::OfTheKey => None,
            Environments::All => Some(Selection::All),
            Environments::Named(names) => Some(Selection::Named(names.clone())),
        };
        let mut rancher = rancher_settings(cli, target.connection.as_ref())?;
        if environments.is_some() && rancher.url.path().contains("/projects/") {
            return Err(in_file(
                target.line,
                "target.environments: with environments, the url must be the server's API \
                 root (http://rancher:8080/v2-beta), not an environment endpoint \
                 (…/projects/<id>)"
                    .into(),
            ));
        }
        rancher.environments = environments;
        if let Some(first) = targets.iter().position(|t: &TargetSettings| {
            t.rancher.url == rancher.url
                && t.rancher.access_key == rancher.access_key
                && t.rancher.environments == rancher.environments
        }) {
            let Target::Rancher(first) = &file.targets[first];
            return Err(in_file(
                target.line,
                format!(
                    "this [[target]] serves the same Rancher, key and environments as the one \
                     at line {}: merge them",
                    first.line
                ),
            ));
        }
        let indexes = target
            .sources
            .iter()
            .filter_map(|name| sources.iter().position(|s| &s.name == name))
            .collect();
        targets.push(TargetSettings {
            rancher,
            sources: indexes,
            auto_create: target.auto_create,
        });
    }
    Ok((sources, targets))
}

/// CATTLE_URL and the key: all three required, unless a config file's
/// target gives them.
fn rancher_settings(
    cli: &Cli,
    connection: Option<&RancherConnection>,
) -> Result<RancherSettings, ConfigError> {
    let timeout = parse_duration("RANCHER_TIMEOUT (--rancher-timeout)", &cli.rancher_timeout)?;
    let insecure = parse_flag(
        "RANCHER_INSECURE (--rancher-insecure)",
        cli.rancher_insecure.clone(),
    )?;
    if let Some(connection) = connection {
        return Ok(RancherSettings {
            url: connection.url.clone(),
            access_key: connection.access_key.clone(),
            secret_key: connection.secret_key.clone(),
            timeout,
            insecure,
            environments: None,
        });
    }
    let url = parse_cattle_url(
        non_empty(cli.cattle_url.clone()).ok_or(ConfigError::Missing {
            setting: URL_SETTING,
            hint: "give the Rancher API endpoint, e.g. http://rancher:8080/v2-beta/projects/1a5",
        })?,
    )?;
    let access_key = non_empty(cli.cattle_access_key.clone()).ok_or(ConfigError::Missing {
        setting: "CATTLE_ACCESS_KEY (--cattle-access-key)",
        hint: "create an environment API key in Rancher (API > Keys) or run the container \
               with the io.rancher.container.create_agent=true and \
               io.rancher.container.agent.role=environment labels",
    })?;
    let secret_key = cli
        .cattle_secret_key
        .clone()
        .filter(|secret| !secret.is_empty())
        .ok_or(ConfigError::Missing {
            setting: "CATTLE_SECRET_KEY (--cattle-secret-key)",
            hint: "give the secret that belongs to CATTLE_ACCESS_KEY",
        })?;
    let environments = non_empty(cli.rancher_environments.clone())
        .map(|text| parse_environments(&text))
        .transpose()?;
    if environments.is_some() && url.path().contains("/projects/") {
        return Err(ConfigError::Invalid {
            setting: URL_SETTING,
            reason: "with RANCHER_ENVIRONMENTS (--rancher-environments) it must be the server's \
                     API root (http://rancher:8080/v2-beta), not an environment endpoint \
                     (…/projects/<id>): the environments come from RANCHER_ENVIRONMENTS"
                .into(),
        });
    }
    Ok(RancherSettings {
        url,
        access_key,
        secret_key,
        timeout,
        insecure,
        environments,
    })
}

/// ECR_PROXY_HOST stands for one registry, so it excludes several ids.
fn proxy_host(cli: &Cli, aws: &AwsSettings) -> Result<Option<RegistryHost>, ConfigError> {
    const SETTING: &str = "ECR_PROXY_HOST (--proxy-host)";
    let Some(host) = non_empty(cli.proxy_host.clone()) else {
        return Ok(None);
    };
    let host = RegistryHost::parse(&host).map_err(|err| ConfigError::Invalid {
        setting: SETTING,
        reason: err.to_string(),
    })?;
    if aws.registry_ids.len() > 1 {
        return Err(ConfigError::Invalid {
            setting: SETTING,
            reason: "it can stand for one registry only, but AWS_ECR_REGISTRY_IDS names several"
                .into(),
        });
    }
    Ok(Some(host))
}

/// The refresh interval and the retry policy, within the bounds a 12-hour
/// token allows.
fn schedule_settings(cli: &Cli) -> Result<(Duration, RetryPolicy), ConfigError> {
    let refresh_interval = parse_duration(
        "REFRESH_INTERVAL (--refresh-interval)",
        &cli.refresh_interval,
    )?;
    if refresh_interval > MAX_REFRESH_INTERVAL {
        return Err(ConfigError::Invalid {
            setting: "REFRESH_INTERVAL (--refresh-interval)",
            reason: format!(
                "{} is longer than the 12h an ECR token lives",
                cli.refresh_interval.trim()
            ),
        });
    }
    let retry = RetryPolicy {
        min_delay: parse_duration("RETRY_MIN_DELAY (--retry-min-delay)", &cli.retry_min_delay)?,
        max_delay: parse_duration("RETRY_MAX_DELAY (--retry-max-delay)", &cli.retry_max_delay)?,
    };
    if retry.max_delay > MAX_RETRY_DELAY {
        return Err(ConfigError::Invalid {
            setting: "RETRY_MAX_DELAY (--retry-max-delay)",
            reason: "it is longer than 1h; retries must come well before a token expires".into(),
        });
    }
    if retry.min_delay > retry.max_delay {
        return Err(ConfigError::Invalid {
            setting: "RETRY_MIN_DELAY (--retry-min-delay)",
            reason: "it is longer than RETRY_MAX_DELAY".into(),
        });
    }
    Ok((refresh_interval, retry))
}

/// CA_FILE adds trust roots; SSL_CERT_FILE (read by the TLS stack itself)
/// replaces them. Both are checked now, as a bad one would fail every TLS
/// connection later.
fn trust_settings(cli: &Cli) -> Result<Option<Vec<u8>>, ConfigError> {
    let ca_bundle = non_empty(cli.ca_file.clone())
        .map(|path| read_ca_bundle("CA_FILE (--ca-file)", path))
        .transpose()?;
    if let Some(path) = non_empty(cli.ssl_cert_file.clone()) {
        read_ca_bundle("SSL_CERT_FILE", path)?;
    }
    Ok(ca_bundle)
}

fn log_format(text: &str) -> Result<LogFormat, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "text" | "" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(ConfigError::Invalid {
            setting: "LOG_FORMAT (--log-format)",
            reason: format!("{other:?} is not text or json"),
        }),
    }
}

/// LISTEN_ADDRESS and LISTEN_PORT. `--health-probe` reads them too.
pub fn listen_address(address: &str, port: &str) -> Result<SocketAddr, ConfigError> {
    let ip: IpAddr = address.trim().parse().map_err(|_| ConfigError::Invalid {
        setting: "LISTEN_ADDRESS (--listen-address)",
        reason: format!("{address:?} is not an IP address"),
    })?;
    let port: u16 = port.trim().parse().map_err(|_| ConfigError::Invalid {
        setting: "LISTEN_PORT (--listen-port)",
        reason: format!("{port:?} is not a port number (0-65535)"),
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// The flags exclude each other (clap enforces it).
fn mode(cli: &Cli) -> Mode {
    if cli.once {
        Mode::Once
    } else if cli.dry_run {
        Mode::DryRun
    } else if cli.check {
        Mode::Check
    } else {
        Mode::Daemon
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
        assert_eq!(config.rancher().url.as_str(), "http://rancher:8080/v1");
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
        assert_eq!(config.rancher().environments, Some(Selection::All));
        let config =
            Config::from_cli(cli(&["--rancher-environments", " Default, 1a9 ,prod,"])).unwrap();
        assert_eq!(
            config.rancher().environments,
            Some(Selection::Named(vec![
                "Default".into(),
                "1a9".into(),
                "prod".into()
            ]))
        );
        assert!(Config::from_cli(cli(&[]))
            .unwrap()
            .rancher()
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
}
