//! Naming our pull Secret in a ServiceAccount's `imagePullSecrets`, so
//! that its pods pull with it without naming it themselves.
//!
//! The change is a JSON patch (RFC 6902) that appends `{"name": <secret>}`
//! and keeps every other entry as it is, guarded so that it applies only to
//! the list it was decided from: a concurrent writer (another controller, a
//! person with kubectl, a second replica) makes the guard fail, and the
//! caller reads the ServiceAccount again and decides again (HTTP 409 or
//! 422, [`retryable`]), so no entry is lost and ours is never added twice.
//!
//! The guard depends on what was read, since a JSON patch cannot test that
//! a member is absent and `add` on `/imagePullSecrets/-` fails without a
//! list:
//! - a list (empty or not): `test` the whole list, then `add` to its end;
//! - `null`: `test` the null, then `add` the list of our entry (an `add` on
//!   an existing member replaces it);
//! - absent: `test` `/metadata/resourceVersion`, then `add` the list.

use serde_json::{json, Value};

/// The statuses after which a guarded patch is decided and sent again: the
/// object changed since it was read (409 Conflict), or a `test` failed
/// (422 Unprocessable Entity).
pub const RETRY_STATUSES: [u16; 2] = [409, 422];
/// How often one ServiceAccount is tried in one cycle, at most.
pub const MAX_ATTEMPTS: u32 = 5;

/// Whether a patch that failed with `status` is worth deciding again.
pub fn retryable(status: u16) -> bool {
    RETRY_STATUSES.contains(&status)
}

/// What a ServiceAccount needs.
#[derive(Debug, Clone, PartialEq)]
pub enum PullSecretsChange {
    /// It names our Secret already.
    UpToDate,
    /// This JSON patch (an array of operations) names it.
    Patch(Value),
}

/// A ServiceAccount whose `imagePullSecrets` is not what the API allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("its imagePullSecrets is {found}, not a list: left as it is")]
pub struct UnexpectedPullSecrets {
    found: &'static str,
}

/// The change that makes a ServiceAccount name `secret_name`, given its
/// `imagePullSecrets` as read (`None`: the field is absent) and its
/// `metadata.resourceVersion`.
pub fn change_for(
    image_pull_secrets: Option<&Value>,
    resource_version: &str,
    secret_name: &str,
) -> Result<PullSecretsChange, UnexpectedPullSecrets> {
    let ours = json!({ "name": secret_name });
    let patch = match image_pull_secrets {
        None => json!([
            { "op": "test", "path": "/metadata/resourceVersion", "value": resource_version },
            { "op": "add", "path": "/imagePullSecrets", "value": [ours] },
        ]),
        Some(Value::Null) => json!([
            { "op": "test", "path": "/imagePullSecrets", "value": null },
            { "op": "add", "path": "/imagePullSecrets", "value": [ours] },
        ]),
        Some(Value::Array(entries)) => {
            let ours_already =
                |entry: &Value| entry.get("name").and_then(Value::as_str) == Some(secret_name);
            if entries.iter().any(ours_already) {
                return Ok(PullSecretsChange::UpToDate);
            }
            json!([
                { "op": "test", "path": "/imagePullSecrets", "value": entries },
                { "op": "add", "path": "/imagePullSecrets/-", "value": ours },
            ])
        }
        Some(other) => {
            return Err(UnexpectedPullSecrets {
                found: match other {
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::String(_) => "a string",
                    _ => "an object",
                },
            })
        }
    };
    Ok(PullSecretsChange::Patch(patch))
}

#[cfg(test)]
mod tests;
