//! What reconciling one token did: the changes made ([`Change`]), what
//! kept a host from being brought up to date ([`Problem`], each with what to
//! do about it and a metric label), per host ([`HostOutcome`]).

use std::fmt;

use crate::daemon::rancher::RancherError;
use crate::daemon::sources::TokenFailure;
use crate::registry_host::RegistryHost;

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
