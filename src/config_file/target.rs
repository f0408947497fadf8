//! A `[[target]]` table as the file grammar knows it: every key of every
//! kind, typed and spanned, but not decided. What a target means (which
//! Rancher or cluster, which environments or namespaces, whose tokens) is
//! the daemon's business (`daemon::config::targets`); the kubelet mode
//! only needs the table to be well-formed. Secrets are read into [`Secret`]
//! and never echoed.
//!
//! The keys of both kinds are one table, since serde cannot pick a struct
//! by a `kind` that may be absent (it is `rancher` then); which keys a kind
//! takes is said once here ([`TargetTable::rancher_keys`],
//! [`TargetTable::kubernetes_keys`]) for the daemon to refuse the others.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::secret::Secret;

/// A list of strings, each with its place.
pub type SpannedList = Spanned<Vec<Spanned<String>>>;

/// The keys of a `[[target]]` table, each with its place in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTable {
    /// `"rancher"` (the default) or `"kubernetes"`.
    pub kind: Option<Spanned<String>>,
    /// Both kinds: the sources whose tokens go there.
    pub sources: Option<SpannedList>,

    // Rancher (1.6) targets.
    pub url: Option<Spanned<String>>,
    pub access_key: Option<Spanned<String>>,
    pub secret_key: Option<Spanned<Secret>>,
    pub secret_key_file: Option<Spanned<String>>,
    /// `"all"` or a list of names and ids: checked by the daemon.
    pub environments: Option<Spanned<toml::Value>>,
    pub auto_create: Option<Spanned<bool>>,

    // Kubernetes targets.
    pub name: Option<Spanned<String>>,
    pub kubeconfig: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    pub namespaces: Option<SpannedList>,
    pub exclude_namespaces: Option<SpannedList>,
    pub namespace_selector: Option<Spanned<String>>,
    pub rancher_projects: Option<SpannedList>,
    pub secret_name: Option<Spanned<String>>,
    pub service_accounts: Option<SpannedList>,
}

impl TargetTable {
    /// The keys only a Rancher target takes, of those given.
    pub fn rancher_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        [
            ("url", self.url.as_ref().map(Spanned::span)),
            ("access_key", self.access_key.as_ref().map(Spanned::span)),
            ("secret_key", self.secret_key.as_ref().map(Spanned::span)),
            (
                "secret_key_file",
                self.secret_key_file.as_ref().map(Spanned::span),
            ),
            (
                "environments",
                self.environments.as_ref().map(Spanned::span),
            ),
            ("auto_create", self.auto_create.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(key, span)| Some((key, span?)))
        .collect()
    }

    /// The keys only a Kubernetes target takes, of those given.
    pub fn kubernetes_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        [
            ("name", self.name.as_ref().map(Spanned::span)),
            ("kubeconfig", self.kubeconfig.as_ref().map(Spanned::span)),
            ("context", self.context.as_ref().map(Spanned::span)),
            ("namespaces", self.namespaces.as_ref().map(Spanned::span)),
            (
                "exclude_namespaces",
                self.exclude_namespaces.as_ref().map(Spanned::span),
            ),
            (
                "namespace_selector",
                self.namespace_selector.as_ref().map(Spanned::span),
            ),
            (
                "rancher_projects",
                self.rancher_projects.as_ref().map(Spanned::span),
            ),
            ("secret_name", self.secret_name.as_ref().map(Spanned::span)),
            (
                "service_accounts",
                self.service_accounts.as_ref().map(Spanned::span),
            ),
        ]
        .into_iter()
        .filter_map(|(key, span)| Some((key, span?)))
        .collect()
    }
}
