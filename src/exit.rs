//! The process's exit statuses, in one table, for every mode.
//!
//! Runtime failures (AWS, Rancher) never end the daemon: they are logged and
//! retried. Only what a person must fix before anything can work ends it,
//! through `daemon::Fatal`, which `main` prints once and turns into a
//! status; the kubelet mode maps its own failures onto the same table.

use std::process::ExitCode;

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
    /// The daemon stopped leading (`[leader_election]`): it exits so that
    /// nothing of it writes once another replica leads, and stands by when
    /// restarted.
    LostLeadership,
}

impl Exit {
    /// The table: status number and what it means.
    pub const ALL: [(Exit, &'static str); 4] = [
        (Exit::Success, "success"),
        (
            Exit::Failure,
            "a one-shot mode (--once, --check, --dry-run) found a problem or was interrupted",
        ),
        (Exit::Config, "a configuration error"),
        (
            Exit::LostLeadership,
            "the daemon lost its leader election (restarted, it stands by)",
        ),
    ];

    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Config => 2,
            Exit::LostLeadership => 3,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_complete_and_distinct() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|(exit, _)| exit.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3]);
        let text = help_text();
        assert!(text.contains("0 success") && text.contains("2 a configuration error"));
    }
}
