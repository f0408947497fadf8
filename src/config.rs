//! Configuration: command-line flags with the predecessor's environment
//! variables as fallbacks, parsed once into typed settings.
//!
//! Everything a user can get wrong is checked here, before any network call,
//! and every error names the variable (and flag) to fix. Parsing never echoes
//! a secret back.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use reqwest::Url;

use crate::registry_host::RegistryHost;
use crate::secret::Secret;

/// Command-line interface. Each flag falls back to the environment variable
/// shown in `--help`; the variable names are those of
/// rancher/rancher-ecr-credentials, so existing catalog templates keep working.
#[derive(Parser, Clone)]
#[command(name = "rancher-ecr-credentials", version, about, long_about = None)]
pub struct Cli {
    /// Rancher API endpoint: http(s)://host:8080/v1 (set by Rancher's agent
    /// labels), /v2-beta, or an environment endpoint such as /v2-beta/projects/1a5
    #[arg(long, env = "CATTLE_URL", value_name = "URL")]
    pub cattle_url: Option<String>,

    /// Rancher API access key
    #[arg(long, env = "CATTLE_ACCESS_KEY", value_name = "KEY")]
    pub cattle_access_key: Option<String>,

    /// Rancher API secret key
    #[arg(long, env = "CATTLE_SECRET_KEY", value_name = "SECRET", hide_env_values = true,
          value_parser = parse_secret)]
    pub cattle_secret_key: Option<Secret>,

    /// AWS region of the registries (default: AWS_DEFAULT_REGION, then the
    /// region of the shared config profile)
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub aws_region: Option<String>,

    /// Comma-separated 12-digit AWS account ids whose registries to refresh
    /// (default: the caller's own registry)
    #[arg(long, env = "AWS_ECR_REGISTRY_IDS", value_name = "IDS")]
    pub registry_ids: Option<String>,

    /// IAM role to assume (through STS) before asking ECR for a token
    #[arg(long, env = "AWS_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Option<String>,

    /// External id to present when assuming AWS_ROLE_ARN
    #[arg(long, env = "AWS_ROLE_EXTERNAL_ID", value_name = "ID")]
    pub role_external_id: Option<String>,

    /// Session name used when assuming AWS_ROLE_ARN
    #[arg(long, env = "AWS_ROLE_SESSION_NAME", value_name = "NAME")]
    pub role_session_name: Option<String>,

    /// Create the Rancher registry and credential when none matches
    /// (true/false, 1/0, t/f as in Go)
    #[arg(long, env = "AUTO_CREATE", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true")]
    pub auto_create: Option<String>,

    /// Registry host to use in Rancher instead of the ECR host (for a pull
    /// proxy in front of ECR)
    #[arg(long, env = "ECR_PROXY_HOST", value_name = "HOST")]
    pub proxy_host: Option<String>,

    /// Longest time between two refreshes (a refresh also happens at half the
    /// token's remaining lifetime, whichever comes first); at most 12h
    #[arg(
        long,
        env = "REFRESH_INTERVAL",
        value_name = "DURATION",
        default_value = "6h"
    )]
    pub refresh_interval: String,

    /// First delay before retrying a failed refresh; it doubles per failure
    #[arg(
        long,
        env = "RETRY_MIN_DELAY",
        value_name = "DURATION",
        default_value = "2s"
    )]
    pub retry_min_delay: String,

    /// Longest delay between retries of a failed refresh
    #[arg(
        long,
        env = "RETRY_MAX_DELAY",
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub retry_max_delay: String,

    /// Timeout of each request to Rancher
    #[arg(
        long,
        env = "RANCHER_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub rancher_timeout: String,

    /// Log level (trace, debug, info, warn, error; logrus names accepted) or
    /// RUST_LOG-style directives
    #[arg(long, env = "LOG_LEVEL", value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// Port of the health endpoint (/ping); 0 picks a free port
    #[arg(long, env = "LISTEN_PORT", value_name = "PORT", default_value = "8080")]
    pub listen_port: String,

    /// Address the health endpoint binds to
    #[arg(
        long,
        env = "LISTEN_ADDRESS",
        value_name = "IP",
        default_value = "0.0.0.0"
    )]
    pub listen_address: String,

    /// Log format: text or json
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: String,

    /// PEM bundle of CA certificates to trust besides the system roots, for
    /// AWS and Rancher (a Rancher server with a private CA, a TLS-intercepting
    /// proxy). SSL_CERT_FILE instead replaces the system roots
    #[arg(long, env = "CA_FILE", value_name = "FILE")]
    pub ca_file: Option<String>,

    /// The OpenSSL-style system bundle override, read by the TLS stack
    /// itself; only checked here
    #[arg(long, env = "SSL_CERT_FILE", value_name = "FILE", hide = true)]
    pub ssl_cert_file: Option<String>,

    /// Do not verify Rancher's TLS certificate. Insecure: the Rancher secret
    /// key and the ECR password can be intercepted
    #[arg(long, env = "RANCHER_INSECURE", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true")]
    pub rancher_insecure: Option<String>,

    /// Run one refresh cycle and exit: 0 if every registry was brought up to
    /// date, 1 otherwise
    #[arg(long, conflicts_with_all = ["dry_run", "check"])]
    pub once: bool,

    /// Read AWS and Rancher, print which credentials would be written or
    /// created, write nothing
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,

    /// Check the configuration, the AWS identity, the ECR token and Rancher
    /// access, list the matching registries, and exit (non-zero if anything
    /// is off)
    #[arg(long)]
    pub check: bool,

    /// Ask the running daemon's /ping on LISTEN_PORT and exit 0 if it
    /// answers (a HEALTHCHECK for images without curl)
    #[arg(long, conflicts_with_all = ["once", "dry_run", "check"])]
    pub health_probe: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Modes other than the daemon's.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum Command {
    /// Answer one kubelet image credential provider request (stdin to stdout)
    KubeletCredentialProvider(crate::kubelet::Args),
}

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

fn parse_secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
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
    pub rancher: RancherSettings,
    pub aws: AwsSettings,
    pub auto_create: bool,
    pub proxy_host: Option<RegistryHost>,
    pub refresh_interval: Duration,
    pub retry: RetryPolicy,
    pub log_level: String,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub mode: Mode,
    /// Extra trusted CA certificates (PEM), for both AWS and Rancher.
    pub ca_bundle: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct RancherSettings {
    pub url: Url,
    pub access_key: String,
    pub secret_key: Secret,
    pub timeout: Duration,
    /// Skip TLS verification (RANCHER_INSECURE).
    pub insecure: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Region given explicitly; `None` defers to AWS_DEFAULT_REGION and the profile.
    pub region: Option<String>,
    pub registry_ids: Vec<String>,
    pub role: Option<RoleSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
}

/// The longest refresh interval accepted: ECR tokens live 12 hours.
pub const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// The longest retry delay accepted.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

const URL_SETTING: &str = "CATTLE_URL (--cattle-url)";

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let url = parse_cattle_url(non_empty(cli.cattle_url).ok_or(ConfigError::Missing {
            setting: URL_SETTING,
            hint: "give the Rancher API endpoint, e.g. http://rancher:8080/v2-beta/projects/1a5",
        })?)?;
        let access_key = non_empty(cli.cattle_access_key).ok_or(ConfigError::Missing {
            setting: "CATTLE_ACCESS_KEY (--cattle-access-key)",
            hint: "create an environment API key in Rancher (API > Keys) or run the container \
                   with the io.rancher.container.create_agent=true and \
                   io.rancher.container.agent.role=environment labels",
        })?;
        let secret_key = cli
            .cattle_secret_key
            .filter(|secret| !secret.is_empty())
            .ok_or(ConfigError::Missing {
                setting: "CATTLE_SECRET_KEY (--cattle-secret-key)",
                hint: "give the secret that belongs to CATTLE_ACCESS_KEY",
            })?;

        let registry_ids = parse_registry_ids(cli.registry_ids.as_deref().unwrap_or(""))?;
        let proxy_host = non_empty(cli.proxy_host)
            .map(|host| {
                RegistryHost::parse(&host).map_err(|err| ConfigError::Invalid {
                    setting: "ECR_PROXY_HOST (--proxy-host)",
                    reason: err.to_string(),
                })
            })
            .transpose()?;
        if proxy_host.is_some() && registry_ids.len() > 1 {
            return Err(ConfigError::Invalid {
                setting: "ECR_PROXY_HOST (--proxy-host)",
                reason:
                    "it can stand for one registry only, but AWS_ECR_REGISTRY_IDS names several"
                        .into(),
            });
        }

        let role = non_empty(cli.role_arn)
            .map(|arn| parse_role(arn, cli.role_external_id, cli.role_session_name))
            .transpose()?;

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
                reason: "it is longer than 1h; retries must come well before a token expires"
                    .into(),
            });
        }
        if retry.min_delay > retry.max_delay {
            return Err(ConfigError::Invalid {
                setting: "RETRY_MIN_DELAY (--retry-min-delay)",
                reason: "it is longer than RETRY_MAX_DELAY".into(),
            });
        }
        let timeout = parse_duration("RANCHER_TIMEOUT (--rancher-timeout)", &cli.rancher_timeout)?;

        let listen_ip: IpAddr =
            cli.listen_address
                .trim()
                .parse()
                .map_err(|_| ConfigError::Invalid {
                    setting: "LISTEN_ADDRESS (--listen-address)",
                    reason: format!("{:?} is not an IP address", cli.listen_address),
                })?;
        let listen_port: u16 =
            cli.listen_port
                .trim()
                .parse()
                .map_err(|_| ConfigError::Invalid {
                    setting: "LISTEN_PORT (--listen-port)",
                    reason: format!("{:?} is not a port number (0-65535)", cli.listen_port),
                })?;

        let auto_create = parse_flag("AUTO_CREATE (--auto-create)", cli.auto_create)?;
        let insecure = parse_flag(
            "RANCHER_INSECURE (--rancher-insecure)",
            cli.rancher_insecure,
        )?;
        let log_format = match cli.log_format.trim().to_ascii_lowercase().as_str() {
            "text" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::Invalid {
                    setting: "LOG_FORMAT (--log-format)",
                    reason: format!("{other:?} is not text or json"),
                })
            }
        };
        let ca_bundle = non_empty(cli.ca_file)
            .map(|path| read_ca_bundle("CA_FILE (--ca-file)", path))
            .transpose()?;
        // rustls reads SSL_CERT_FILE itself, as the whole set of roots; a
        // bad one would fail every TLS connection later, so say so now.
        if let Some(path) = non_empty(cli.ssl_cert_file) {
            read_ca_bundle("SSL_CERT_FILE", path)?;
        }
        let mode = if cli.once {
            Mode::Once
        } else if cli.dry_run {
            Mode::DryRun
        } else if cli.check {
            Mode::Check
        } else {
            Mode::Daemon
        };

        Ok(Config {
            rancher: RancherSettings {
                url,
                access_key,
                secret_key,
                timeout,
                insecure,
            },
            aws: AwsSettings {
                region: non_empty(cli.aws_region),
                registry_ids,
                role,
            },
            auto_create,
            proxy_host,
            refresh_interval,
            retry,
            log_level: cli.log_level,
            log_format,
            listen: SocketAddr::new(listen_ip, listen_port),
            mode,
            ca_bundle,
        })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn parse_flag(setting: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match non_empty(value) {
        None => Ok(false),
        Some(value) => parse_go_bool(&value).ok_or_else(|| ConfigError::Invalid {
            setting,
            reason: format!("{value:?} is not a boolean (use true or false)"),
        }),
    }
}

/// Reads and checks a PEM bundle, so a bad file stops the start, not the
/// first refresh.
pub(crate) fn read_ca_bundle(setting: &'static str, path: String) -> Result<Vec<u8>, ConfigError> {
    let pem = std::fs::read(&path).map_err(|err| ConfigError::Invalid {
        setting,
        reason: format!("cannot read {path}: {err}"),
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(pem),
        _ => Err(ConfigError::Invalid {
            setting,
            reason: format!("{path} holds no PEM certificate"),
        }),
    }
}

/// Accepts what Go's `strconv.ParseBool` accepted, as the predecessor did.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

pub(crate) fn parse_cattle_url(text: String) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        setting: URL_SETTING,
        reason,
    };
    let mut url = Url::parse(&text).map_err(|err| {
        invalid(format!(
            "{err}; expected something like http://rancher:8080/v2-beta"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme is {:?}; use http or https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL: the password would be in it.
        return Err(invalid(
            "it contains credentials; pass them as CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY instead"
                .into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{url} has a query or fragment; remove it")));
    }
    // A trailing slash means nothing to Rancher (docs/rancher-1.6-api.md §2).
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

pub(crate) fn parse_registry_ids(text: &str) -> Result<Vec<String>, ConfigError> {
    let mut ids = Vec::new();
    for id in text.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid {
                setting: "AWS_ECR_REGISTRY_IDS (--registry-ids)",
                reason: format!("{id:?} is not a 12-digit AWS account id"),
            });
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

pub(crate) fn parse_role(
    arn: String,
    external_id: Option<String>,
    session_name: Option<String>,
) -> Result<RoleSettings, ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len();
    if !valid {
        return Err(ConfigError::Invalid {
            setting: "AWS_ROLE_ARN (--role-arn)",
            reason: format!("{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"),
        });
    }
    let session_name =
        non_empty(session_name).unwrap_or_else(|| "rancher-ecr-credentials".to_string());
    let session_name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !session_name_ok {
        return Err(ConfigError::Invalid {
            setting: "AWS_ROLE_SESSION_NAME (--role-session-name)",
            reason: format!(
                "{session_name:?} must be 2-64 characters of letters, digits and +=,.@_-"
            ),
        });
    }
    Ok(RoleSettings {
        arn,
        external_id: non_empty(external_id),
        session_name,
    })
}

fn parse_duration(setting: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(text.trim()).map_err(|err| ConfigError::Invalid {
        setting,
        reason: format!("{text:?} is not a duration ({err}); write e.g. 30s, 5m or 6h"),
    })?;
    if duration.is_zero() {
        return Err(ConfigError::Invalid {
            setting,
            reason: "it must be longer than zero".into(),
        });
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(config.rancher.url.as_str(), "http://rancher:8080/v1");
        assert_eq!(config.refresh_interval, Duration::from_secs(6 * 3600));
        assert!(!config.auto_create);
        assert!(config.aws.registry_ids.is_empty());
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
        assert!(
            Config::from_cli(cli(&["--auto-create"]))
                .unwrap()
                .auto_create
        );
        assert!(error_of(&["--auto-create=maybe"]).contains("AUTO_CREATE"));
    }

    #[test]
    fn registry_ids_are_validated() {
        let config =
            Config::from_cli(cli(&["--registry-ids", " 123456789012, 210987654321,"])).unwrap();
        assert_eq!(config.aws.registry_ids, ["123456789012", "210987654321"]);
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
            config.aws.role.unwrap().session_name,
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
}
