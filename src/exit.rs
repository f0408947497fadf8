//! The process's exit statuses, in one table, and the one error type that
//! ends the process early.
//!
//! Runtime failures (AWS, Rancher) never end the daemon: they are logged and
//! retried. Only what a person must fix before anything can work ends it,
//! through [`Fatal`], which `main` prints once and turns into a status.

use std::process::ExitCode;

use crate::config::ConfigError;

/// Every status the process exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The job is done (a one-shot mode succeeded; the daemon was asked to stop).
    Success,
    /// A one-shot mode (`--once`, `--check`, `--dry-run`) found a problem
    /// or was interrupted; the health probe got no answer; a kubelet
    /// credential request failed.
    Failure,
    /// A configuration or usage error (as clap exits for bad flags).
    Config,
}

impl Exit {
    /// The table: status number and what it means.
    pub const ALL: [(Exit, &'static str); 3] = [
        (Exit::Success, "success"),
        (
            Exit::Failure,
            "a one-shot mode (--once, --check, --dry-run) found a problem or was interrupted",
        ),
        (Exit::Config, "a configuration error"),
    ];

    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Config => 2,
        }
    }

    /// Success or failure of a one-shot job.
    pub fn from_success(success: bool) -> Exit {
        if success {
            Exit::Success
        } else {
            Exit::Failure
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The exit statuses as `--help` lists them.
pub fn help_text() -> String {
    let table: Vec<String> = Exit::ALL
        .iter()
        .map(|(exit, meaning)| format!("{} {meaning}", exit.code()))
        .collect();
    format!("Exit status: {}.", table.join("; "))
}

/// Why the process stops before (or instead of) doing its job.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// `--health-probe` got no good answer.
    #[error("{0}")]
    Probe(String),
}

impl Fatal {
    pub fn exit(&self) -> Exit {
        match self {
            Fatal::Config(_) => Exit::Config,
            Fatal::Runtime(_) | Fatal::Probe(_) => Exit::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_complete_and_distinct() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|(exit, _)| exit.code()).collect();
        assert_eq!(codes, [0, 1, 2]);
        let text = help_text();
        assert!(text.contains("0 success") && text.contains("2 a configuration error"));
    }
}
