//! Entry point: parse the configuration, start logging, run the daemon.

use std::process::ExitCode;

use clap::Parser;
use rancher_ecr_credentials::config::{Cli, Command, Config};
use rancher_ecr_credentials::{daemon, telemetry};

fn main() -> ExitCode {
    let cli = Cli::try_parse()
        .unwrap_or_else(|err| rancher_ecr_credentials::kubelet::exit_on_cli_error(err));
    if let Some(Command::KubeletCredentialProvider(args)) = cli.command {
        bypass_proxy_for_instance_metadata();
        return rancher_ecr_credentials::kubelet::main(args);
    }
    if cli.health_probe {
        return match rancher_ecr_credentials::health::probe(&cli.listen_address, &cli.listen_port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("rancher-ecr-credentials: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(err) => return config_error(err),
    };
    if let Err(err) = telemetry::init(&config.log_level, config.log_format) {
        return config_error(err);
    }
    bypass_proxy_for_instance_metadata();
    // One thread is plenty for a daemon that sleeps for hours, and keeps
    // the footprint small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("rancher-ecr-credentials: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(daemon::run(config));
    // Do not wait for blocking tasks (a DNS lookup in flight) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

/// The EC2 metadata service and the ECS/EKS credential endpoint are
/// link-local: never send those requests to an HTTP(S)_PROXY (both HTTP
/// clients read NO_PROXY). Done before any thread exists.
fn bypass_proxy_for_instance_metadata() {
    const LINK_LOCAL: &str = "169.254.169.254,169.254.170.2,169.254.170.23,fd00:ec2::254";
    let proxied = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if !proxied {
        return;
    }
    for name in ["NO_PROXY", "no_proxy"] {
        let value = match std::env::var(name) {
            Ok(existing) if !existing.trim().is_empty() => format!("{existing},{LINK_LOCAL}"),
            _ => LINK_LOCAL.to_string(),
        };
        std::env::set_var(name, value);
    }
}

fn config_error(err: impl std::fmt::Display) -> ExitCode {
    eprintln!("rancher-ecr-credentials: configuration error: {err}");
    ExitCode::from(daemon::EXIT_CONFIG)
}
