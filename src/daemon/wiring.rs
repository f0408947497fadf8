//! From settings to the running parts: a token source per AWS identity, a
//! Rancher client or a Kubernetes connection per target, each given only
//! what it needs. No network call happens here; the region is resolved
//! from local settings, and a target's kubeconfig is read and checked.

use std::sync::Arc;

use super::config::{Config, ConfigError, Mode, Supply};
use super::cycle::{KubernetesTarget, RancherTarget, Target, Updater};
use super::kubernetes::client::Connection;
use super::metrics::Metrics;
use super::rancher::RancherClient;
use super::reconcile::Policy;
use super::sources::{Source, Sources};
use super::token_source::TokenSource;
use crate::aws::identity::resolve_region;

/// The updater the configuration describes.
pub async fn updater(config: &Config, metrics: Arc<Metrics>) -> Result<Updater, ConfigError> {
    let sources = sources(config, &metrics).await?;
    let mut targets = targets(config, &metrics)?;
    targets.extend(kubernetes_targets(config)?);
    let policy = Policy {
        auto_create: false,
        proxy_host: config.proxy_host.clone(),
        dry_run: matches!(config.mode, Mode::DryRun | Mode::Check),
    };
    Ok(Updater::new(sources, config.supply, targets, policy))
}

async fn sources(config: &Config, metrics: &Arc<Metrics>) -> Result<Sources, ConfigError> {
    let ca_bundle = config.ca_bundle.as_deref();
    let mut sources = Vec::new();
    for settings in &config.sources {
        let region =
            resolve_region(settings.aws.region.as_deref())
                .await
                .ok_or(ConfigError::Missing {
                    setting: "AWS_REGION (--aws-region)",
                    hint: "neither AWS_DEFAULT_REGION nor the shared config profile names a \
                       region either; set AWS_REGION, e.g. AWS_REGION=us-east-1",
                })?;
        let home = region.to_string();
        let tokens = TokenSource::new(&settings.aws, region, ca_bundle, metrics.clone()).await;
        sources.push(Source {
            name: settings.name.clone(),
            tokens,
            region: (!settings.any_region).then_some(home),
            accounts: settings.aws.registry_ids.clone(),
            aliases: settings.aliases.clone(),
            // With ECR_DISCOVER, the pull proxy stands for the source's own
            // registry; listed, it replaces each token's host.
            proxy_host: match config.supply {
                Supply::Discovered => config.proxy_host.clone(),
                Supply::Listed => None,
            },
        });
    }
    Ok(Sources::new(sources))
}

fn targets(config: &Config, metrics: &Arc<Metrics>) -> Result<Vec<Target>, ConfigError> {
    let several = config.targets.len() > 1;
    let mut targets = Vec::new();
    for (index, settings) in config.targets.iter().enumerate() {
        let rancher = RancherClient::new(
            &settings.rancher,
            config.ca_bundle.as_deref(),
            metrics.clone(),
        )
        .map_err(|err| ConfigError::Invalid {
            setting: "CATTLE_URL (--cattle-url)",
            reason: err.to_string(),
        })?;
        let url = &settings.rancher.url;
        let authority = format!(
            "{}{}",
            url.host_str().unwrap_or("rancher"),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let shared = config.targets.iter().enumerate().any(|(other, t)| {
            other != index
                && t.rancher.url.host_str() == url.host_str()
                && t.rancher.url.port() == url.port()
        });
        let label = several.then(|| match shared {
            true => format!("{authority}#{}", index + 1),
            false => authority,
        });
        targets.push(Target::Rancher(RancherTarget::new(
            rancher,
            settings.rancher.environments.clone(),
            settings.sources.clone(),
            settings.auto_create,
            label,
            config.refresh_interval,
        )));
    }
    Ok(targets)
}

/// The label of each Kubernetes target: its `name`, else `kubernetes`
/// (numbered when there are several without a name).
pub fn kubernetes_labels(config: &Config) -> Vec<String> {
    let several = config.kubernetes.len() > 1;
    config
        .kubernetes
        .iter()
        .enumerate()
        .map(|(index, target)| match &target.settings.name {
            Some(name) => name.clone(),
            None if several => format!("kubernetes#{}", index + 1),
            None => "kubernetes".to_string(),
        })
        .collect()
}

fn kubernetes_targets(config: &Config) -> Result<Vec<Target>, ConfigError> {
    let labels = kubernetes_labels(config);
    let mut targets = Vec::new();
    for (target, label) in config.kubernetes.iter().zip(labels) {
        let settings = &target.settings;
        let connection =
            Connection::prepare(settings.kubeconfig.as_deref(), settings.context.as_deref())
                .map_err(|problem| ConfigError::Invalid {
                    setting: "CONFIG_FILE (--config)",
                    reason: format!("the kubeconfig of Kubernetes target {label}: {problem}"),
                })?;
        targets.push(Target::Kubernetes(KubernetesTarget::new(
            connection,
            settings.clone(),
            target.sources.clone(),
            label,
            config.mode == Mode::Daemon,
        )));
    }
    Ok(targets)
}
