//! The `[[target]]` tables of the configuration file, decided: which kind
//! (`rancher`, the default, or `kubernetes`), which Rancher and which of
//! its environments (or which cluster and namespaces, in
//! [`super::kubernetes`]), from which sources. The file's grammar
//! (`config_file`) reads them; what they mean is the daemon's, so it is
//! decided here, with errors at the key's place in the file. A key of the
//! other kind is refused, not ignored.

use std::ops::Range;
use std::path::Path;

use reqwest::Url;
use toml::Spanned;

use super::kubernetes::decide_kubernetes;
use super::parse::parse_cattle_url;
use crate::config_file::{ConfigFile, ConfigFileError, Positions, SourceTable, TargetTable};
use crate::daemon::kubernetes::KubernetesSettings;
use crate::daemon::rancher::Selection;
use crate::secret::Secret;

/// Nor is a secret key file larger than this.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// A Rancher server and the environments to keep credentials in.
#[derive(Debug, Clone)]
pub struct RancherTarget {
    /// `None`: take CATTLE_URL, CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY from
    /// the environment, as without a file.
    pub connection: Option<RancherConnection>,
    /// `None`: the environment the URL or the key designates.
    pub environments: Option<Selection>,
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

/// A Kubernetes cluster and the namespaces to keep a pull Secret in.
#[derive(Debug, Clone)]
pub struct KubernetesTarget {
    pub settings: KubernetesSettings,
    /// Names of the sources whose tokens go here (every source by default).
    pub sources: Vec<String>,
    pub line: usize,
}

/// A `[[target]]` decided, by its kind.
#[derive(Debug, Clone)]
pub enum FileTarget {
    Rancher(RancherTarget),
    Kubernetes(KubernetesTarget),
}

impl FileTarget {
    /// The line of its `[[target]]`.
    pub fn line(&self) -> usize {
        match self {
            FileTarget::Rancher(target) => target.line,
            FileTarget::Kubernetes(target) => target.line,
        }
    }

    /// Its `name`, if it has one (only Kubernetes targets take one).
    pub fn name(&self) -> Option<&str> {
        match self {
            FileTarget::Rancher(_) => None,
            FileTarget::Kubernetes(target) => target.settings.name.as_deref(),
        }
    }
}

/// Decides every `[[target]]` of the file.
pub fn decide_targets(file: &ConfigFile) -> Result<Vec<FileTarget>, ConfigFileError> {
    let mut targets: Vec<FileTarget> = Vec::new();
    for table in &file.targets {
        let target = decide_target(table, &file.sources, &file.positions)?;
        let first = target
            .name()
            .and_then(|name| targets.iter().find(|t| t.name() == Some(name)));
        if let (Some(first), Some(name)) = (first, &table.get_ref().name) {
            return Err(file.positions.at(
                name.span(),
                "target.name",
                format!(
                    "the target at line {} has this name already; names must differ",
                    first.line()
                ),
            ));
        }
        targets.push(target);
    }
    Ok(targets)
}

/// The keys a table has that its kind does not take: the first is refused.
fn refuse_keys(
    keys: Vec<(&'static str, Range<usize>)>,
    reason: &str,
    at: &Positions,
) -> Result<(), ConfigFileError> {
    match keys.into_iter().next() {
        Some((key, span)) => Err(at.at(span, &format!("target.{key}"), reason.into())),
        None => Ok(()),
    }
}

fn decide_target(
    table: &Spanned<TargetTable>,
    sources: &[SourceTable],
    at: &Positions,
) -> Result<FileTarget, ConfigFileError> {
    let raw = table.get_ref();
    let kind = raw
        .kind
        .as_ref()
        .map_or("rancher", |kind| kind.get_ref().trim());
    match kind {
        "rancher" => refuse_keys(
            raw.kubernetes_keys(),
            "this key is for kind = \"kubernetes\" targets, and this one is a Rancher \
             target (it has no kind, or kind = \"rancher\")",
            at,
        )?,
        "kubernetes" => {
            refuse_keys(
                raw.rancher_keys(),
                "this key is for Rancher targets, not for kind = \"kubernetes\"",
                at,
            )?;
            return Ok(FileTarget::Kubernetes(KubernetesTarget {
                settings: decide_kubernetes(raw, at)?,
                sources: source_names(raw, sources, at)?,
                line: at.line(table.span().start),
            }));
        }
        _ => {
            let span = raw.kind.as_ref().map_or(table.span(), Spanned::span);
            return Err(at.at(
                span,
                "target.kind",
                format!(
                    "{:?} is not a kind of target this version knows (rancher, kubernetes)",
                    crate::printable::printable(kind)
                ),
            ));
        }
    }
    decide_rancher(table, sources, at).map(FileTarget::Rancher)
}

fn decide_rancher(
    table: &Spanned<TargetTable>,
    sources: &[SourceTable],
    at: &Positions,
) -> Result<RancherTarget, ConfigFileError> {
    let raw = table.get_ref();
    let connection = decide_connection(raw, table.span(), at)?;
    let environments = raw
        .environments
        .as_ref()
        .map(|value| decide_environments(value, at))
        .transpose()?;
    Ok(RancherTarget {
        connection,
        environments,
        sources: source_names(raw, sources, at)?,
        auto_create: raw.auto_create.as_ref().is_some_and(|b| *b.get_ref()),
        line: at.line(table.span().start),
    })
}

fn decide_environments(
    value: &Spanned<toml::Value>,
    at: &Positions,
) -> Result<Selection, ConfigFileError> {
    let wrong = |reason: &str| at.at(value.span(), "target.environments", reason.into());
    const EXPECTED: &str = "expected \"all\" or a list of environment names or ids";
    match value.get_ref() {
        toml::Value::String(word) if word.trim() == "all" => Ok(Selection::All),
        toml::Value::Array(items) => {
            let mut names = Vec::new();
            for item in items {
                match item.as_str().map(str::trim) {
                    Some(name) if !name.is_empty() => names.push(name.to_string()),
                    _ => return Err(wrong(EXPECTED)),
                }
            }
            if names.is_empty() {
                return Err(wrong(
                    "the list is empty; name environments, or write \"all\"",
                ));
            }
            Ok(Selection::Named(names))
        }
        _ => Err(wrong(EXPECTED)),
    }
}

/// The sources a target takes tokens from: those named, or every one.
fn source_names(
    raw: &TargetTable,
    sources: &[SourceTable],
    at: &Positions,
) -> Result<Vec<String>, ConfigFileError> {
    let Some(list) = &raw.sources else {
        return Ok(sources.iter().map(|s| s.name.clone()).collect());
    };
    if list.get_ref().is_empty() {
        return Err(at.at(
            list.span(),
            "target.sources",
            "the list is empty: name sources, or leave the key out for every source".into(),
        ));
    }
    let mut names = Vec::new();
    for name in list.get_ref() {
        let text = name.get_ref().trim();
        if !sources.iter().any(|s| s.name == text) {
            let known: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
            let known = match known.is_empty() {
                true => "none".to_string(),
                false => known.join(", "),
            };
            return Err(at.at(
                name.span(),
                "target.sources",
                format!("no source is named {text:?} (sources: {known})"),
            ));
        }
        names.push(text.to_string());
    }
    Ok(names)
}

fn decide_connection(
    raw: &TargetTable,
    table: std::ops::Range<usize>,
    at: &Positions,
) -> Result<Option<RancherConnection>, ConfigFileError> {
    if let (Some(_), Some(file)) = (&raw.secret_key, &raw.secret_key_file) {
        return Err(at.at(
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
    let url = at.required(&raw.url, table.clone(), "target.url")?;
    let access_key = at.required(&raw.access_key, table.clone(), "target.access_key")?;
    let secret_key = match (&raw.secret_key, &raw.secret_key_file) {
        (Some(secret), _) => {
            let secret = Secret::new(secret.get_ref().expose().trim());
            if secret.is_empty() {
                let span = raw.secret_key.as_ref().map_or(0..0, Spanned::span);
                return Err(at.at(span, "target.secret_key", "it is empty".into()));
            }
            secret
        }
        (None, Some(file)) => read_secret_file(file, at)?,
        (None, None) => {
            return Err(at.at(
                table,
                "target.secret_key",
                "this key (or secret_key_file) is required with url and access_key".into(),
            ))
        }
    };
    let url = parse_cattle_url(url.get_ref())
        .map_err(|reason| at.at(url.span(), "target.url", reason))?;
    Ok(Some(RancherConnection {
        url,
        access_key: access_key.get_ref().trim().to_string(),
        secret_key,
    }))
}

fn read_secret_file(file: &Spanned<String>, at: &Positions) -> Result<Secret, ConfigFileError> {
    let path = file.get_ref().trim();
    let fail = |reason: String| at.at(file.span(), "target.secret_key_file", reason);
    let bytes = crate::bounded::read_file(Path::new(path), MAX_SECRET_BYTES)
        .map_err(|err| fail(format!("{path}: {}", err.about("it"))))?;
    let text =
        String::from_utf8(bytes).map_err(|_| fail(format!("{path}: it is not UTF-8 text")))?;
    let secret = Secret::new(text.trim());
    if secret.is_empty() {
        return Err(fail(format!("{path} is empty")));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests;
