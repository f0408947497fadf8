//! Serving one namespace: its pull Secret, then its ServiceAccounts. Used
//! by the cycle for every served namespace and by the watches for one that
//! an event touched, with the same rendered Secret.
//!
//! Each step reads first and writes only what differs, so a steady
//! namespace costs reads and no write:
//! - the Secret is created when absent, replaced (guarded by its
//!   resourceVersion) when ours and different, left alone when someone
//!   else's (a conflict), and left alone when ours but of another type
//!   (which the API server never changes in place: reported);
//! - each listed ServiceAccount that exists gets the guarded JSON patch of
//!   `service_account::change_for`; a 409 or 422 means someone wrote in
//!   between, so it is read and decided again, a bounded number of times.
//!   One that does not exist yet (a namespace's `default` arrives a moment
//!   after the namespace) is not an error: its watch event brings it here.
//!
//! A dry run reads and decides, and writes nothing.

use kube::Client;
use serde_json::Value;

use super::cluster::{
    create_secret, existing, get_secret, get_service_account, list_service_accounts,
    patch_service_account, replace_secret, secret_to_write,
};
use super::error::KubeError;
use super::pull_secret::{PullSecret, SecretAction, SecretConflict};
use super::service_account::{change_for, retryable, PullSecretsChange, MAX_ATTEMPTS};
use super::ServiceAccounts;

/// What serving one namespace needs besides the namespace.
#[derive(Clone, Copy)]
pub struct Work<'a> {
    pub client: &'a Client,
    pub secret_name: &'a str,
    pub service_accounts: &'a ServiceAccounts,
    pub dry_run: bool,
}

/// How serving a namespace ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceOutcome {
    /// Everything holds the current Secret; `changes` says what was
    /// written for that (empty: nothing needed to be).
    Served { changes: Vec<String> },
    /// A dry run: what would be written.
    Planned { changes: Vec<String> },
    /// A Secret of our name that is not ours: left as it is.
    Conflict(String),
    /// Being deleted: skipped, not served.
    Terminating,
    /// Something kept it from being served.
    Failed {
        reason: String,
        /// The cause label, for metrics.
        label: &'static str,
        /// Whether trying again soon may help (not a 403 or a 422).
        retryable: bool,
    },
}

impl NamespaceOutcome {
    fn failed(err: &KubeError) -> NamespaceOutcome {
        NamespaceOutcome::Failed {
            reason: err.to_string(),
            label: err.label(),
            retryable: err.is_retryable(),
        }
    }

    /// Whether the namespace holds the current Secret (a dry run counts).
    pub fn is_fresh(&self) -> bool {
        matches!(
            self,
            NamespaceOutcome::Served { .. } | NamespaceOutcome::Planned { .. }
        )
    }
}

/// Serves `namespace` with `wanted`.
pub async fn serve_namespace(
    work: Work<'_>,
    namespace: &str,
    wanted: &PullSecret,
) -> NamespaceOutcome {
    let mut changes = Vec::new();
    match serve_secret(work, namespace, wanted, &mut changes).await {
        Ok(None) => {}
        Ok(Some(stop)) => return stop,
        Err(err) if err.is_namespace_terminating() => return NamespaceOutcome::Terminating,
        Err(err) => return NamespaceOutcome::failed(&err),
    }
    if let Err(err) = serve_service_accounts(work, namespace, &mut changes).await {
        return NamespaceOutcome::failed(&err);
    }
    match work.dry_run {
        true => NamespaceOutcome::Planned { changes },
        false => NamespaceOutcome::Served { changes },
    }
}

/// The Secret: `Some` outcome when the namespace stops here.
async fn serve_secret(
    work: Work<'_>,
    namespace: &str,
    wanted: &PullSecret,
    changes: &mut Vec<String>,
) -> Result<Option<NamespaceOutcome>, KubeError> {
    let name = work.secret_name;
    for _ in 0..MAX_ATTEMPTS {
        let found = get_secret(work.client, namespace, name).await?;
        let action = wanted.judge(found.as_ref().map(existing).as_ref());
        let result = match action {
            SecretAction::UpToDate => return Ok(None),
            SecretAction::Foreign { managed_by } => {
                let conflict = SecretConflict::new(namespace, name, managed_by.as_deref());
                return Ok(Some(NamespaceOutcome::Conflict(conflict.to_string())));
            }
            SecretAction::Recreate => {
                let found_type = found.as_ref().and_then(|s| s["type"].as_str());
                return Ok(Some(NamespaceOutcome::Failed {
                    reason: format!(
                        "Secret {namespace}/{name} is ours but of type {:?}, which cannot be \
                         changed in place: delete it and it is created again",
                        crate::printable::printable(found_type.unwrap_or("Opaque"))
                    ),
                    label: "kubernetes_secret_type",
                    retryable: false,
                }));
            }
            SecretAction::Create => write(work, namespace, wanted, None, changes).await,
            SecretAction::Update => write(work, namespace, wanted, found.as_ref(), changes).await,
        };
        match result {
            // Created meanwhile (409 AlreadyExists) or changed since read
            // (409 Conflict): read again and decide again.
            Err(err) if err.status == Some(409) => continue,
            other => return other.map(|()| None),
        }
    }
    Err(KubeError {
        doing: format!("writing Secret {namespace}/{name}"),
        status: Some(409),
        detail: format!("it kept changing under us ({MAX_ATTEMPTS} attempts)"),
    })
}

async fn write(
    work: Work<'_>,
    namespace: &str,
    wanted: &PullSecret,
    found: Option<&Value>,
    changes: &mut Vec<String>,
) -> Result<(), KubeError> {
    let secret = secret_to_write(wanted, namespace, work.secret_name, found);
    let verb = match found {
        None => "create",
        Some(_) => "replace",
    };
    changes.push(format!("{verb} Secret {}", work.secret_name));
    if work.dry_run {
        return Ok(());
    }
    match found {
        None => create_secret(work.client, namespace, &secret).await,
        Some(_) => replace_secret(work.client, namespace, &secret).await,
    }
    .inspect_err(|_| {
        changes.pop();
    })
}

/// The ServiceAccounts the target names, each patched if it needs to be.
async fn serve_service_accounts(
    work: Work<'_>,
    namespace: &str,
    changes: &mut Vec<String>,
) -> Result<(), KubeError> {
    let accounts: Vec<Value> = match work.service_accounts {
        ServiceAccounts::None => return Ok(()),
        ServiceAccounts::All => list_service_accounts(work.client, namespace).await?,
        ServiceAccounts::Named(names) => {
            let mut found = Vec::new();
            for name in names {
                found.extend(get_service_account(work.client, namespace, name).await?);
            }
            found
        }
    };
    for account in accounts {
        let Some(name) = account.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        if let Some(change) = serve_service_account(work, namespace, name, account.clone()).await? {
            changes.push(change);
        }
    }
    Ok(())
}

/// One ServiceAccount, as read in `account`: patched until it names the
/// Secret; what was done, if anything.
async fn serve_service_account(
    work: Work<'_>,
    namespace: &str,
    name: &str,
    mut account: Value,
) -> Result<Option<String>, KubeError> {
    for attempt in 1..=MAX_ATTEMPTS {
        let resource_version = account
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let change = change_for(
            account.get("imagePullSecrets"),
            resource_version,
            work.secret_name,
        )
        .map_err(|err| KubeError {
            doing: format!("reading ServiceAccount {namespace}/{name}"),
            status: Some(422),
            detail: err.to_string(),
        })?;
        let PullSecretsChange::Patch(patch) = change else {
            return Ok(None);
        };
        let done = format!("name Secret {} in ServiceAccount {name}", work.secret_name);
        if work.dry_run {
            return Ok(Some(done));
        }
        match patch_service_account(work.client, namespace, name, &patch).await {
            Ok(()) => return Ok(Some(done)),
            Err(err) if err.status.is_some_and(retryable) && attempt < MAX_ATTEMPTS => {
                match get_service_account(work.client, namespace, name).await? {
                    Some(again) => account = again,
                    None => return Ok(None),
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}
