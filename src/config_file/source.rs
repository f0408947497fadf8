//! A `[[source]]` table: an AWS identity in one region, decided from its
//! raw, spanned keys. Both front ends use it: the daemon serves the hosts a
//! source claims, the kubelet mode takes a host's alias and role from it.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::position::{ConfigFileError, Positions};
use crate::aws::identity::{parse_account_id, parse_role, RoleError};
use crate::aws::RoleSettings;
use crate::ecr_host::{is_region_name, EcrHost, EcrHostError};
use crate::registry_host::RegistryHost;

/// An AWS identity in one region, as the file says: where tokens come from.
#[derive(Debug, Clone)]
pub struct SourceTable {
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

/// The keys of a `[[source]]` table, each with its place in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    name: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    registry_ids: Option<Spanned<Vec<Spanned<String>>>>,
    role_arn: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    pub(super) aliases: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

impl RawSource {
    pub(super) fn name_span(&self) -> Range<usize> {
        self.name.as_ref().map_or(0..0, Spanned::span)
    }
}

pub(super) fn decide_source(
    table: &Spanned<RawSource>,
    at: &Positions,
) -> Result<SourceTable, ConfigFileError> {
    let raw = table.get_ref();
    let name = at.required(&raw.name, table.span(), "source.name")?;
    let region = at.required(&raw.region, table.span(), "source.region")?;
    let region_text = region.get_ref().trim().to_string();
    if !is_region_name(&region_text) {
        return Err(at.at(
            region.span(),
            "source.region",
            format!("{region_text:?} is not an AWS region name (like eu-west-1)"),
        ));
    }
    let profile = match &raw.profile {
        None => None,
        Some(profile) if profile.get_ref().trim().is_empty() => {
            return Err(at.at(profile.span(), "source.profile", "it is empty".into()))
        }
        Some(profile) => Some(profile.get_ref().trim().to_string()),
    };
    Ok(SourceTable {
        name: name.get_ref().trim().to_string(),
        registry_ids: registry_ids(raw, at)?,
        role: role(raw, at)?,
        profile,
        aliases: aliases(raw, &region_text, at)?,
        region: region_text,
        line: at.line(table.span().start),
    })
}

fn registry_ids(raw: &RawSource, at: &Positions) -> Result<Vec<String>, ConfigFileError> {
    let mut ids: Vec<String> = Vec::new();
    for id in raw.registry_ids.iter().flat_map(|ids| ids.get_ref()) {
        let text = parse_account_id(id.get_ref())
            .map_err(|reason| at.at(id.span(), "source.registry_ids", reason))?;
        if !ids.iter().any(|known| known == text) {
            ids.push(text.to_string());
        }
    }
    Ok(ids)
}

fn role(raw: &RawSource, at: &Positions) -> Result<Option<RoleSettings>, ConfigFileError> {
    let Some(arn) = &raw.role_arn else {
        if let Some(external_id) = &raw.external_id {
            return Err(at.at(
                external_id.span(),
                "source.external_id",
                "it is only used with role_arn; add role_arn or remove it".into(),
            ));
        }
        return Ok(None);
    };
    let external_id = raw.external_id.as_ref().map(|id| id.get_ref().as_str());
    parse_role(arn.get_ref(), external_id, None)
        .map(Some)
        .map_err(|err| {
            let (RoleError::Arn(reason) | RoleError::SessionName(reason)) = err;
            at.at(arn.span(), "source.role_arn", reason)
        })
}

fn aliases(
    raw: &RawSource,
    region: &str,
    at: &Positions,
) -> Result<BTreeMap<RegistryHost, EcrHost>, ConfigFileError> {
    let mut aliases = BTreeMap::new();
    for (alias, target) in raw.aliases.iter().flat_map(|a| a.get_ref()) {
        let fail = |reason: String| at.at(target.span(), "source.aliases", reason);
        let host = RegistryHost::parse(alias).map_err(|err| fail(format!("alias {err}")))?;
        let ecr = RegistryHost::parse(target.get_ref())
            .map_err(|err| err.to_string())
            .and_then(|ecr_host| {
                EcrHost::parse(&ecr_host).map_err(|err| match err {
                    EcrHostError::NotEcr { host } => format!(
                        "{alias} must stand for an ECR registry host, and {host} is not one \
                         (expected like 123456789012.dkr.ecr.{region}.amazonaws.com)"
                    ),
                    malformed => malformed.to_string(),
                })
            })
            .map_err(fail)?;
        if EcrHost::parse(&host).is_ok() {
            return Err(fail(format!(
                "{host} is itself an ECR host; an alias is for other names"
            )));
        }
        if ecr.region() != region {
            return Err(fail(format!(
                "{} is in {}, but this source's region is {region} (ECR tokens work in one \
                 region only)",
                target.get_ref().trim(),
                ecr.region()
            )));
        }
        aliases.insert(host, ecr);
    }
    Ok(aliases)
}
