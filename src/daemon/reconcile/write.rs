//! Writing a token into Rancher: every live credential of every live
//! registry for its host, a credential created where a registry has none,
//! and (AUTO_CREATE) the registry itself. Nothing is written in a dry run;
//! the decisions come from the parent module.

use super::{assess, credentials_to_update, matching_registries, target_host, Assessment};
use super::{Change, HostOutcome, Policy, Problem, NEW_ID};
use crate::aws::EcrToken;
use crate::daemon::rancher::{Endpoints, RancherClient, Registry};

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
