//! With CONFIG_FILE: the file's sources and targets as settings. The file
//! replaces some environment variables, which must then not be set too;
//! a target without its own url and keys takes CATTLE_URL and its key.

use std::path::Path;

use super::environment::rancher_settings;
use super::kubernetes::decide_leader_election;
use super::parse::{is_environment_endpoint, non_empty};
use super::targets::{decide_targets, FileTarget, KubernetesTarget, RancherTarget};
use super::{ConfigError, KubernetesTargetSettings, SourceSettings, TargetSettings};
use crate::aws::AwsSettings;
use crate::cli::Cli;
use crate::config_file::ConfigFile;
use crate::daemon::kubernetes::LeaderElection;
use crate::daemon::rancher::{RancherSettings, Selection};

const SETTING: &str = "CONFIG_FILE (--config)";

/// The settings a config file replaces, which must then not be set too:
/// the file would silently win over them, or they over the file.
fn file_conflicts(cli: &Cli) -> [(&'static str, Option<String>, &'static str); 8] {
    // With a web identity token file (IRSA), AWS_ROLE_ARN is the SDK's
    // web identity role, which the default chain uses: not ours to refuse.
    let role_arn = match non_empty(cli.web_identity_token_file.clone()) {
        Some(_) => None,
        None => cli.role_arn.clone(),
    };
    [
        (
            "AWS_ROLE_ARN (--role-arn)",
            role_arn,
            "each [[source]]'s role_arn",
        ),
        (
            "AWS_ROLE_EXTERNAL_ID (--role-external-id)",
            cli.role_external_id.clone(),
            "each [[source]]'s external_id",
        ),
        (
            "AWS_ROLE_SESSION_NAME (--role-session-name)",
            cli.role_session_name.clone(),
            "the session name of its roles",
        ),
        (
            "RANCHER_ENVIRONMENTS (--rancher-environments)",
            cli.rancher_environments.clone(),
            "each [[target]]'s environments",
        ),
        (
            "AWS_ECR_REGISTRY_IDS (--registry-ids)",
            cli.registry_ids.clone(),
            "each [[source]]'s registry_ids",
        ),
        (
            "ECR_DISCOVER (--ecr-discover)",
            cli.ecr_discover.clone(),
            "the registries: with a file, the ECR hosts its sources claim",
        ),
        (
            "AUTO_CREATE (--auto-create)",
            cli.auto_create.clone(),
            "each [[target]]'s auto_create",
        ),
        (
            "ECR_PROXY_HOST (--proxy-host)",
            cli.proxy_host.clone(),
            "each [[source]]'s aliases",
        ),
    ]
}

/// The file's `[[source]]`s as the daemon's sources.
fn source_settings(file: &ConfigFile) -> Vec<SourceSettings> {
    file.sources
        .iter()
        .map(|source| SourceSettings {
            name: source.name.clone(),
            aws: AwsSettings {
                region: Some(source.region.clone()),
                registry_ids: source.registry_ids.clone(),
                role: source.role.clone(),
                profile: source.profile.clone(),
            },
            any_region: false,
            aliases: source.aliases.clone(),
        })
        .collect()
}

/// The file's sources and targets, decided.
pub fn settings(cli: &Cli, path: &Path) -> Result<FileSettings, ConfigError> {
    for (setting, value, instead) in file_conflicts(cli) {
        if non_empty(value).is_some() {
            return Err(ConfigError::Invalid {
                setting,
                reason: format!(
                    "it cannot be set together with {SETTING} ({}), which says {instead}; \
                     unset one of them",
                    path.display()
                ),
            });
        }
    }
    let in_file = |err: crate::config_file::ConfigFileError| ConfigError::Invalid {
        setting: SETTING,
        reason: err.to_string(),
    };
    let file = ConfigFile::load(path).map_err(in_file)?;
    let decided = decide_targets(&file).map_err(in_file)?;
    let leader_election = decide_leader_election(&file).map_err(in_file)?;
    let (tables, clusters) = by_kind(&decided);
    let whole = |reason: &str| in_file(file.positions.whole(reason.into()));
    if file.sources.is_empty() {
        return Err(whole(
            "it has no [[source]]: name at least one AWS identity and region",
        ));
    }
    if tables.is_empty() && clusters.is_empty() {
        return Err(whole(
            "it has no [[target]]: name at least one Rancher or Kubernetes cluster to write to",
        ));
    }
    let sources = source_settings(&file);
    let kubernetes = clusters
        .iter()
        .map(|cluster| KubernetesTargetSettings {
            settings: cluster.settings.clone(),
            sources: source_indexes(&cluster.sources, &sources),
        })
        .collect();
    let mut targets: Vec<TargetSettings> = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let at_table =
            |reason: String| in_file(file.positions.at(file.targets[index].span(), "", reason));
        let mut rancher = rancher_settings(cli, table.connection.as_ref())?;
        if table.environments.is_some() && is_environment_endpoint(&rancher.url) {
            return Err(at_table(
                "target.environments: with environments, the url must be the server's API \
                 root (http://rancher:8080/v2-beta), not an environment endpoint \
                 (…/projects/<id>)"
                    .into(),
            ));
        }
        rancher.environments = table.environments.clone();
        let overlap = targets
            .iter()
            .enumerate()
            .find_map(|(first, t)| Some((first, overlap(&t.rancher, &rancher)?)));
        if let Some((first, what)) = overlap {
            return Err(at_table(format!(
                "this [[target]] and the one at line {} both serve {what} of {}: their \
                 credentials would flip between their sources every cycle; give each \
                 environment one target",
                tables[first].line,
                rancher.url.origin().ascii_serialization()
            )));
        }
        targets.push(TargetSettings {
            rancher,
            sources: source_indexes(&table.sources, &sources),
            auto_create: table.auto_create,
        });
    }
    Ok(FileSettings {
        sources,
        targets,
        kubernetes,
        leader_election,
    })
}

/// The indexes of the sources `names` names.
fn source_indexes(names: &[String], sources: &[SourceSettings]) -> Vec<usize> {
    names
        .iter()
        .filter_map(|name| sources.iter().position(|s| &s.name == name))
        .collect()
}

/// What a config file decides: sources, Rancher targets, Kubernetes
/// targets.
pub struct FileSettings {
    pub sources: Vec<SourceSettings>,
    pub targets: Vec<TargetSettings>,
    pub kubernetes: Vec<KubernetesTargetSettings>,
    pub leader_election: Option<LeaderElection>,
}

/// The targets by kind.
fn by_kind(targets: &[FileTarget]) -> (Vec<&RancherTarget>, Vec<&KubernetesTarget>) {
    let mut rancher = Vec::new();
    let mut kubernetes = Vec::new();
    for target in targets {
        match target {
            FileTarget::Rancher(target) => rancher.push(target),
            FileTarget::Kubernetes(target) => kubernetes.push(target),
        }
    }
    (rancher, kubernetes)
}

/// What two targets of the same Rancher would both serve, if anything: a
/// credential written by both would flip between their sources. Whether an
/// environment named by one is the key's own environment of the other is
/// known only at run time, so that case is left to the operator.
fn overlap(a: &RancherSettings, b: &RancherSettings) -> Option<String> {
    if a.url.origin() != b.url.origin() {
        return None;
    }
    match (&a.environments, &b.environments) {
        (None, None) => {
            (a.url == b.url && a.access_key == b.access_key).then(|| "the key's environment".into())
        }
        (Some(Selection::All), Some(_)) | (Some(_), Some(Selection::All)) => {
            Some("every environment the keys share".into())
        }
        (Some(Selection::Named(x)), Some(Selection::Named(y))) => x
            .iter()
            .find(|name| y.contains(name))
            .map(|name| format!("environment {name}")),
        (None, Some(_)) | (Some(_), None) => None,
    }
}
