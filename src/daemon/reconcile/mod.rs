//! Reconcile: decide which Rancher registry credentials an ECR token belongs
//! in, then write it there.
//!
//! The decisions ([`matching_registries`], [`credentials_to_update`]) are
//! pure functions over what Rancher listed; [`apply_token`] does the I/O and
//! reports, per registry host, what changed and what went wrong. One host's
//! or one registry's failure never stops the others.

mod outcome;
mod write;

pub use outcome::{Change, HostOutcome, Problem};
pub use write::apply_token;

use crate::aws::EcrToken;
use crate::daemon::rancher::{Credential, Registry};
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
        use crate::daemon::sources::TokenFailure;
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
