//! The Kubernetes parts of the configuration file, decided: a
//! `[[target]]` of `kind = "kubernetes"` into [`KubernetesSettings`], and
//! `[leader_election]` into [`LeaderElection`], with every error at the
//! key's place in the file. The types and the syntax of patterns,
//! selectors and names belong to `daemon::kubernetes`; this module names
//! the key a reason is about, and bounds every list.

use std::path::PathBuf;

use toml::Spanned;

use super::{duration_within, LEASE_DURATION_BOUNDS};
use crate::config_file::target::SpannedList;
use crate::config_file::{ConfigFile, ConfigFileError, Positions, TargetTable};
use crate::daemon::kubernetes::glob::Glob;
use crate::daemon::kubernetes::names::{check_dns_label, check_subdomain, MAX_SUBDOMAIN};
use crate::daemon::kubernetes::namespaces::{NamespaceFilter, RancherProject};
use crate::daemon::kubernetes::selector::LabelSelector;
use crate::daemon::kubernetes::{
    KubernetesSettings, LeaderElection, ServiceAccounts, DEFAULT_LEASE_DURATION,
    DEFAULT_LEASE_NAME, DEFAULT_SECRET_NAME, DEFAULT_SERVICE_ACCOUNT,
};

/// The most entries a list key takes (`namespaces`, `service_accounts`, …).
pub const MAX_LIST: usize = 256;
/// The longest target `name` (it labels metrics and `/healthz`).
pub const MAX_NAME: usize = 63;

/// Decides a `kind = "kubernetes"` target's own keys.
pub(super) fn decide_kubernetes(
    raw: &TargetTable,
    at: &Positions,
) -> Result<KubernetesSettings, ConfigFileError> {
    let defaults = NamespaceFilter::default();
    let include = match &raw.namespaces {
        None => defaults.include,
        Some(list) => {
            non_empty(list, at, "target.namespaces", "for every namespace")?;
            globs(list, at, "target.namespaces")?
        }
    };
    let exclude = match &raw.exclude_namespaces {
        None => defaults.exclude,
        Some(list) => globs(list, at, "target.exclude_namespaces")?,
    };
    let projects = match &raw.rancher_projects {
        None => None,
        Some(list) => {
            let key = "target.rancher_projects";
            non_empty(list, at, key, "for namespaces of any project")?;
            let parse = |item: &Spanned<String>| {
                RancherProject::parse(item.get_ref()).map_err(|r| at.at(item.span(), key, r))
            };
            Some(list.get_ref().iter().map(parse).collect::<Result<_, _>>()?)
        }
    };
    Ok(KubernetesSettings {
        name: optional(&raw.name, at, "target.name", check_target_name)?,
        kubeconfig: optional(&raw.kubeconfig, at, "target.kubeconfig", check_path)?
            .map(PathBuf::from),
        context: optional(&raw.context, at, "target.context", check_context)?,
        namespaces: NamespaceFilter {
            include,
            exclude,
            selector: decide_selector(raw.namespace_selector.as_ref(), at)?,
            projects,
        },
        secret_name: optional(&raw.secret_name, at, "target.secret_name", check_subdomain)?
            .unwrap_or_else(|| DEFAULT_SECRET_NAME.to_string()),
        service_accounts: decide_service_accounts(raw.service_accounts.as_ref(), at)?,
    })
}

/// `[leader_election]`, if the file has it.
pub fn decide_leader_election(
    file: &ConfigFile,
) -> Result<Option<LeaderElection>, ConfigFileError> {
    let Some(table) = &file.leader_election else {
        return Ok(None);
    };
    let (raw, at) = (table.get_ref(), &file.positions);
    let namespace = at.required(&raw.namespace, table.span(), "leader_election.namespace")?;
    let namespace_text = namespace.get_ref().trim();
    check_dns_label(namespace_text)
        .map_err(|reason| at.at(namespace.span(), "leader_election.namespace", reason))?;
    let lease_duration = match &raw.lease_duration {
        None => DEFAULT_LEASE_DURATION,
        Some(text) => duration_within(text.get_ref(), LEASE_DURATION_BOUNDS, "")
            .map_err(|reason| at.at(text.span(), "leader_election.lease_duration", reason))?,
    };
    let key = |name: &str| format!("leader_election.{name}");
    Ok(Some(LeaderElection {
        namespace: namespace_text.to_string(),
        lease_name: optional(&raw.lease_name, at, &key("lease_name"), check_subdomain)?
            .unwrap_or_else(|| DEFAULT_LEASE_NAME.to_string()),
        lease_duration,
        kubeconfig: optional(&raw.kubeconfig, at, &key("kubeconfig"), check_path)?
            .map(PathBuf::from),
        context: optional(&raw.context, at, &key("context"), check_context)?,
    }))
}

/// An optional string key, trimmed, not blank, and passing `check`.
fn optional(
    value: &Option<Spanned<String>>,
    at: &Positions,
    key: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<Option<String>, ConfigFileError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value.get_ref().trim();
    if text.is_empty() {
        return Err(at.at(
            value.span(),
            key,
            "it is empty; leave the key out for the default".into(),
        ));
    }
    check(text).map_err(|reason| at.at(value.span(), key, reason))?;
    Ok(Some(text.to_string()))
}

/// A list key holds at most [`MAX_LIST`] entries.
fn bounded(list: &SpannedList, at: &Positions, key: &str) -> Result<(), ConfigFileError> {
    let count = list.get_ref().len();
    if count > MAX_LIST {
        return Err(at.at(
            list.span(),
            key,
            format!("it has {count} entries; at most {MAX_LIST} are allowed"),
        ));
    }
    Ok(())
}

/// A list key that must not be empty, with what leaving it out means.
fn non_empty(
    list: &SpannedList,
    at: &Positions,
    key: &str,
    without: &str,
) -> Result<(), ConfigFileError> {
    if list.get_ref().is_empty() {
        return Err(at.at(
            list.span(),
            key,
            format!("the list is empty, so nothing would be served; leave the key out {without}"),
        ));
    }
    bounded(list, at, key)
}

fn globs(list: &SpannedList, at: &Positions, key: &str) -> Result<Vec<Glob>, ConfigFileError> {
    bounded(list, at, key)?;
    list.get_ref()
        .iter()
        .map(|item| Glob::parse(item.get_ref()).map_err(|r| at.at(item.span(), key, r)))
        .collect()
}

fn decide_selector(
    text: Option<&Spanned<String>>,
    at: &Positions,
) -> Result<Option<LabelSelector>, ConfigFileError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let fail = |reason| at.at(text.span(), "target.namespace_selector", reason);
    if text.get_ref().trim().is_empty() {
        return Err(fail(
            "it is empty; leave the key out to select namespaces by name only".into(),
        ));
    }
    LabelSelector::parse(text.get_ref()).map(Some).map_err(fail)
}

/// `[]` none, `["*"]` every one, else names (each a DNS-1123 subdomain,
/// duplicates dropped); absent: `default`.
fn decide_service_accounts(
    list: Option<&SpannedList>,
    at: &Positions,
) -> Result<ServiceAccounts, ConfigFileError> {
    let Some(list) = list else {
        return Ok(ServiceAccounts::Named(vec![DEFAULT_SERVICE_ACCOUNT.into()]));
    };
    let key = "target.service_accounts";
    bounded(list, at, key)?;
    let items = list.get_ref();
    if items.is_empty() {
        return Ok(ServiceAccounts::None);
    }
    if let Some(star) = items.iter().find(|item| item.get_ref().trim() == "*") {
        if items.len() > 1 {
            return Err(at.at(
                star.span(),
                key,
                "\"*\" means every ServiceAccount: give it alone, or only names".into(),
            ));
        }
        return Ok(ServiceAccounts::All);
    }
    let mut names: Vec<String> = Vec::new();
    for item in items {
        let name = item.get_ref().trim();
        check_subdomain(name).map_err(|reason| at.at(item.span(), key, reason))?;
        if !names.iter().any(|known| known == name) {
            names.push(name.to_string());
        }
    }
    Ok(ServiceAccounts::Named(names))
}

/// A target name: it labels metrics and `/healthz`, so it is kept short
/// and plain.
fn check_target_name(name: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.len() > MAX_NAME || !name.chars().all(plain) {
        return Err(format!(
            "{:?} is not a target name: at most {MAX_NAME} letters, digits, '-', '_' and '.'",
            crate::printable::printable(name)
        ));
    }
    Ok(())
}

/// A kubeconfig path, as the daemon will open it: no shell expands `~`.
fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('~') {
        return Err("'~' is not expanded here; write the whole path".into());
    }
    Ok(())
}

/// A kubeconfig context: any name a kubeconfig holds, but one line, and
/// bounded.
fn check_context(name: &str) -> Result<(), String> {
    if name.len() > MAX_SUBDOMAIN || name.chars().any(char::is_control) {
        return Err(format!(
            "a context name is one line of at most {MAX_SUBDOMAIN} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
