//! Reconcile: decide which Rancher registry credentials an ECR token belongs
//! in, then write it there.
//!
//! The decisions ([`matching_registries`], [`credentials_to_update`]) are
//! pure functions over what Rancher listed; [`apply_token`] does the I/O and
//! reports, per registry host, what changed and what went wrong. One host's
//! or one registry's failure never stops the others.

use std::fmt;

use crate::aws::EcrToken;
use crate::daemon::rancher::{Credential, Endpoints, RancherClient, RancherError, Registry};
use crate::daemon::sources::TokenFailure;
use crate::registry_host::RegistryHost;

/// States in which Rancher uses a registry or credential (or soon will:
/// newly created objects pass through `registering`/`activating`).
const LIVE_STATES: &[&str] = &["active", "activating", "registering", "updating-active"];
/// States of objects a user switched off: left alone.
const DORMANT_STATES: &[&str] = &["inactive", "deactivating", "updating-inactive"];

/// Settings that shape the decisions.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub auto_create: bool,
    /// `ECR_PROXY_HOST`: the host to look for in Rancher instead of ECR's.
    pub proxy_host: Option<RegistryHost>,
    /// Decide and report, but write nothing (`--dry-run`).
    pub dry_run: bool,
}

/// The id reported for an object a dry run would create.
pub const NEW_ID: &str = "(new)";

/// What was done to one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Updated {
        registry_id: String,
        credential_id: String,
    },
    CreatedCredential {
        registry_id: String,
        credential_id: String,
    },
    CreatedRegistry {
        registry_id: String,
        credential_id: String,
    },
}

impl Change {
    pub fn action(&self) -> &'static str {
        match self {
            Change::Updated { .. } => "updated",
            Change::CreatedCredential { .. } => "created credential",
            Change::CreatedRegistry { .. } => "created registry",
        }
    }

    pub fn ids(&self) -> (&str, &str) {
        match self {
            Change::Updated {
                registry_id,
                credential_id,
            }
            | Change::CreatedCredential {
                registry_id,
                credential_id,
            }
            | Change::CreatedRegistry {
                registry_id,
                credential_id,
            } => (registry_id, credential_id),
        }
    }
}

/// Something that kept a host's credentials from being brought up to date.
#[derive(Debug)]
pub enum Problem {
    /// No registry in Rancher has this host and AUTO_CREATE is off.
    NoMatchingRegistry { host: RegistryHost },
    /// Only deactivated registries have this host.
    OnlyInactive {
        host: RegistryHost,
        registry_ids: Vec<String>,
    },
    /// The registry's credentials are all deactivated.
    OnlyInactiveCredentials {
        registry_id: String,
        credential_ids: Vec<String>,
    },
    Rancher {
        registry_id: Option<String>,
        error: RancherError,
    },
    /// The source that serves this host got no token (ECR_DISCOVER, the
    /// config file). Only the hosts that need that token are affected.
    Token(TokenFailure),
    /// The host looks like ECR but this daemon cannot serve it.
    Unservable { reason: String },
}

impl Problem {
    pub fn label(&self) -> &'static str {
        match self {
            Problem::NoMatchingRegistry { .. } => "no_matching_registry",
            Problem::OnlyInactive { .. } => "registry_inactive",
            Problem::OnlyInactiveCredentials { .. } => "credential_inactive",
            Problem::Rancher { error, .. } => error.label(),
            Problem::Token(failure) => failure.error.label(),
            Problem::Unservable { .. } => "unservable_host",
        }
    }

    /// Whether trying again soon may help: Rancher failures and passing AWS
    /// trouble, yes; a missing or switched-off registry waits for a person.
    pub fn is_retryable(&self) -> bool {
        match self {
            Problem::Rancher { .. } => true,
            // Throttling or an unreachable endpoint passes; a denied region
            // (another partition, a missing permission) waits for a person,
            // and must not keep every other registry on retry backoff.
            Problem::Token(failure) => failure.error.is_transient(),
            _ => false,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoMatchingRegistry { host } => write!(
                f,
                "no registry in Rancher has the address {host}: add it under \
                 Infrastructure > Registries, or set AUTO_CREATE=true"
            ),
            Problem::OnlyInactive { host, registry_ids } => write!(
                f,
                "the registries for {host} ({}) are deactivated: activate one in Rancher",
                registry_ids.join(", ")
            ),
            Problem::OnlyInactiveCredentials {
                registry_id,
                credential_ids,
            } => write!(
                f,
                "registry {registry_id}: its credentials ({}) are deactivated, so Rancher \
                 uses none: activate one, or remove them to have one created",
                credential_ids.join(", ")
            ),
            Problem::Rancher {
                registry_id: Some(id),
                error,
            } => write!(f, "registry {id}: {error}"),
            Problem::Rancher {
                registry_id: None,
                error,
            } => write!(f, "{error}"),
            Problem::Token(failure) => write!(f, "{failure}"),
            Problem::Unservable { reason } => write!(f, "{reason}"),
        }
    }
}

/// The result of writing one token.
#[derive(Debug)]
pub struct HostOutcome {
    pub host: RegistryHost,
    /// The expiry of the token that was (or was to be) written.
    pub expires_at: Option<std::time::SystemTime>,
    pub changes: Vec<Change>,
    pub problems: Vec<Problem>,
}

impl HostOutcome {
    /// A host nothing could be written for.
    pub fn failed(host: RegistryHost, problem: Problem) -> HostOutcome {
        HostOutcome {
            host,
            expires_at: None,
            changes: Vec::new(),
            problems: vec![problem],
        }
    }

    /// Whether every registry for this host now holds the new token.
    pub fn is_up_to_date(&self) -> bool {
        self.problems.is_empty() && !self.changes.is_empty()
    }
}

/// The numeric part of a Rancher id (`1c12` -> 12): ids grow with creation,
/// and Rancher pulls with the lowest-id active credential (§5).
pub fn id_number(id: &str) -> u64 {
    // "1" + the type's letters + the number (docs/rancher-api.md §2).
    id.strip_prefix('1')
        .and_then(|rest| {
            let digits = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            (digits.len() < rest.len()).then_some(digits)
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The registries for `host`, split into those Rancher uses (live) and those
/// a user switched off (dormant), each in id order.
pub fn matching_registries<'a>(
    host: &RegistryHost,
    registries: &'a [Registry],
) -> (Vec<&'a Registry>, Vec<&'a Registry>) {
    let mut matching: Vec<&Registry> = registries
        .iter()
        .filter(|r| {
            r.server_address
                .as_deref()
                .is_some_and(|address| host.matches_server_address(address))
        })
        .collect();
    matching.sort_by_key(|r| id_number(&r.id));
    let live = matching
        .iter()
        .copied()
        .filter(|r| LIVE_STATES.contains(&r.state.as_str()))
        .collect();
    let dormant = matching
        .into_iter()
        .filter(|r| DORMANT_STATES.contains(&r.state.as_str()))
        .collect();
    (live, dormant)
}

/// The hosts of the registries Rancher uses, in order: what ECR_DISCOVER
/// looks at. One a user switched off was not asked for, so it is not
/// reported either.
pub fn registry_hosts(registries: &[Registry]) -> std::collections::BTreeSet<RegistryHost> {
    registries
        .iter()
        .filter(|r| LIVE_STATES.contains(&r.state.as_str()))
        .filter_map(|r| RegistryHost::parse(r.server_address.as_deref()?).ok())
        .collect()
}

/// The credentials to write: every live one, lowest id (the one Rancher
/// uses) first. Empty means a credential must be created.
pub fn credentials_to_update(credentials: &[Credential]) -> Vec<&Credential> {
    let mut live: Vec<&Credential> = credentials
        .iter()
        .filter(|c| LIVE_STATES.contains(&c.state.as_str()))
        .collect();
    live.sort_by_key(|c| id_number(&c.id));
    live
}

/// What Rancher holds for a token's host, and so what to do.
#[derive(Debug)]
pub enum Assessment<'a> {
    /// Write into these live registries (id order).
    Write(Vec<&'a Registry>),
    /// Only deactivated registries match: leave them, report.
    OnlyInactive(Vec<&'a Registry>),
    /// Nothing matches and AUTO_CREATE is on.
    Create,
    /// Nothing matches and AUTO_CREATE is off: report.
    NoMatch,
}

/// Decides, for the host a token is for, what Rancher's registries call for.
pub fn assess<'a>(
    host: &RegistryHost,
    registries: &'a [Registry],
    policy: &Policy,
) -> Assessment<'a> {
    let (live, dormant) = matching_registries(host, registries);
    if !live.is_empty() {
        Assessment::Write(live)
    } else if !dormant.is_empty() {
        Assessment::OnlyInactive(dormant)
    } else if policy.auto_create {
        Assessment::Create
    } else {
        Assessment::NoMatch
    }
}

/// The Rancher host a token is written for: ECR's, or `ECR_PROXY_HOST`.
pub fn target_host(policy: &Policy, token: &EcrToken) -> RegistryHost {
    policy
        .proxy_host
        .clone()
        .unwrap_or_else(|| token.host.clone())
}

/// Writes one token into every Rancher registry for its host.
pub async fn apply_token(
    rancher: &RancherClient,
    endpoints: &Endpoints,
    policy: &Policy,
    token: &EcrToken,
    registries: &[Registry],
) -> HostOutcome {
    let host = target_host(policy, token);
    let mut outcome = HostOutcome {
        host: host.clone(),
        expires_at: token.expires_at,
        changes: Vec::new(),
        problems: Vec::new(),
    };
    match assess(&host, registries, policy) {
        Assessment::Write(live) => {
            for registry in live {
                write_registry(rancher, endpoints, policy, token, registry, &mut outcome).await;
            }
        }
        Assessment::OnlyInactive(dormant) => outcome.problems.push(Problem::OnlyInactive {
            host,
            registry_ids: dormant.iter().map(|r| r.id.clone()).collect(),
        }),
        Assessment::Create => {
            create_registry(rancher, endpoints, policy, token, &mut outcome).await
        }
        Assessment::NoMatch => outcome.problems.push(Problem::NoMatchingRegistry { host }),
    }
    outcome
}

/// Updates every live credential of `registry`, or creates one if it has
/// none at all. Deactivated credentials are a user's choice: reported, not
/// overridden.
async fn write_registry(
    rancher: &RancherClient,
    endpoints: &Endpoints,
    policy: &Policy,
    token: &EcrToken,
    registry: &Registry,
    outcome: &mut HostOutcome,
) {
    let rancher_problem = |error| Problem::Rancher {
        registry_id: Some(registry.id.clone()),
        error,
    };
    let credentials = match rancher.list_credentials(endpoints, &registry.id).await {
        Ok(credentials) => credentials,
        Err(error) => return outcome.problems.push(rancher_problem(error)),
    };
    if credentials.is_empty() {
        let created = if policy.dry_run {
            Ok(NEW_ID.to_string())
        } else {
            rancher
                .create_credential(endpoints, &registry.id, &token.username, &token.password)
                .await
                .map(|credential| credential.id)
        };
        match created {
            Ok(credential_id) => outcome.changes.push(Change::CreatedCredential {
                registry_id: registry.id.clone(),
                credential_id,
            }),
            Err(error) => outcome.problems.push(rancher_problem(error)),
        }
        return;
    }
    let targets = credentials_to_update(&credentials);
    if targets.is_empty() {
        return outcome.problems.push(Problem::OnlyInactiveCredentials {
            registry_id: registry.id.clone(),
            credential_ids: credentials.iter().map(|c| c.id.clone()).collect(),
        });
    }
    for credential in targets {
        let written = if policy.dry_run {
            Ok(())
        } else {
            rancher
                .update_credential(endpoints, credential, &token.username, &token.password)
                .await
        };
        match written {
            Ok(()) => outcome.changes.push(Change::Updated {
                registry_id: registry.id.clone(),
                credential_id: credential.id.clone(),
            }),
            Err(error) => outcome.problems.push(rancher_problem(error)),
        }
    }
}

/// AUTO_CREATE: registry, then credential. Idempotent: if Rancher says the
/// address is taken (another updater, or a race), the existing registry is
/// written instead of creating a duplicate (§5 `ServerAddressUsed`).
async fn create_registry(
    rancher: &RancherClient,
    endpoints: &Endpoints,
    policy: &Policy,
    token: &EcrToken,
    outcome: &mut HostOutcome,
) {
    if policy.dry_run {
        return outcome.changes.push(Change::CreatedRegistry {
            registry_id: NEW_ID.to_string(),
            credential_id: NEW_ID.to_string(),
        });
    }
    let host = outcome.host.clone();
    let rancher_problem = |registry_id: Option<&str>, error| Problem::Rancher {
        registry_id: registry_id.map(str::to_string),
        error,
    };
    let registry = match rancher.create_registry(endpoints, host.as_str()).await {
        Ok(registry) => registry,
        Err(error) if error.code() == Some("ServerAddressUsed") => {
            let registries = match rancher.list_registries(endpoints).await {
                Ok(registries) => registries,
                Err(e) => return outcome.problems.push(rancher_problem(None, e)),
            };
            let (live, _) = matching_registries(&host, &registries);
            if live.is_empty() {
                return outcome.problems.push(rancher_problem(None, error));
            }
            for existing in live {
                write_registry(rancher, endpoints, policy, token, existing, outcome).await;
            }
            return;
        }
        Err(error) => return outcome.problems.push(rancher_problem(None, error)),
    };
    match rancher
        .create_credential(endpoints, &registry.id, &token.username, &token.password)
        .await
    {
        Ok(credential) => outcome.changes.push(Change::CreatedRegistry {
            registry_id: registry.id,
            credential_id: credential.id,
        }),
        Err(error) => outcome
            .problems
            .push(rancher_problem(Some(&registry.id), error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(id: &str, address: &str, state: &str) -> Registry {
        serde_json::from_value(serde_json::json!({
            "id": id, "serverAddress": address, "state": state
        }))
        .unwrap()
    }

    fn credential(id: &str, state: &str) -> Credential {
        serde_json::from_value(serde_json::json!({
            "id": id, "registryId": "1sp1", "state": state
        }))
        .unwrap()
    }

    #[test]
    fn only_passing_aws_trouble_is_retried() {
        use crate::aws::{AwsFailure, EcrError};
        let token_problem = |kind| {
            Problem::Token(TokenFailure {
                source: "environment".into(),
                region: "cn-north-1".into(),
                error: std::sync::Arc::new(EcrError::Api {
                    kind,
                    message: "x".into(),
                }),
            })
        };
        assert!(token_problem(AwsFailure::Throttled).is_retryable());
        assert!(token_problem(AwsFailure::Unreachable).is_retryable());
        assert!(!token_problem(AwsFailure::Auth).is_retryable());
        assert!(!token_problem(AwsFailure::Other).is_retryable());
        let unservable = Problem::Unservable {
            reason: "vpce".into(),
        };
        assert!(!unservable.is_retryable());
    }

    #[test]
    fn ids_order_numerically() {
        assert_eq!(id_number("1c12"), 12);
        assert_eq!(id_number("1sp105"), 105);
        assert_eq!(id_number("garbage"), u64::MAX);
        assert_eq!(id_number("1c"), u64::MAX);
        assert_eq!(id_number("11"), u64::MAX);
        assert!(id_number("1c9") < id_number("1c10"));
    }

    #[test]
    fn matches_every_form_and_splits_by_state() {
        let host = RegistryHost::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
        let registries = vec![
            registry(
                "1sp10",
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
                "active",
            ),
            registry(
                "1sp9",
                "123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM",
                "registering",
            ),
            registry(
                "1sp3",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "inactive",
            ),
            registry("1sp4", "index.docker.io", "active"),
            registry(
                "1sp5",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "active",
            ),
            registry(
                "1sp6",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "purged",
            ),
        ];
        let (live, dormant) = matching_registries(&host, &registries);
        let ids = |v: Vec<&Registry>| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(live), ["1sp9", "1sp10"]);
        assert_eq!(ids(dormant), ["1sp3"]);
    }

    #[test]
    fn writes_live_credentials_lowest_first() {
        let credentials = vec![
            credential("1c20", "active"),
            credential("1c7", "inactive"),
            credential("1c11", "active"),
            credential("1c30", "removed"),
        ];
        let ids: Vec<&str> = credentials_to_update(&credentials)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["1c11", "1c20"]);
        assert!(credentials_to_update(&[credential("1c1", "inactive")]).is_empty());
    }
}
