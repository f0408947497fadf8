//! From settings to the running parts: a token source per AWS identity, a
//! Rancher client per target, each given only what it needs. No network
//! call happens here; the region is resolved from local settings.

use std::sync::Arc;

use super::config::{Config, ConfigError, Mode, Supply};
use super::cycle::{RancherTarget, Target, Updater};
use super::metrics::Metrics;
use super::rancher::RancherClient;
use super::reconcile::Policy;
use super::sources::{Source, Sources};
use super::token_source::TokenSource;
use crate::aws::identity::resolve_region;

/// The updater the configuration describes.
pub async fn updater(config: &Config, metrics: Arc<Metrics>) -> Result<Updater, ConfigError> {
    let sources = sources(config, &metrics).await?;
    let targets = targets(config, &metrics)?;
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
