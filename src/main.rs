//! Entry point: parse the command line, decide the settings, start logging
//! and run. One path out for errors: everything returns `Result`, and only
//! here is an error printed (once) and turned into an exit status.

use std::process::ExitCode;

use rancher_ecr_credentials::cli::{self, Cli, Invocation};
use rancher_ecr_credentials::daemon::config::{self, Config};
use rancher_ecr_credentials::daemon::{self, health, telemetry, Fatal};
use rancher_ecr_credentials::exit::Exit;
use rancher_ecr_credentials::kubelet;

fn main() -> ExitCode {
    let invocation = match cli::parse() {
        Ok(invocation) => invocation,
        // In the kubelet mode a flag error is one stderr line; elsewhere clap's.
        Err(usage) if usage.kubelet_mode && !usage.is_help_or_version() => {
            return kubelet::usage_error(&usage.error).into()
        }
        Err(usage) => usage.error.exit(),
    };
    let result = match invocation {
        Invocation::Kubelet(args) => {
            bypass_proxy_for_instance_metadata();
            // Its failures are its own one-line answers to the kubelet.
            Ok(kubelet::run(args))
        }
        Invocation::Daemon(cli) => run_daemon(*cli),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(fatal) => {
            eprintln!("rancher-ecr-credentials: {fatal}");
            fatal.exit().into()
        }
    }
}

fn run_daemon(cli: Cli) -> Result<Exit, Fatal> {
    if cli.health_probe {
        let listen = config::listen_address(&cli.listen_address, &cli.listen_port)?;
        health::probe(listen).map_err(Fatal::Probe)?;
        return Ok(Exit::Success);
    }
    let config = Config::from_cli(cli)?;
    telemetry::init(&config.log_level, config.log_format)?;
    bypass_proxy_for_instance_metadata();
    // One thread is plenty for a daemon that sleeps for hours, and keeps
    // the footprint small.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Fatal::Runtime)?;
    let result = runtime.block_on(daemon::run(config));
    // Do not wait for blocking tasks (a DNS lookup in flight) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result
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
