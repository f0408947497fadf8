//! The image pull Secret a Kubernetes target keeps in each namespace, and
//! whether one found there is ours, up to date, or someone else's.
//!
//! The Secret is of type `kubernetes.io/dockerconfigjson` with the one key
//! `.dockerconfigjson`: `{"auths": {"<host>": {"username", "password",
//! "auth"}}}`, one entry per registry host (bare, no scheme), `auth` being
//! base64 of `username:password`, as the kubelet reads it. It is labelled
//! `app.kubernetes.io/managed-by=rancher-ecr-credentials`, which is what
//! makes it ours: a Secret of the same name without that label is left as
//! it is and reported as a conflict, never overwritten. Its annotation
//! `rancher-ecr-credentials/expires-at` says when the earliest of its
//! tokens expires (RFC 3339).
//!
//! A refresh that would change nothing writes nothing: the contents are
//! compared as JSON, so a Secret written by another version of us, with
//! its keys in another order, counts as up to date. The rendered contents
//! hold tokens, so they live in a [`Secret`] and no `Debug` shows them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::aws::token::EcrToken;
use crate::printable::printable;
use crate::registry_host::RegistryHost;
use crate::secret::Secret;

/// The Secret type the kubelet reads Docker logins from.
pub const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The one data key of that type.
pub const DATA_KEY: &str = ".dockerconfigjson";
/// The label that makes a Secret ours, and its value.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "rancher-ecr-credentials";
/// When the earliest token of the Secret expires (RFC 3339).
pub const EXPIRES_AT_ANNOTATION: &str = "rancher-ecr-credentials/expires-at";

/// One registry's Docker login, to go into the Secret.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    pub host: &'a RegistryHost,
    pub username: &'a str,
    pub password: &'a Secret,
    pub expires_at: Option<SystemTime>,
}

impl<'a> Login<'a> {
    /// `token`'s login, for `host` (a token serves every host of its
    /// source in its region, not only the one it was issued for).
    pub fn new(host: &'a RegistryHost, token: &'a EcrToken) -> Login<'a> {
        Login {
            host,
            username: &token.username,
            password: &token.password,
            expires_at: token.expires_at,
        }
    }
}

/// The Secret we want in a namespace: contents, labels, annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecret {
    /// The `.dockerconfigjson` bytes (UTF-8 JSON), tokens and all.
    config_json: Secret,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The hosts it has a login for, in order.
    pub hosts: Vec<RegistryHost>,
    /// The earliest expiry of its tokens, if any said.
    pub expires_at: Option<SystemTime>,
}

/// A Secret of the wanted name as found in a namespace. Its data may hold
/// tokens (ours or someone else's), so `Debug` shows only its keys.
#[derive(Clone, Default)]
pub struct ExistingSecret {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `type`; `None` is `Opaque` to the API server.
    pub secret_type: Option<String>,
    /// `data`, decoded from base64.
    pub data: BTreeMap<String, Vec<u8>>,
}

/// What to do about the Secret in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretAction {
    /// There is none: create it.
    Create,
    /// Ours, and it already says what we would write: write nothing.
    UpToDate,
    /// Ours, with other contents: replace its data and our annotation,
    /// keeping the labels and annotations others gave it.
    Update,
    /// Ours, but of another type, which the API server never changes in
    /// place: delete it and create it.
    Recreate,
    /// Not ours: leave it, and report the conflict.
    Foreign {
        /// Its `app.kubernetes.io/managed-by`, if it has one.
        managed_by: Option<String>,
    },
}

impl PullSecret {
    /// The Secret holding these logins. A host given twice keeps its first.
    pub fn render(logins: &[Login<'_>]) -> PullSecret {
        let mut auths = Map::new();
        let mut hosts = Vec::new();
        for login in logins {
            if auths.contains_key(login.host.as_str()) {
                continue;
            }
            let pair = format!("{}:{}", login.username, login.password.expose());
            let auth = base64::engine::general_purpose::STANDARD.encode(pair);
            auths.insert(
                login.host.as_str().to_string(),
                json!({
                    "username": login.username,
                    "password": login.password.expose(),
                    "auth": auth,
                }),
            );
            hosts.push(login.host.clone());
        }
        let expires_at = logins.iter().filter_map(|l| l.expires_at).min();
        let labels = BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())]);
        let annotations = expires_at
            .map(|at| {
                let at = humantime::format_rfc3339_seconds(at).to_string();
                (EXPIRES_AT_ANNOTATION.to_string(), at)
            })
            .into_iter()
            .collect();
        PullSecret {
            config_json: Secret::new(json!({ "auths": auths }).to_string()),
            labels,
            annotations,
            hosts,
            expires_at,
        }
    }

    /// The `.dockerconfigjson` contents. Only for putting them on the wire.
    pub fn config_json(&self) -> &Secret {
        &self.config_json
    }

    /// What to do, given the Secret of our name in the namespace, if any.
    pub fn judge(&self, existing: Option<&ExistingSecret>) -> SecretAction {
        let Some(existing) = existing else {
            return SecretAction::Create;
        };
        let managed_by = existing.labels.get(MANAGED_BY_LABEL);
        if managed_by.map(String::as_str) != Some(MANAGED_BY) {
            return SecretAction::Foreign {
                managed_by: managed_by.map(|by| printable(by)),
            };
        }
        if existing.secret_type.as_deref() != Some(SECRET_TYPE) {
            return SecretAction::Recreate;
        }
        let same_data = existing.data.len() == 1
            && existing.data.get(DATA_KEY).is_some_and(|bytes| {
                serde_json::from_slice::<Value>(bytes).ok()
                    == serde_json::from_str::<Value>(self.config_json.expose()).ok()
            });
        let expiry = |annotations: &BTreeMap<String, String>| {
            annotations.get(EXPIRES_AT_ANNOTATION).cloned()
        };
        if same_data && expiry(&existing.annotations) == expiry(&self.annotations) {
            SecretAction::UpToDate
        } else {
            SecretAction::Update
        }
    }
}

impl fmt::Debug for ExistingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExistingSecret")
            .field("labels", &self.labels)
            .field("annotations", &self.annotations)
            .field("secret_type", &self.secret_type)
            .field("data_keys", &self.data.keys().collect::<BTreeSet<_>>())
            .finish()
    }
}

/// A Secret of our name that is not ours, named for the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Secret {namespace}/{name} exists and is not managed by rancher-ecr-credentials ({why}): \
     it is left as it is; delete it, or set the target's secret_name to another name"
)]
pub struct SecretConflict {
    pub namespace: String,
    pub name: String,
    why: String,
}

impl SecretConflict {
    pub fn new(namespace: &str, name: &str, managed_by: Option<&str>) -> SecretConflict {
        let why = match managed_by {
            Some(by) => format!("its label {MANAGED_BY_LABEL} is {:?}", printable(by)),
            None => format!("it has no label {MANAGED_BY_LABEL}={MANAGED_BY}"),
        };
        SecretConflict {
            namespace: printable(namespace),
            name: printable(name),
            why,
        }
    }
}

#[cfg(test)]
mod tests;
