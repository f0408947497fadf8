//! The configuration file (`--config FILE`, TOML): several AWS identities
//! ("sources") and the places their credentials go ("targets").
//!
//! Environment variables describe one identity and one Rancher; the file
//! describes many. Both the daemon and the kubelet credential provider read
//! it (the provider only needs `[[source]]`: its region, role and aliases).
//!
//! Parsing is two steps, like the flags: serde reads the text into raw
//! tables that keep the position of every value (`toml::Spanned`), then
//! [`ConfigFile`] is decided from them, reusing the checks of
//! [`crate::config`]. Every mistake is reported as `FILE:LINE: KEY: reason`:
//! the line of the key, of the table for a missing key, of the second one
//! for a duplicate. Secrets are read into [`Secret`] and never echoed.
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
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::Deserialize;
use toml::Spanned;

use crate::config::RoleSettings;
use crate::ecr_host::{EcrHost, EcrHostError};
use crate::registry_host::RegistryHost;
use crate::secret::Secret;

/// A configuration file larger than this is certainly not one.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Nor is a secret key file larger than this.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The file, decided.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub sources: Vec<Source>,
    /// Empty when loaded with [`ConfigFile::load_sources`].
    pub targets: Vec<Target>,
}

/// An AWS identity in one region: where tokens come from.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub region: String,
    /// Registries to ask tokens for; empty means the identity's own.
    pub registry_ids: Vec<String>,
    /// A role to assume (through STS) on top of the default credentials.
    pub role: Option<RoleSettings>,
    /// A profile of the shared AWS files whose credentials this source
    /// starts from instead of the default chain's: how one daemon holds
    /// identities of several partitions (China, GovCloud, ...).
    pub profile: Option<String>,
    /// Non-ECR registry hosts (mirrors, vanity names) that stand for an ECR
    /// registry of this source's region.
    pub aliases: BTreeMap<RegistryHost, EcrHost>,
    /// Line of the `[[source]]` table, for later messages.
    pub line: usize,
}

/// Where credentials go. Only Rancher today; the `kind` key leaves room for
/// others (Kubernetes secrets, say) without breaking existing files.
#[derive(Debug, Clone)]
pub enum Target {
    Rancher(RancherTarget),
}

/// A Rancher server and the environments to keep credentials in.
#[derive(Debug, Clone)]
pub struct RancherTarget {
    /// `None`: take CATTLE_URL, CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY from
    /// the environment, as without a file.
    pub connection: Option<RancherConnection>,
    pub environments: Environments,
    /// Names of the sources whose tokens go here (every source by default).
    pub sources: Vec<String>,
    pub auto_create: bool,
    pub line: usize,
}

/// How to reach a Rancher server.
#[derive(Debug, Clone)]
pub struct RancherConnection {
    pub url: Url,
    pub access_key: String,
    pub secret_key: Secret,
}

/// Which Rancher environments a target serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environments {
    /// `environments` not given: the environment the URL or the key
    /// designates, as without a file.
    OfTheKey,
    /// `environments = "all"`: every environment the key can see.
    All,
    /// Environments by name or id.
    Named(Vec<String>),
}

/// A mistake in the file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigFileError {
    pub path: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    /// The key, qualified by its table (`source.region`); empty for errors
    /// of the file as a whole.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl ConfigFile {
    /// Reads and checks the whole file (secret key files included).
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigFileError> {
        Self::parse(path, &read_file(path)?, true)
    }

    /// Reads the file for the kubelet credential provider: every table must
    /// be well-formed, but targets are not resolved (their secret files need
    /// not exist on a node).
    pub fn load_sources(path: &Path) -> Result<ConfigFile, ConfigFileError> {
        Self::parse(path, &read_file(path)?, false)
    }

    /// Parses `text` as if read from `path` (named in errors).
    pub fn parse(
        path: &Path,
        text: &str,
        resolve_targets: bool,
    ) -> Result<ConfigFile, ConfigFileError> {
        let lines = LineIndex::new(text);
        let at = |span: Range<usize>, key: &str, reason: String| ConfigFileError {
            path: path.to_path_buf(),
            line: lines.line(span.start),
            key: key.to_string(),
            reason,
        };
        let raw: RawFile = toml::from_str(text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            let (named, reason) = explain_toml_error(err.message());
            at(span.clone(), &key_at(text, span.start, named), reason)
        })?;

        let mut sources: Vec<Source> = Vec::new();
        for table in &raw.source {
            let source = decide_source(table, &at)?;
            if let Some(first) = sources.iter().find(|s| s.name == source.name) {
                let name = table.get_ref().name.as_ref().map_or(0..0, Spanned::span);
                return Err(at(
                    name,
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
                    return Err(at(
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

        let mut targets = Vec::new();
        if resolve_targets {
            for table in &raw.target {
                targets.push(decide_target(table, &sources, &at)?);
            }
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            sources,
            targets,
        })
    }

    /// The source that has `host` as an alias, and the ECR host it stands for.
    pub fn alias(&self, host: &RegistryHost) -> Option<(&Source, &EcrHost)> {
        self.sources
            .iter()
            .find_map(|source| source.aliases.get(host).map(|ecr| (source, ecr)))
    }
}

type At<'a> = dyn Fn(Range<usize>, &str, String) -> ConfigFileError + 'a;

fn read_file(path: &Path) -> Result<String, ConfigFileError> {
    let fail = |reason: String| ConfigFileError {
        path: path.to_path_buf(),
        line: 0,
        key: String::new(),
        reason,
    };
    read_bounded(path, MAX_FILE_BYTES).map_err(fail)
}

/// Reads a text file of at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    // A regular file only (asked before opening, which a FIFO would block).
    let metadata = std::fs::metadata(path).map_err(|err| format!("cannot read it: {err}"))?;
    if !metadata.is_file() {
        return Err("it is not a regular file".to_string());
    }
    let file = std::fs::File::open(path).map_err(|err| format!("cannot read it: {err}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read it: {err}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("it is larger than {limit} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())
}

/// serde's messages name a missing or unknown field in backquotes; pull the
/// key out so the error leads with it, and keep the rest.
fn explain_toml_error(message: &str) -> (Option<String>, String) {
    let message = message.trim();
    for lead in ["unknown field `", "missing field `"] {
        if let Some(rest) = message.strip_prefix(lead) {
            if let Some((key, _)) = rest.split_once('`') {
                let reason = if lead.starts_with("unknown") {
                    format!(
                        "unknown key{}",
                        rest.split_once(", expected")
                            .map(|(_, expected)| format!(" (expected{expected})"))
                            .unwrap_or_default()
                    )
                } else {
                    "this key is required".to_string()
                };
                return (Some(key.to_string()), reason);
            }
        }
    }
    (None, message.replace('\n', " "))
}

/// The key an error at `offset` is about, qualified by its table
/// (`target.auto_create`): `named` if serde named it, else the key written
/// on that line. Empty when the error is not at a key (a table header).
fn key_at(text: &str, offset: usize, named: Option<String>) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |at| at + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let header = |line: &str| {
        let line = line.trim();
        line.starts_with('[').then(|| {
            line.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        })
    };
    if header(line).is_some() {
        return named.unwrap_or_default();
    }
    let key = named.or_else(|| {
        line.split_once('=')
            .map(|(key, _)| key.trim().trim_matches('"').to_string())
            .filter(|key| !key.is_empty())
    });
    let Some(key) = key else {
        return String::new();
    };
    let table = text[..line_start].lines().rev().find_map(header);
    match table {
        Some(table) if !table.is_empty() => format!("{table}.{key}"),
        _ => key,
    }
}

/// Byte offset to 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    registry_ids: Option<Spanned<Vec<Spanned<String>>>>,
    role_arn: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    aliases: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    kind: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    access_key: Option<Spanned<String>>,
    secret_key: Option<Spanned<String>>,
    secret_key_file: Option<Spanned<String>>,
    environments: Option<Spanned<toml::Value>>,
    sources: Option<Spanned<Vec<Spanned<String>>>>,
    auto_create: Option<Spanned<bool>>,
}

/// A required string key, or an error at the table's line.
fn required<'v>(
    value: &'v Option<Spanned<String>>,
    table: Range<usize>,
    key: &str,
    at: &At,
) -> Result<&'v Spanned<String>, ConfigFileError> {
    match value {
        Some(value) if !value.get_ref().trim().is_empty() => Ok(value),
        Some(value) => Err(at(value.span(), key, "it is empty".into())),
        None => Err(at(table, key, "this key is required".into())),
    }
}

fn decide_source(table: &Spanned<RawSource>, at: &At) -> Result<Source, ConfigFileError> {
    let raw = table.get_ref();
    let name = required(&raw.name, table.span(), "source.name", at)?;
    let name = name.get_ref().trim().to_string();
    let region = required(&raw.region, table.span(), "source.region", at)?;
    let region_text = region.get_ref().trim().to_string();
    if !crate::ecr_host::is_region_name(&region_text) {
        return Err(at(
            region.span(),
            "source.region",
            format!("{region_text:?} is not an AWS region name (like eu-west-1)"),
        ));
    }

    let mut registry_ids = Vec::new();
    for id in raw.registry_ids.iter().flat_map(|ids| ids.get_ref()) {
        let text = id.get_ref().trim();
        let valid = text.len() == 12 && !text.contains(',');
        let parsed = crate::config::parse::parse_registry_ids(text)
            .ok()
            .filter(|_| valid);
        match parsed {
            Some(_) if !registry_ids.iter().any(|known| known == text) => {
                registry_ids.push(text.to_string())
            }
            Some(_) => {}
            None => {
                return Err(at(
                    id.span(),
                    "source.registry_ids",
                    format!("{text:?} is not a 12-digit AWS account id"),
                ))
            }
        }
    }

    if let (None, Some(external_id)) = (&raw.role_arn, &raw.external_id) {
        return Err(at(
            external_id.span(),
            "source.external_id",
            "it is only used with role_arn; add role_arn or remove it".into(),
        ));
    }
    let role = match &raw.role_arn {
        None => None,
        Some(arn) => Some(
            crate::config::parse::parse_role(
                arn.get_ref().trim().to_string(),
                raw.external_id.as_ref().map(|id| id.get_ref().clone()),
                None,
            )
            .map_err(|err| at(arn.span(), "source.role_arn", setting_reason(err)))?,
        ),
    };

    let profile = match &raw.profile {
        None => None,
        Some(profile) if profile.get_ref().trim().is_empty() => {
            return Err(at(profile.span(), "source.profile", "it is empty".into()))
        }
        Some(profile) => Some(profile.get_ref().trim().to_string()),
    };

    let mut aliases = BTreeMap::new();
    for (alias, target) in raw.aliases.iter().flat_map(|a| a.get_ref()) {
        let key = "source.aliases";
        let host = RegistryHost::parse(alias)
            .map_err(|err| at(target.span(), key, format!("alias {err}")))?;
        let ecr = RegistryHost::parse(target.get_ref())
            .map_err(|err| err.to_string())
            .and_then(|ecr_host| {
                EcrHost::parse(&ecr_host).map_err(|err| match err {
                    EcrHostError::NotEcr { host } => format!(
                        "{alias} must stand for an ECR registry host, and {host} is not one \
                         (expected like 123456789012.dkr.ecr.{region_text}.amazonaws.com)"
                    ),
                    malformed => malformed.to_string(),
                })
            })
            .map_err(|reason| at(target.span(), key, reason))?;
        if EcrHost::parse(&host).is_ok() {
            return Err(at(
                target.span(),
                key,
                format!("{host} is itself an ECR host; an alias is for other names"),
            ));
        }
        if ecr.region() != region_text {
            return Err(at(
                target.span(),
                key,
                format!(
                    "{} is in {}, but this source's region is {region_text} (ECR tokens \
                     work in one region only)",
                    target.get_ref().trim(),
                    ecr.region()
                ),
            ));
        }
        aliases.insert(host, ecr);
    }

    Ok(Source {
        name,
        region: region_text,
        registry_ids,
        role,
        profile,
        aliases,
        line: at(table.span(), "", String::new()).line,
    })
}

/// The reason of a [`crate::config::ConfigError`], without its setting name
/// (which is an environment variable, not a key of this file).
fn setting_reason(err: crate::config::ConfigError) -> String {
    match err {
        crate::config::ConfigError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn decide_target(
    table: &Spanned<RawTarget>,
    sources: &[Source],
    at: &At,
) -> Result<Target, ConfigFileError> {
    let raw = table.get_ref();
    if let Some(kind) = &raw.kind {
        if kind.get_ref().trim() != "rancher" {
            return Err(at(
                kind.span(),
                "target.kind",
                format!(
                    "{:?} is not a kind of target this version knows (rancher)",
                    kind.get_ref()
                ),
            ));
        }
    }

    let connection = decide_connection(raw, table.span(), at)?;

    let environments = match &raw.environments {
        None => Environments::OfTheKey,
        Some(value) => {
            let wrong = || {
                at(
                    value.span(),
                    "target.environments",
                    "expected \"all\" or a list of environment names or ids".into(),
                )
            };
            match value.get_ref() {
                toml::Value::String(word) if word.trim() == "all" => Environments::All,
                toml::Value::Array(items) => {
                    let mut names = Vec::new();
                    for item in items {
                        match item.as_str().map(str::trim) {
                            Some(name) if !name.is_empty() => names.push(name.to_string()),
                            _ => return Err(wrong()),
                        }
                    }
                    if names.is_empty() {
                        return Err(at(
                            value.span(),
                            "target.environments",
                            "the list is empty; name environments, or write \"all\"".into(),
                        ));
                    }
                    Environments::Named(names)
                }
                _ => return Err(wrong()),
            }
        }
    };

    let names = match &raw.sources {
        None => sources.iter().map(|s| s.name.clone()).collect(),
        Some(list) if list.get_ref().is_empty() => {
            return Err(at(
                list.span(),
                "target.sources",
                "the list is empty: name sources, or leave the key out for every source".into(),
            ))
        }
        Some(list) => {
            let mut names = Vec::new();
            for name in list.get_ref() {
                let text = name.get_ref().trim();
                if !sources.iter().any(|s| s.name == text) {
                    let known: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
                    return Err(at(
                        name.span(),
                        "target.sources",
                        format!(
                            "no source is named {text:?} (sources: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                names.push(text.to_string());
            }
            names
        }
    };

    Ok(Target::Rancher(RancherTarget {
        connection,
        environments,
        sources: names,
        auto_create: raw.auto_create.as_ref().is_some_and(|b| *b.get_ref()),
        line: at(table.span(), "", String::new()).line,
    }))
}

fn decide_connection(
    raw: &RawTarget,
    table: Range<usize>,
    at: &At,
) -> Result<Option<RancherConnection>, ConfigFileError> {
    if let (Some(_), Some(file)) = (&raw.secret_key, &raw.secret_key_file) {
        return Err(at(
            file.span(),
            "target.secret_key_file",
            "give secret_key or secret_key_file, not both".into(),
        ));
    }
    let given = raw.url.is_some()
        || raw.access_key.is_some()
        || raw.secret_key.is_some()
        || raw.secret_key_file.is_some();
    if !given {
        return Ok(None);
    }
    let url = required(&raw.url, table.clone(), "target.url", at)?;
    let access_key = required(&raw.access_key, table.clone(), "target.access_key", at)?;
    let secret_key = match (&raw.secret_key, &raw.secret_key_file) {
        (Some(secret), _) if secret.get_ref().trim().is_empty() => {
            return Err(at(secret.span(), "target.secret_key", "it is empty".into()))
        }
        (Some(secret), _) => Secret::new(secret.get_ref().trim()),
        (None, Some(file)) => {
            let path = file.get_ref().trim();
            let text = read_bounded(Path::new(path), MAX_SECRET_BYTES).map_err(|reason| {
                at(
                    file.span(),
                    "target.secret_key_file",
                    format!("{path}: {reason}"),
                )
            })?;
            let secret = Secret::new(text.trim());
            if secret.is_empty() {
                return Err(at(
                    file.span(),
                    "target.secret_key_file",
                    format!("{path} is empty"),
                ));
            }
            secret
        }
        (None, None) => {
            return Err(at(
                table,
                "target.secret_key",
                "this key (or secret_key_file) is required with url and access_key".into(),
            ))
        }
    };
    let url = crate::config::parse::parse_cattle_url(url.get_ref().trim().to_string())
        .map_err(|err| at(url.span(), "target.url", setting_reason(err)))?;
    Ok(Some(RancherConnection {
        url,
        access_key: access_key.get_ref().trim().to_string(),
        secret_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[[source]]            # an AWS identity in one region
name = "prod-eu"
region = "eu-west-1"
registry_ids = ["210987654321"]      # optional
role_arn = "arn:aws:iam::210987654321:role/ecr-pull"   # optional
external_id = "ext-42"               # optional
aliases = { "registry.example.com" = "210987654321.dkr.ecr.eu-west-1.amazonaws.com" }
[[target]]            # a Rancher and the environments to serve
url = "http://rancher:8080/v2-beta"
access_key = "ACCESSKEY"
secret_key_file = "SECRET_FILE"   # or secret_key
environments = ["prod", "1a9"]             # or "all"
sources = ["prod-eu"]                      # default: every source
auto_create = false
"#;

    fn secret_file(name: &str, content: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("config-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn parse(text: &str) -> Result<ConfigFile, ConfigFileError> {
        ConfigFile::parse(Path::new("/etc/recc.toml"), text, true)
    }

    fn error(text: &str) -> ConfigFileError {
        parse(text).unwrap_err()
    }

    fn full(secret_name: &str) -> String {
        let secret = secret_file(secret_name, "SecretFromFile\n");
        FULL.replace("SECRET_FILE", secret.to_str().unwrap())
    }

    #[test]
    fn the_documented_example() {
        let file = parse(&full("example-secret")).unwrap();
        assert_eq!(file.sources.len(), 1);
        let source = &file.sources[0];
        assert_eq!(source.name, "prod-eu");
        assert_eq!(source.region, "eu-west-1");
        assert_eq!(source.registry_ids, ["210987654321"]);
        assert_eq!(source.line, 2);
        let role = source.role.as_ref().unwrap();
        assert_eq!(role.arn, "arn:aws:iam::210987654321:role/ecr-pull");
        assert_eq!(role.external_id.as_deref(), Some("ext-42"));
        let alias = RegistryHost::parse("registry.example.com").unwrap();
        let (owner, ecr) = file.alias(&alias).unwrap();
        assert_eq!(owner.name, "prod-eu");
        assert_eq!(ecr.region(), "eu-west-1");

        let Target::Rancher(target) = &file.targets[0];
        let connection = target.connection.as_ref().unwrap();
        assert_eq!(connection.url.as_str(), "http://rancher:8080/v2-beta");
        assert_eq!(connection.access_key, "ACCESSKEY");
        assert_eq!(connection.secret_key.expose(), "SecretFromFile");
        assert_eq!(
            target.environments,
            Environments::Named(vec!["prod".into(), "1a9".into()])
        );
        assert_eq!(target.sources, ["prod-eu"]);
        assert!(!target.auto_create);
        assert_eq!(target.line, 9);
        assert!(!format!("{file:?}").contains("SecretFromFile"));
    }

    #[test]
    fn defaults_and_the_environment_target() {
        let file = parse(
            "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n\
             [[source]]\nname = \"b\"\nregion = \"eu-west-1\"\n\
             [[target]]\nenvironments = \"all\"\nauto_create = true\n",
        )
        .unwrap();
        let Target::Rancher(target) = &file.targets[0];
        assert!(target.connection.is_none());
        assert_eq!(target.environments, Environments::All);
        assert_eq!(target.sources, ["a", "b"]);
        assert!(target.auto_create);
        assert!(file.sources[0].role.is_none() && file.sources[0].registry_ids.is_empty());
        let file = parse("[[target]]\nkind = \"rancher\"\n").unwrap();
        let Target::Rancher(target) = &file.targets[0];
        assert_eq!(target.environments, Environments::OfTheKey);
        assert!(parse("").unwrap().sources.is_empty());
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let err = error("[[source]]\nname = \"a\"\nregion = \"us-east-1\"\nrole = \"x\"\n");
        assert_eq!(err.line, 4, "{err}");
        assert_eq!(err.key, "source.role", "{err}");
        assert!(
            err.to_string()
                .starts_with("/etc/recc.toml:4: source.role: unknown key"),
            "{err}"
        );
        let err = error("[[target]]\nsecret-key = \"TopSecret\"\n");
        assert_eq!(
            (err.line, err.key.as_str()),
            (2, "target.secret-key"),
            "{err}"
        );
        assert!(!err.to_string().contains("TopSecret"), "{err}");
        let err = error("\n\n[[sources]]\nname = \"a\"\n");
        assert_eq!((err.line, err.key.as_str()), (3, "sources"), "{err}");
    }

    #[test]
    fn a_source_without_region_is_named_at_its_table() {
        let err = error("# comment\n\n[[source]]\nname = \"prod\"\n\n");
        assert_eq!(err.line, 3, "{err}");
        assert_eq!(err.key, "source.region", "{err}");
        assert!(err.to_string().contains("required"), "{err}");
        let err = error("[[source]]\nregion = \"us-east-1\"\n");
        assert_eq!((err.line, err.key.as_str()), (1, "source.name"), "{err}");
        let err = error("[[source]]\nname = \"a\"\nregion = \"Ireland\"\n");
        assert_eq!((err.line, err.key.as_str()), (3, "source.region"), "{err}");
    }

    #[test]
    fn duplicates_are_named_at_the_second() {
        let err = error(
            "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n\n\
             [[source]]\nname = \"a\"\nregion = \"eu-west-1\"\n",
        );
        assert_eq!((err.line, err.key.as_str()), (6, "source.name"), "{err}");
        assert!(err.reason.contains("line 1"), "{err}");
        let err = error(
            "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n\
             aliases = { \"m.example.com\" = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\" }\n\
             [[source]]\nname = \"b\"\nregion = \"us-east-1\"\n\
             aliases = { \"M.example.com\" = \"210987654321.dkr.ecr.us-east-1.amazonaws.com\" }\n",
        );
        assert_eq!((err.line, err.key.as_str()), (8, "source.aliases"), "{err}");
    }

    #[test]
    fn a_missing_secret_file_is_named() {
        let err = error(
            "[[target]]\nurl = \"http://rancher:8080/v1\"\naccess_key = \"K\"\n\
             secret_key_file = \"/nonexistent/secret\"\n",
        );
        assert_eq!(
            (err.line, err.key.as_str()),
            (4, "target.secret_key_file"),
            "{err}"
        );
        assert!(err.reason.contains("/nonexistent/secret"), "{err}");
        // The kubelet credential provider does not need the targets.
        let text = "[[target]]\nurl = \"http://r:8080/v1\"\naccess_key = \"K\"\n\
                    secret_key_file = \"/nonexistent/secret\"\n";
        assert!(ConfigFile::parse(Path::new("f"), text, false).is_ok());
        assert!(ConfigFile::parse(Path::new("f"), "[[target]]\nbad = 1\n", false).is_err());
    }

    #[test]
    fn connection_keys_go_together() {
        let err = error("[[target]]\nurl = \"http://rancher:8080/v1\"\n");
        assert_eq!(
            (err.line, err.key.as_str()),
            (1, "target.access_key"),
            "{err}"
        );
        let err = error("[[target]]\nurl = \"http://rancher:8080/v1\"\naccess_key = \"K\"\n");
        assert_eq!(err.key, "target.secret_key", "{err}");
        let err = error(
            "[[target]]\nurl = \"http://rancher:8080/v1\"\naccess_key = \"K\"\n\
             secret_key = \"S3cr3t\"\nsecret_key_file = \"/x\"\n",
        );
        assert_eq!((err.line, err.key.as_str()), (5, "target.secret_key_file"));
        let err = error(
            "[[target]]\nurl = \"http://user:S3cr3t@rancher:8080/v1\"\naccess_key = \"K\"\n\
             secret_key = \"S3cr3t\"\n",
        );
        assert_eq!((err.line, err.key.as_str()), (2, "target.url"), "{err}");
        assert!(!err.to_string().contains("S3cr3t"), "{err}");
        let file = parse(
            "[[target]]\nurl = \"http://rancher:8080/v1/\"\naccess_key = \"K\"\n\
             secret_key = \"S3cr3t\"\n",
        )
        .unwrap();
        let Target::Rancher(target) = &file.targets[0];
        assert_eq!(
            target.connection.as_ref().unwrap().secret_key.expose(),
            "S3cr3t"
        );
    }

    #[test]
    fn values_are_checked_where_they_are() {
        let source = "[[source]]\nname = \"a\"\nregion = \"eu-west-1\"\n";
        let cases = [
            ("registry_ids = [\"12345\"]", "source.registry_ids", "12-digit"),
            ("registry_ids = [\"123456789012,210987654321\"]", "source.registry_ids", "12-digit"),
            ("role_arn = \"ecr-pull\"", "source.role_arn", "not an IAM role ARN"),
            ("external_id = \"x\"", "source.external_id", "role_arn"),
            ("profile = \" \"", "source.profile", "empty"),
            (
                "aliases = { \"m.example.com\" = \"m2.example.com\" }",
                "source.aliases",
                "m2.example.com is not one",
            ),
            (
                "aliases = { \"m.example.com\" = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\" }",
                "source.aliases",
                "in us-east-1, but this source's region is eu-west-1",
            ),
            (
                "aliases = { \"123456789012.dkr.ecr.eu-west-1.amazonaws.com\" = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com\" }",
                "source.aliases",
                "itself an ECR host",
            ),
            ("aliases = { \"a b\" = \"x\" }", "source.aliases", "not a registry host"),
        ];
        for (line, key, reason) in cases {
            let err = error(&format!("{source}{line}\n"));
            assert_eq!((err.line, err.key.as_str()), (4, key), "{line}: {err}");
            assert!(err.reason.contains(reason), "{line}: {err}");
        }
        let target = "[[target]]\n";
        for (line, key, reason) in [
            ("kind = \"kubernetes\"", "target.kind", "kubernetes"),
            ("environments = \"some\"", "target.environments", "\"all\""),
            ("environments = []", "target.environments", "empty"),
            ("environments = [1]", "target.environments", "\"all\""),
            (
                "sources = [\"nope\"]",
                "target.sources",
                "no source is named \"nope\"",
            ),
            (
                "auto_create = \"yes\"",
                "target.auto_create",
                "expected a boolean",
            ),
        ] {
            let err = error(&format!("{target}{line}\n"));
            assert_eq!(err.line, 2, "{line}: {err}");
            assert_eq!(err.key, key, "{line}: {err}");
            assert!(err.reason.contains(reason), "{line}: {err}");
        }
    }

    #[test]
    fn unreadable_and_broken_files() {
        let err = ConfigFile::load(Path::new("/nonexistent/recc.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/recc.toml: cannot read it"),
            "{err}"
        );
        let err = error("[[source]\nname = 1\n");
        assert_eq!(err.line, 1, "{err}");
        assert!(!err.reason.contains('\n'), "{err}");
        let path = secret_file("loaded.toml", &full("loaded-secret"));
        assert_eq!(ConfigFile::load(&path).unwrap().sources.len(), 1);
    }

    #[test]
    fn keys_are_found_on_their_line() {
        let text = "[[source]]\nname = 1\n[target] # x\n\"quoted\" = 2\n";
        assert_eq!(key_at(text, 13, None), "source.name");
        assert_eq!(key_at(text, 0, None), "");
        assert_eq!(key_at(text, 0, Some("sources".into())), "sources");
        assert_eq!(key_at(text, text.len() - 3, None), "target.quoted");
        assert_eq!(key_at("a = 1", 2, None), "a");
    }

    #[test]
    fn line_index() {
        let index = LineIndex::new("a\nbc\n\nd");
        assert_eq!(
            [0, 1, 2, 4, 5, 6].map(|at| index.line(at)),
            [1, 1, 2, 2, 3, 4]
        );
    }
}
