//! Without a configuration file: one source (AWS_REGION,
//! AWS_ECR_REGISTRY_IDS, AWS_ROLE_ARN, ECR_DISCOVER) and one Rancher
//! (CATTLE_URL and its key, RANCHER_ENVIRONMENTS), as the predecessor read
//! them. A file's target without its own url and keys takes this Rancher's.

use std::collections::BTreeMap;

use super::parse::{
    is_environment_endpoint, non_empty, parse_cattle_url, parse_environments, parse_flag,
    parse_registry_ids,
};
use super::targets::RancherConnection;
use super::{role_error, ConfigError, SourceSettings, Supply, TargetSettings};
use crate::aws::identity::parse_role;
use crate::aws::AwsSettings;
use crate::cli::Cli;
use crate::daemon::rancher::RancherSettings;

pub const URL_SETTING: &str = "CATTLE_URL (--cattle-url)";

/// The one source and the one Rancher of the environment variables.
pub fn settings(
    cli: &Cli,
) -> Result<(Vec<SourceSettings>, Vec<TargetSettings>, Supply), ConfigError> {
    let ids = cli.registry_ids.as_deref().unwrap_or("");
    let aws = AwsSettings {
        region: non_empty(cli.aws_region.clone()),
        registry_ids: parse_registry_ids(ids).map_err(ConfigError::invalid(
            "AWS_ECR_REGISTRY_IDS (--registry-ids)",
        ))?,
        role: non_empty(cli.role_arn.clone())
            .map(|arn| {
                parse_role(
                    &arn,
                    cli.role_external_id.as_deref(),
                    cli.role_session_name.as_deref(),
                )
            })
            .transpose()
            .map_err(role_error)?,
        profile: None,
    };
    let discover = parse_flag(cli.ecr_discover.clone())
        .map_err(ConfigError::invalid("ECR_DISCOVER (--ecr-discover)"))?;
    let source = SourceSettings {
        name: "environment".into(),
        aws,
        any_region: discover,
        aliases: BTreeMap::new(),
    };
    let target = TargetSettings {
        rancher: rancher_settings(cli, None)?,
        sources: vec![0],
        auto_create: parse_flag(cli.auto_create.clone())
            .map_err(ConfigError::invalid("AUTO_CREATE (--auto-create)"))?,
    };
    let supply = if discover {
        Supply::Discovered
    } else {
        Supply::Listed
    };
    Ok((vec![source], vec![target], supply))
}

/// A Rancher's settings: the file target's connection, or CATTLE_URL and
/// its key (all three required then), with the timeout and TLS settings of
/// the command line.
pub fn rancher_settings(
    cli: &Cli,
    connection: Option<&RancherConnection>,
) -> Result<RancherSettings, ConfigError> {
    let timeout = super::bounded_duration(
        "RANCHER_TIMEOUT (--rancher-timeout)",
        &cli.rancher_timeout,
        super::RANCHER_TIMEOUT_BOUNDS,
    )?;
    let insecure = parse_flag(cli.rancher_insecure.clone()).map_err(ConfigError::invalid(
        "RANCHER_INSECURE (--rancher-insecure)",
    ))?;
    if let Some(connection) = connection {
        return Ok(RancherSettings {
            url: connection.url.clone(),
            access_key: connection.access_key.clone(),
            secret_key: connection.secret_key.clone(),
            timeout,
            insecure,
            environments: None,
        });
    }
    let url = non_empty(cli.cattle_url.clone()).ok_or(ConfigError::Missing {
        setting: URL_SETTING,
        hint: "give the Rancher API endpoint, e.g. http://rancher:8080/v2-beta/projects/1a5",
    })?;
    let url = parse_cattle_url(&url).map_err(ConfigError::invalid(URL_SETTING))?;
    let access_key = non_empty(cli.cattle_access_key.clone()).ok_or(ConfigError::Missing {
        setting: "CATTLE_ACCESS_KEY (--cattle-access-key)",
        hint: "create an environment API key in Rancher (API > Keys) or run the container \
               with the io.rancher.container.create_agent=true and \
               io.rancher.container.agent.role=environment labels",
    })?;
    let secret_key = cli
        .cattle_secret_key
        .clone()
        .filter(|secret| !secret.is_empty())
        .ok_or(ConfigError::Missing {
            setting: "CATTLE_SECRET_KEY (--cattle-secret-key)",
            hint: "give the secret that belongs to CATTLE_ACCESS_KEY",
        })?;
    let environments = non_empty(cli.rancher_environments.clone())
        .map(|text| parse_environments(&text))
        .transpose()
        .map_err(ConfigError::invalid(
            "RANCHER_ENVIRONMENTS (--rancher-environments)",
        ))?;
    if environments.is_some() && is_environment_endpoint(&url) {
        return Err(ConfigError::invalid(URL_SETTING)(
            "with RANCHER_ENVIRONMENTS (--rancher-environments) it must be the server's API \
             root (http://rancher:8080/v2-beta), not an environment endpoint \
             (…/projects/<id>): the environments come from RANCHER_ENVIRONMENTS"
                .into(),
        ));
    }
    Ok(RancherSettings {
        url,
        access_key,
        secret_key,
        timeout,
        insecure,
        environments,
    })
}
