//! The command line: every flag of every mode, with the predecessor's
//! environment variables as fallbacks, exactly as typed (strings, flags),
//! before any decision. [`parse`] gives a typed [`Invocation`] (or a
//! [`UsageError`] that knows its mode); `daemon::config` turns the daemon's
//! low-level arguments into the settings it runs with, and the kubelet mode
//! reads its own. The two steps are kept apart so each stays small.
//!
//! The variable names are those of rancher/rancher-ecr-credentials, so
//! existing catalog templates keep working.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use crate::secret::Secret;

/// The kubelet mode's subcommand, as the kubelet's `args` give it.
pub const KUBELET_SUBCOMMAND: &str = "kubelet-credential-provider";

/// Printed after the options by `--help`: where AWS credentials come from,
/// and the exit statuses.
fn after_help() -> String {
    format!(
        "AWS credentials come from the standard AWS chain, in this order: the environment \
         (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the shared files \
         (AWS_PROFILE, ~/.aws/credentials and ~/.aws/config), web identity \
         (AWS_WEB_IDENTITY_TOKEN_FILE), ECS/EKS container credentials, and the EC2 instance \
         metadata service (IMDSv2). The SDK's own settings (AWS_ENDPOINT_URL, \
         AWS_USE_FIPS_ENDPOINT, HTTPS_PROXY, NO_PROXY, ...) apply.\n\n{}",
        crate::exit::help_text()
    )
}

/// The low-level arguments. Each flag falls back to the environment variable
/// shown in `--help`.
#[derive(Parser, Clone)]
#[command(
    name = "rancher-ecr-credentials",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (",
        env!("RANCHER_ECR_CREDENTIALS_COMMIT"),
        ")"
    ),
    about,
    long_about = None,
    after_help = after_help()
)]
pub struct Cli {
    /// Required (unless every CONFIG_FILE target has its url). Rancher API
    /// endpoint: http(s)://host:8080/v1 (set by Rancher's agent labels),
    /// /v2-beta, or an environment endpoint such as /v2-beta/projects/1a5
    #[arg(long, env = "CATTLE_URL", value_name = "URL", help_heading = "Rancher")]
    pub cattle_url: Option<String>,

    /// Serve several environments with one account API key: `all`, or a
    /// comma list of environment names and/or ids (Default,prod,1a9).
    /// CATTLE_URL is then the server's API root (http://host:8080/v2-beta)
    #[arg(
        long,
        env = "RANCHER_ENVIRONMENTS",
        value_name = "LIST",
        help_heading = "Rancher"
    )]
    pub rancher_environments: Option<String>,

    /// Required (like CATTLE_URL). Rancher API access key (set by the agent
    /// labels, or an environment API key)
    #[arg(
        long,
        env = "CATTLE_ACCESS_KEY",
        value_name = "KEY",
        help_heading = "Rancher"
    )]
    pub cattle_access_key: Option<String>,

    /// Required (like CATTLE_URL). Rancher API secret key
    #[arg(long, env = "CATTLE_SECRET_KEY", value_name = "SECRET", hide_env_values = true,
          value_parser = parse_secret, help_heading = "Rancher")]
    pub cattle_secret_key: Option<Secret>,

    /// Required unless AWS_DEFAULT_REGION or the shared config profile names
    /// one. AWS region of the registries
    #[arg(long, env = "AWS_REGION", value_name = "REGION", help_heading = "AWS")]
    pub aws_region: Option<String>,

    /// Comma-separated 12-digit AWS account ids whose registries to refresh
    /// (default: the caller's own registry)
    #[arg(
        long,
        env = "AWS_ECR_REGISTRY_IDS",
        value_name = "IDS",
        help_heading = "AWS"
    )]
    pub registry_ids: Option<String>,

    /// Keep fresh every registry in Rancher whose address is an ECR host,
    /// whatever its region and account (only AWS_ECR_REGISTRY_IDS' accounts
    /// when set), with one token per region
    #[arg(long, env = "ECR_DISCOVER", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", help_heading = "AWS")]
    pub ecr_discover: Option<String>,

    /// IAM role to assume (through STS) before asking ECR for a token
    #[arg(long, env = "AWS_ROLE_ARN", value_name = "ARN", help_heading = "AWS")]
    pub role_arn: Option<String>,

    /// The SDK's web identity token file (IRSA), with which AWS_ROLE_ARN is
    /// the web identity's role; only looked at here
    #[arg(
        long,
        env = "AWS_WEB_IDENTITY_TOKEN_FILE",
        value_name = "FILE",
        hide = true
    )]
    pub web_identity_token_file: Option<String>,

    /// External id to present when assuming AWS_ROLE_ARN
    #[arg(
        long,
        env = "AWS_ROLE_EXTERNAL_ID",
        value_name = "ID",
        help_heading = "AWS"
    )]
    pub role_external_id: Option<String>,

    /// Session name used when assuming AWS_ROLE_ARN
    #[arg(
        long,
        env = "AWS_ROLE_SESSION_NAME",
        value_name = "NAME",
        help_heading = "AWS"
    )]
    pub role_session_name: Option<String>,

    /// Create the Rancher registry and credential when none matches
    /// (true/false, 1/0, t/f as in Go)
    #[arg(long, env = "AUTO_CREATE", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", help_heading = "Rancher")]
    pub auto_create: Option<String>,

    /// Registry host to use in Rancher instead of the ECR host (for a pull
    /// proxy in front of ECR)
    #[arg(
        long,
        env = "ECR_PROXY_HOST",
        value_name = "HOST",
        help_heading = "Rancher"
    )]
    pub proxy_host: Option<String>,

    /// TOML file of AWS identities ([[source]]: region, role, registry ids,
    /// aliases) and Ranchers ([[target]]: url, keys, environments), for
    /// what environment variables cannot say (see docs/environments.md)
    #[arg(long, env = "CONFIG_FILE", value_name = "FILE")]
    pub config: Option<String>,

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
          default_missing_value = "true", help_heading = "Rancher")]
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

    /// With --check: also ask the image's registry for its manifest with the
    /// token, to learn whether the AWS identity may pull it
    /// (ecr:BatchGetImage). The image's registry must be one this daemon
    /// writes (the ECR host, or ECR_PROXY_HOST)
    #[arg(long, value_name = "IMAGE", requires = "check")]
    pub check_image: Option<String>,

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
    KubeletCredentialProvider(KubeletArgs),
}

/// The kubelet mode's flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeletArgs {
    /// TOML file whose [[source]] tables give aliases (mirror or vanity hosts
    /// that stand for an ECR registry) and roles to assume
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Do not answer the kubelet: get a token for IMAGE, ask its registry for
    /// the image's manifest with it, and say whether this identity can pull it
    #[arg(long, value_name = "IMAGE")]
    pub check_image: Option<String>,

    /// PEM bundle of CA certificates to trust besides the system roots (a
    /// TLS-intercepting proxy, a mirror with a private CA)
    #[arg(long, env = "CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// What the command line asks for.
pub enum Invocation {
    /// The daemon, a one-shot mode or the health probe.
    Daemon(Box<Cli>),
    /// One kubelet credential provider request.
    Kubelet(KubeletArgs),
}

/// Flags that do not parse, and whether they were the kubelet mode's (whose
/// errors are one stderr line: the kubelet logs stderr whole).
pub struct UsageError {
    pub error: clap::Error,
    pub kubelet_mode: bool,
}

impl UsageError {
    /// `--help` and `--version` come through clap's error path too.
    pub fn is_help_or_version(&self) -> bool {
        use clap::error::ErrorKind;
        matches!(
            self.error.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        )
    }
}

/// Parses the process's arguments.
pub fn parse() -> Result<Invocation, UsageError> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the program name first).
pub fn parse_from(
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<Invocation, UsageError> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    match Cli::try_parse_from(&args) {
        Ok(mut cli) => Ok(match cli.command.take() {
            Some(Command::KubeletCredentialProvider(args)) => Invocation::Kubelet(args),
            None => Invocation::Daemon(Box::new(cli)),
        }),
        Err(error) => {
            // A lenient second pass learns which mode the bad flags were for.
            let lenient = Cli::command()
                .ignore_errors(true)
                .try_get_matches_from(&args);
            let kubelet_mode = lenient
                .ok()
                .is_some_and(|matches| matches.subcommand_name() == Some(KUBELET_SUBCOMMAND));
            Err(UsageError {
                error,
                kubelet_mode,
            })
        }
    }
}

fn parse_secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_typed() {
        let daemon = parse_from(["x", "--once"]);
        assert!(matches!(daemon, Ok(Invocation::Daemon(cli)) if cli.once));
        let kubelet = parse_from(["x", KUBELET_SUBCOMMAND, "--check-image", "a/b"]);
        assert!(matches!(kubelet, Ok(Invocation::Kubelet(args)) if args.check_image.is_some()));
        let wrong = parse_from(["x", KUBELET_SUBCOMMAND, "--nope"]).err();
        assert!(wrong.is_some_and(|wrong| wrong.kubelet_mode && !wrong.is_help_or_version()));
        let wrong = parse_from(["x", "--nope"]).err();
        assert!(wrong.is_some_and(|wrong| !wrong.kubelet_mode));
        let help = parse_from(["x", "--help"]).err();
        assert!(help.is_some_and(|help| help.is_help_or_version()));
    }
}
