//! Logging: `LOG_LEVEL` in the predecessor's logrus vocabulary or as
//! `RUST_LOG`-style directives (`level` or `target=level`, comma
//! separated), written to stderr.
//!
//! One filter is not negotiable: the AWS SDK's orchestrator dumps every
//! operation's output with `Debug` at TRACE level, and ECR's
//! `AuthorizationData` is not marked sensitive, so that line would print the
//! token. Those events are dropped whatever the level asked for.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::daemon::config::{ConfigError, LogFormat};

const SETTING: &str = "LOG_LEVEL (--log-level)";

/// Turns a `LOG_LEVEL` value into filter directives. A level name sets this
/// crate's level and keeps dependencies at `warn` (or quieter); anything else
/// is taken as directives.
pub fn directives(level: &str) -> Result<String, ConfigError> {
    let crate_name = env!("CARGO_CRATE_NAME");
    let named = match level.trim().to_ascii_lowercase().as_str() {
        "panic" | "fatal" | "error" => Some("error"),
        "warn" | "warning" => Some("warn"),
        "info" => Some("info"),
        "debug" => Some("debug"),
        "trace" => Some("trace"),
        "off" => Some("off"),
        _ => None,
    };
    let directives = match named {
        Some(name @ ("error" | "off")) => name.to_string(),
        Some(name) => format!("warn,{crate_name}={name}"),
        None => level.trim().to_string(),
    };
    directives
        .parse::<Targets>()
        .map_err(|err| ConfigError::Invalid {
            setting: SETTING,
            reason: format!(
                "{level:?} is neither a level (trace, debug, info, warn, error) nor valid \
                 directives: {err}"
            ),
        })?;
    Ok(directives)
}

/// Installs the global subscriber. Call once, early.
pub fn init(level: &str, format: LogFormat) -> Result<(), ConfigError> {
    let filter = directives(level)?
        .parse::<Targets>()
        .map_err(|err| ConfigError::Invalid {
            setting: SETTING,
            reason: err.to_string(),
        })?;
    let never_sdk_dumps = filter_fn(|meta| {
        !(*meta.level() == Level::TRACE && meta.target().starts_with("aws_smithy_runtime"))
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().flatten_event(true).boxed(),
    };
    let layer = layer.with_filter(filter.and(never_sdk_dumps));
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logrus_names_in_any_case() {
        assert_eq!(
            directives("DEBUG").unwrap(),
            "warn,rancher_ecr_credentials=debug"
        );
        assert_eq!(
            directives("Warning").unwrap(),
            "warn,rancher_ecr_credentials=warn"
        );
        assert_eq!(directives("fatal").unwrap(), "error");
        assert_eq!(directives("panic").unwrap(), "error");
    }

    #[test]
    fn directives_pass_through_and_bad_ones_are_named() {
        assert_eq!(directives("info,hyper=debug").unwrap(), "info,hyper=debug");
        let err = directives("loud=[").unwrap_err().to_string();
        assert!(err.contains("LOG_LEVEL"), "{err}");
    }
}
