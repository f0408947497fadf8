//! The repository's files and the binary's `--help`, as the packaging and
//! documentation checks (tests/packaging.rs, tests/docs.rs) read them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rancher catalog item.
pub const ITEM: &str = "catalog/infra-templates/rancher-ecr-credentials";

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A repository file's text.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The binary's `--help`, run with an empty environment.
pub fn help() -> String {
    let help = Command::new(env!("CARGO_BIN_EXE_rancher-ecr-credentials"))
        .arg("--help")
        .env_clear()
        .output()
        .expect("--help runs");
    String::from_utf8_lossy(&help.stdout).into_owned()
}

/// One option of `--help`: flag, environment variable, default, help text.
pub struct HelpOption {
    pub flag: String,
    pub env: Option<String>,
    pub default: Option<String>,
    pub help: String,
}

/// The options of `--help`, in its order (`--help`/`--version` left out).
/// Reads both of clap's layouts: help beside the flag, or on the next lines.
pub fn help_options(help: &str) -> Vec<HelpOption> {
    let options = help.split("Options:").nth(1).expect("an Options: section");
    let mut chunks: Vec<Vec<&str>> = Vec::new();
    for line in options.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            if line.trim_end().ends_with(':') {
                continue; // options under a heading of their own (Rancher:, AWS:)
            }
            break; // the text after the options
        }
        if line.trim_start().starts_with('-') {
            chunks.push(vec![line.trim()]);
        } else if let Some(chunk) = chunks.last_mut() {
            chunk.push(line.trim());
        }
    }
    chunks
        .into_iter()
        .filter_map(|chunk| {
            let (spec, first) = chunk[0].split_once("  ").unwrap_or((chunk[0], ""));
            let flag = spec
                .split_whitespace()
                .find_map(|word| word.trim_end_matches(',').strip_prefix("--"))?
                .to_string();
            if matches!(flag.as_str(), "help" | "version") {
                return None;
            }
            let mut text = std::iter::once(first)
                .chain(chunk[1..].iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            let mut bracket = |label: &str| -> Option<String> {
                let start = text.find(&format!("[{label}: "))?;
                let end = start + text[start..].find(']')?;
                let inner = text[start + label.len() + 3..end].to_string();
                text.replace_range(start..=end, "");
                Some(inner)
            };
            let env = bracket("env").map(|e| e.trim_end_matches('=').to_string());
            let default = bracket("default");
            let help = text.split_whitespace().collect::<Vec<_>>().join(" ");
            Some(HelpOption {
                flag,
                env,
                default,
                help,
            })
        })
        .collect()
}
