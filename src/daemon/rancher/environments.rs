//! Many environments with one account key (docs/rancher-api.md §2 "Account
//! keys and many environments"): list the environments the key may see,
//! choose the ones `RANCHER_ENVIRONMENTS` names, and discover each one's
//! collections with every request scoped to it.
//!
//! Scoping is by URL prefix (`/v2-beta/projects/<id>/…`, so every link the
//! server generates carries it) and by the `X-API-Project-Id` header as
//! well: nothing is ever written through an unscoped request, which an
//! account key would run in its own account, or with access control off in
//! every environment at once; and each environment's schemas must say they
//! were read in it (`X-API-Account-Id`).
//!
//! The environment list is read whole, as every listing is (`listing.rs`):
//! past its limits it is an error, never a shorter list, since environments
//! missing from it would go unserved without a word.

use std::collections::BTreeMap;

use reqwest::{Method, Url};
use serde::Deserialize;

use super::discovery::Endpoints;
use super::transport::{account_header, check_acted_in};
use super::wire::{decode, Collection, Schema};
use super::{RancherClient, RancherError};

/// An environment (a Rancher project) as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: String,
    /// `cattle`, `kubernetes`, `windows`, `swarm` or `mesos`.
    #[serde(default)]
    pub orchestration: Option<String>,
}

/// Which environments to serve (`RANCHER_ENVIRONMENTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every environment the key may see.
    All,
    /// These names or ids, as given.
    Named(Vec<String>),
}

/// An environment left out this cycle, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The id when the environment exists, else what the selection said.
    pub id: String,
    pub name: Option<String>,
    pub orchestration: Option<String>,
    pub reason: String,
    /// Named explicitly in the selection (so it makes /healthz red), as
    /// opposed to merely listed under `all`.
    pub named: bool,
}

/// The outcome of choosing: the environments to serve, and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chosen {
    pub serve: Vec<Environment>,
    pub skipped: Vec<Skipped>,
}

/// Chooses the environments to serve from those listed. A name matches
/// exactly; an id wins over a name; a name several environments share is
/// ambiguous and skipped (use the id). Only active environments are served.
pub fn choose(listed: &[Environment], selection: &Selection) -> Chosen {
    let mut chosen = Chosen::default();
    let take = |environment: &Environment, named: bool, chosen: &mut Chosen| {
        if chosen.serve.iter().any(|e| e.id == environment.id) {
            return;
        }
        if environment.state == "active" {
            chosen.serve.push(environment.clone());
        } else {
            chosen.skipped.push(Skipped {
                id: environment.id.clone(),
                name: Some(environment.name.clone()),
                orchestration: environment.orchestration.clone(),
                reason: format!("the environment is {}, not active", environment.state),
                named,
            });
        }
    };
    match selection {
        Selection::All => {
            for environment in listed {
                take(environment, false, &mut chosen);
            }
        }
        Selection::Named(wanted) => {
            for want in wanted {
                if let Some(environment) = listed.iter().find(|e| &e.id == want) {
                    take(environment, true, &mut chosen);
                    continue;
                }
                let named: Vec<&Environment> = listed.iter().filter(|e| &e.name == want).collect();
                match named.as_slice() {
                    [environment] => take(environment, true, &mut chosen),
                    [] => chosen.skipped.push(Skipped {
                        id: want.clone(),
                        name: None,
                        orchestration: None,
                        reason: format!(
                            "no environment has the name or id {want:?} for this API key"
                        ),
                        named: true,
                    }),
                    several => chosen.skipped.push(Skipped {
                        id: want.clone(),
                        name: Some(want.clone()),
                        orchestration: None,
                        reason: format!(
                            "{} environments are named {want:?} ({}): name it by id",
                            several.len(),
                            several
                                .iter()
                                .map(|e| e.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        named: true,
                    }),
                }
            }
        }
    }
    chosen
}

/// What the environment list says about the key, remembered between cycles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyKind {
    /// An admin sees every environment only when asking with `?all=true`.
    pub admin: bool,
}

impl RancherClient {
    /// The v2-beta API root of this Rancher, whatever CATTLE_URL's form
    /// (`http://host:8080`, `…/v1`, `…/v2-beta`, behind a path prefix).
    fn v2_root(&self) -> Result<Url, RancherError> {
        let path = self.base.path().trim_end_matches('/');
        let prefix = path
            .strip_suffix("/v2-beta")
            .or_else(|| path.strip_suffix("/v1"))
            .unwrap_or(path);
        self.rebase(&format!("{prefix}/v2-beta/"))
    }

    /// Every environment the key may see, all pages. An admin key asks again
    /// with `?all=true` the first time it is recognized (a member-only list
    /// would hide most environments from it); `kind` remembers that, and
    /// so the list must say whose key it is (`X-API-Account-Kind`).
    pub async fn list_environments(
        &self,
        kind: &mut Option<KeyKind>,
    ) -> Result<Vec<Environment>, RancherError> {
        let url = self
            .v2_root()?
            .join("projects")
            .map_err(|err| RancherError::BadResponse {
                url: self.base.to_string(),
                reason: format!("cannot form the environments URL: {err}"),
            })?;
        loop {
            let mut list_url = url.clone();
            if kind.is_some_and(|k| k.admin) {
                list_url.query_pairs_mut().append_pair("all", "true");
            }
            let listing = self.list_all(list_url.clone(), None, None).await?;
            let key_kind = account_header(&list_url, &listing.headers, "X-API-Account-Kind")?;
            let admin = key_kind == "admin";
            let first_time = kind.is_none();
            *kind = Some(KeyKind { admin });
            if admin && first_time {
                continue;
            }
            let environments: BTreeMap<String, Environment> = (listing.items.into_iter())
                .map(|environment: Environment| (environment.id.clone(), environment))
                .collect();
            return Ok(environments.into_values().collect());
        }
    }

    /// The collections of one environment, every request scoped to it.
    pub async fn discover_environment(&self, id: &str) -> Result<Endpoints, RancherError> {
        let url = self
            .v2_root()?
            .join(&format!("projects/{id}/schemas"))
            .map_err(|err| RancherError::BadResponse {
                url: self.base.to_string(),
                reason: format!("cannot form the schemas URL of environment {id}: {err}"),
            })?;
        let answer = self.send(Method::GET, &url, Some(id), None).await?;
        check_acted_in(&url, &answer.headers, id)?;
        let schemas: Collection<Schema> = decode(&url, &answer.body)?;
        let (registries, credentials, email_required) = self.collections(&schemas.data)?;
        let scoped = format!("/projects/{id}/");
        for collection in [&registries, &credentials] {
            if !collection.path().contains(&scoped) {
                return Err(RancherError::BadResponse {
                    url: url.to_string(),
                    reason: format!(
                        "its collection link {collection} is not scoped to environment {id}"
                    ),
                });
            }
        }
        Ok(Endpoints {
            registries,
            credentials,
            project_id: Some(id.to_string()),
            environment_id: Some(id.to_string()),
            email_required,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(id: &str, name: &str, state: &str) -> Environment {
        Environment {
            id: id.into(),
            name: name.into(),
            state: state.into(),
            orchestration: Some("cattle".into()),
        }
    }

    fn ids(environments: &[Environment]) -> Vec<&str> {
        environments.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn all_serves_the_active_ones_and_lists_the_rest() {
        let listed = [
            env("1a5", "Default", "active"),
            env("1a7", "old", "inactive"),
        ];
        let chosen = choose(&listed, &Selection::All);
        assert_eq!(ids(&chosen.serve), ["1a5"]);
        assert_eq!(chosen.skipped.len(), 1);
        assert!(!chosen.skipped[0].named);
        assert!(chosen.skipped[0].reason.contains("inactive"));
    }

    #[test]
    fn names_and_ids_exactly_and_ambiguity_is_reported() {
        let listed = [
            env("1a5", "Default", "active"),
            env("1a9", "prod", "active"),
            env("1a10", "prod", "active"),
            env("1a11", "k8s", "active"),
        ];
        let wanted = ["Default", "prod", "1a11", "default", "1a11"];
        let selection = Selection::Named(wanted.iter().map(|s| s.to_string()).collect());
        let chosen = choose(&listed, &selection);
        assert_eq!(ids(&chosen.serve), ["1a5", "1a11"]);
        let reasons: Vec<&str> = chosen.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("2 environments are named \"prod\" (1a9, 1a10)"));
        assert!(reasons[1].contains("no environment has the name or id \"default\""));
        assert!(chosen.skipped.iter().all(|s| s.named));
    }
}
