//! The daemon's configuration: the settings it runs with, decided once from
//! the command line ([`crate::cli`]) and, with `CONFIG_FILE`, the file.
//!
//! Everything a user can get wrong is checked here, before any network call,
//! and every error names the variable (and flag) or the file key to fix.
//! Each setting's text is parsed by a function of [`parse`], which returns
//! the plain reason; this module decides how settings fit together (which
//! are required, which exclude each other) and names the setting.
//! [`environment`] describes one source and one Rancher from the environment
//! variables, [`file`] several from the configuration file, whose
//! `[[target]]` tables [`targets`] decides ([`kubernetes`] those of
//! Kubernetes, and `[leader_election]`).

mod environment;
mod file;
pub mod kubernetes;
pub mod parse;
pub mod targets;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::aws::identity::RoleError;
use crate::aws::AwsSettings;
use crate::cli::Cli;
use crate::daemon::rancher::RancherSettings;
use crate::daemon::schedule::{RetryPolicy, MAX_REFRESH_INTERVAL, MAX_RETRY_DELAY};
use crate::ecr_host::EcrHost;
use crate::image::ImageRef;
use crate::registry_host::RegistryHost;
pub use parse::parse_go_bool;
use parse::{non_empty, parse_duration};

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

impl ConfigError {
    /// A function turning a parser's reason into an error about `setting`.
    pub fn invalid(setting: &'static str) -> impl Fn(String) -> ConfigError {
        move |reason| ConfigError::Invalid { setting, reason }
    }
}

/// Everything the daemon needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where tokens come from: one source from the environment variables,
    /// or the config file's `[[source]]`s.
    pub sources: Vec<SourceSettings>,
    /// Where credentials go: one Rancher from the environment variables, or
    /// the config file's Rancher `[[target]]`s (none when it names only
    /// Kubernetes clusters).
    pub targets: Vec<TargetSettings>,
    /// The config file's `kind = "kubernetes"` targets.
    pub kubernetes: Vec<KubernetesTargetSettings>,
    /// The config file's `[leader_election]`: one replica of several writes.
    pub leader_election: Option<crate::daemon::kubernetes::LeaderElection>,
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
    pub probe_image: Option<ImageRef>,
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

/// One Kubernetes cluster, and from which sources.
#[derive(Debug, Clone)]
pub struct KubernetesTargetSettings {
    pub settings: crate::daemon::kubernetes::KubernetesSettings,
    /// Indexes into [`Config::sources`].
    pub sources: Vec<usize>,
}

impl Config {
    /// The first Rancher target's settings (the only target without a
    /// file); `None` when a file names only Kubernetes clusters.
    pub fn rancher(&self) -> Option<&RancherSettings> {
        self.targets.first().map(|t| &t.rancher)
    }

    /// Decides the settings from the command line (and its environment
    /// fallbacks).
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let (sources, targets, kubernetes, leader_election, supply, file) =
            match non_empty(cli.config.clone()) {
                None => {
                    let (sources, targets, supply) = environment::settings(&cli)?;
                    (sources, targets, Vec::new(), None, supply, None)
                }
                Some(path) => {
                    let path = PathBuf::from(path);
                    let decided = file::settings(&cli, &path)?;
                    (
                        decided.sources,
                        decided.targets,
                        decided.kubernetes,
                        decided.leader_election,
                        Supply::Discovered,
                        Some(path),
                    )
                }
            };
        let proxy_host = proxy_host(&cli, &sources[0].aws)?;
        let (refresh_interval, retry) = schedule_settings(&cli)?;
        let ca_bundle = trust_settings(&cli)?;
        Ok(Config {
            sources,
            targets,
            kubernetes,
            leader_election,
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
            probe_image: cli
                .check_image
                .as_deref()
                .map(ImageRef::parse)
                .transpose()
                .map_err(ConfigError::invalid("--check-image"))?,
        })
    }
}

/// A role's mistake, named by the variable that holds the wrong part.
fn role_error(err: RoleError) -> ConfigError {
    match err {
        RoleError::Arn(reason) => ConfigError::invalid("AWS_ROLE_ARN (--role-arn)")(reason),
        RoleError::SessionName(reason) => {
            ConfigError::invalid("AWS_ROLE_SESSION_NAME (--role-session-name)")(reason)
        }
    }
}

/// ECR_PROXY_HOST stands for one registry, so it excludes several ids.
fn proxy_host(cli: &Cli, aws: &AwsSettings) -> Result<Option<RegistryHost>, ConfigError> {
    let invalid = ConfigError::invalid("ECR_PROXY_HOST (--proxy-host)");
    let Some(host) = non_empty(cli.proxy_host.clone()) else {
        return Ok(None);
    };
    let host = RegistryHost::parse(&host).map_err(|err| invalid(err.to_string()))?;
    if aws.registry_ids.len() > 1 {
        return Err(invalid(
            "it can stand for one registry only, but AWS_ECR_REGISTRY_IDS names several".into(),
        ));
    }
    Ok(Some(host))
}

/// The bounds of every duration setting: a floor, so that no setting can
/// make the daemon hammer Rancher or AWS, and a ceiling, so that a token
/// (12 hours) is always refreshed in time.
pub const REFRESH_INTERVAL_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), MAX_REFRESH_INTERVAL);
pub const RETRY_MIN_DELAY_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_secs(600));
pub const RETRY_MAX_DELAY_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(100), MAX_RETRY_DELAY);
pub const RANCHER_TIMEOUT_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(600));
/// `[leader_election]`'s `lease_duration`: long enough for a renewal over
/// a slow API server, short enough that a replica takes over in minutes.
pub const LEASE_DURATION_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(600));

/// A duration setting within its bounds, or an error naming the setting.
fn bounded_duration(
    setting: &'static str,
    text: &str,
    bounds: (Duration, Duration),
) -> Result<Duration, ConfigError> {
    duration_within(text, bounds, " (an ECR token lives 12h)")
        .map_err(ConfigError::invalid(setting))
}

/// A duration within its bounds, or the plain reason; `why_ceiling` ends
/// the reason of one too long.
fn duration_within(
    text: &str,
    (min, max): (Duration, Duration),
    why_ceiling: &str,
) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    let say = |bound| humantime::format_duration(bound).to_string();
    if duration < min {
        return Err(format!(
            "{} is shorter than {}, the least this setting allows",
            text.trim(),
            say(min)
        ));
    }
    if duration > max {
        return Err(format!(
            "{} is longer than {}, the most this setting allows{why_ceiling}",
            text.trim(),
            say(max)
        ));
    }
    Ok(duration)
}

/// The refresh interval and the retry policy, within the bounds a 12-hour
/// token allows.
fn schedule_settings(cli: &Cli) -> Result<(Duration, RetryPolicy), ConfigError> {
    let refresh_interval = bounded_duration(
        "REFRESH_INTERVAL (--refresh-interval)",
        &cli.refresh_interval,
        REFRESH_INTERVAL_BOUNDS,
    )?;
    let retry = RetryPolicy {
        min_delay: bounded_duration(
            "RETRY_MIN_DELAY (--retry-min-delay)",
            &cli.retry_min_delay,
            RETRY_MIN_DELAY_BOUNDS,
        )?,
        max_delay: bounded_duration(
            "RETRY_MAX_DELAY (--retry-max-delay)",
            &cli.retry_max_delay,
            RETRY_MAX_DELAY_BOUNDS,
        )?,
    };
    if retry.min_delay > retry.max_delay {
        return Err(ConfigError::invalid("RETRY_MIN_DELAY (--retry-min-delay)")(
            "it is longer than RETRY_MAX_DELAY".into(),
        ));
    }
    Ok((refresh_interval, retry))
}

/// CA_FILE adds trust roots; SSL_CERT_FILE (read by the TLS stack itself)
/// replaces them. Both are checked now, as a bad one would fail every TLS
/// connection later.
fn trust_settings(cli: &Cli) -> Result<Option<Vec<u8>>, ConfigError> {
    let ca_bundle = non_empty(cli.ca_file.clone())
        .map(|path| crate::tls::read_ca_bundle(&path))
        .transpose()
        .map_err(ConfigError::invalid("CA_FILE (--ca-file)"))?;
    if let Some(path) = non_empty(cli.ssl_cert_file.clone()) {
        crate::tls::read_ca_bundle(&path).map_err(ConfigError::invalid("SSL_CERT_FILE"))?;
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
mod tests;
