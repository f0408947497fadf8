//! A `[[target]]` table as the file grammar knows it: every key, typed and
//! spanned, but not decided. What a target means (which Rancher, which
//! environments, whose tokens) is the daemon's business
//! (`daemon::config::targets`); the kubelet mode only needs the table to be
//! well-formed. Secrets are read into [`Secret`] and never echoed.

use serde::Deserialize;
use toml::Spanned;

use crate::secret::Secret;

/// The keys of a `[[target]]` table, each with its place in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTable {
    pub kind: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub access_key: Option<Spanned<String>>,
    pub secret_key: Option<Spanned<Secret>>,
    pub secret_key_file: Option<Spanned<String>>,
    /// `"all"` or a list of names and ids: checked by the daemon.
    pub environments: Option<Spanned<toml::Value>>,
    pub sources: Option<Spanned<Vec<Spanned<String>>>>,
    pub auto_create: Option<Spanned<bool>>,
}
