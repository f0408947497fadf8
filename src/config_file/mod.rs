//! The configuration file (`--config FILE`, TOML): several AWS identities
//! ("sources") and the places their credentials go ("targets").
//!
//! Environment variables describe one identity and one Rancher; the file
//! describes many. Both the daemon and the kubelet credential provider read
//! it (the provider only needs `[[source]]`: its region, role and aliases).
//!
//! This is the grammar both front ends share. Parsing is two steps, like
//! the flags: serde reads the text into raw tables that keep the position
//! of every value (`toml::Spanned`), then each `[[source]]` is decided here
//! ([`source`]), while `[[target]]` tables ([`target`]) and the
//! `[leader_election]` table ([`leader_election`]) stay raw for the daemon
//! to decide. Every mistake is reported as `FILE:LINE: KEY: reason`
//! ([`position`]). Secrets are read into `Secret` and never echoed.
//!
//! ```toml
//! [[source]]                      # an AWS identity in one region
//! name = "prod-eu"
//! region = "eu-west-1"
//! registry_ids = ["210987654321"]                        # optional
//! role_arn = "arn:aws:iam::210987654321:role/ecr-pull"   # optional
//! external_id = "..."                                    # optional
//! profile = "china"          # optional: credentials from this AWS profile
//! aliases = { "registry.example.com" = "210987654321.dkr.ecr.eu-west-1.amazonaws.com" }
//!
//! [[target]]                      # a Rancher and the environments to serve
//! url = "http://rancher:8080/v2-beta"
//! access_key = "..."
//! secret_key_file = "/run/secrets/rancher"               # or secret_key
//! environments = ["prod", "1a9"]                         # or "all"
//! sources = ["prod-eu"]                                  # default: every source
//! auto_create = false
//!
//! [[target]]                      # a Kubernetes cluster and its namespaces
//! kind = "kubernetes"
//! name = "prod-cluster"           # optional: names it in /healthz, metrics, errors
//! kubeconfig = "/etc/kube/config" # optional: KUBECONFIG, ~/.kube/config, in-cluster
//! context = "prod"                # optional: a context of that kubeconfig
//! namespaces = ["*"]              # names or globs (the default)
//! exclude_namespaces = ["kube-system", "kube-public", "kube-node-lease"]  # the default
//! namespace_selector = "team in (a,b),!legacy"   # optional label selector
//! rancher_projects = ["c-m-abc12:p-xyz34"]       # optional: these projects' namespaces
//! secret_name = "ecr-credentials" # the default
//! service_accounts = ["default"]  # the default; [] none, ["*"] every one
//! sources = ["prod-eu"]           # default: every source
//!
//! [leader_election]               # one writer among replicas (a Lease)
//! namespace = "ecr"
//! ```
//!
//! This build reads Kubernetes targets and `[leader_election]` but does not
//! serve them yet: the daemon refuses them (`daemon::config`).

pub mod leader_election;
pub mod position;
pub mod source;
pub mod target;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use leader_election::LeaderElectionTable;
pub use position::{ConfigFileError, Positions};
pub use source::SourceTable;
pub use target::TargetTable;

use crate::ecr_host::EcrHost;
use crate::registry_host::RegistryHost;
use source::{decide_source, RawSource};

/// A configuration file larger than this is certainly not one.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The file: its sources decided, its targets as written.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub sources: Vec<SourceTable>,
    pub targets: Vec<Spanned<TargetTable>>,
    /// `[leader_election]`, as written.
    pub leader_election: Option<Spanned<LeaderElectionTable>>,
    /// For errors about the targets, found when they are decided.
    pub positions: Positions,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    target: Vec<Spanned<TargetTable>>,
    leader_election: Option<Spanned<LeaderElectionTable>>,
}

impl ConfigFile {
    /// Reads and parses the file; every table must be well-formed.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigFileError> {
        let positions = Positions::new(path, "");
        let bytes = crate::bounded::read_file(path, MAX_FILE_BYTES)
            .map_err(|err| positions.whole(err.about("it")))?;
        let text =
            String::from_utf8(bytes).map_err(|_| positions.whole("it is not UTF-8 text".into()))?;
        Self::parse(path, &text)
    }

    /// Parses `text` as if read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigFileError> {
        let positions = Positions::new(path, text);
        let raw: RawFile =
            toml::from_str(text).map_err(|err| position::toml_error(&positions, text, &err))?;
        let mut sources: Vec<SourceTable> = Vec::new();
        for table in &raw.source {
            let source = decide_source(table, &positions)?;
            if let Some(first) = sources.iter().find(|s| s.name == source.name) {
                return Err(positions.at(
                    table.get_ref().name_span(),
                    "source.name",
                    format!(
                        "a source named {:?} is already defined at line {}",
                        source.name, first.line
                    ),
                ));
            }
            for (alias, value) in table.get_ref().aliases.iter().flat_map(|a| a.get_ref()) {
                let host = RegistryHost::parse(alias).ok();
                if let Some(first) = sources
                    .iter()
                    .find(|s| host.as_ref().is_some_and(|h| s.aliases.contains_key(h)))
                {
                    return Err(positions.at(
                        value.span(),
                        "source.aliases",
                        format!(
                            "{alias} is already an alias in source {:?} (line {})",
                            first.name, first.line
                        ),
                    ));
                }
            }
            sources.push(source);
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            sources,
            targets: raw.target,
            leader_election: raw.leader_election,
            positions,
        })
    }

    /// The source that has `host` as an alias, and the ECR host it stands for.
    pub fn alias(&self, host: &RegistryHost) -> Option<(&SourceTable, &EcrHost)> {
        self.sources
            .iter()
            .find_map(|source| source.aliases.get(host).map(|ecr| (source, ecr)))
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
