//! What went wrong talking to a cluster, classified once: the HTTP status
//! the API server answered (its `Status` body's code), or that it could not
//! be reached at all. Callers decide on the class (a `403` is reported for
//! its namespace and not retried with backoff, a `409`/`422` re-reads, a
//! `404` means "not there"), and metrics count it by [`KubeError::label`].
//!
//! The message kept is the server's own `Status.message` (or kube's error
//! text), made [`printable`]: the API server never echoes a bearer token,
//! and kube's errors name URLs and causes, not credentials.

use crate::printable::printable;

/// One failed request to the API server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{doing}: {detail}")]
pub struct KubeError {
    /// What we were doing: `listing namespaces`, `creating Secret team-a/ecr`.
    pub doing: String,
    /// The HTTP status, when the server answered one.
    pub status: Option<u16>,
    /// Why, as the server (or the client) said it, printable.
    pub detail: String,
}

impl KubeError {
    /// Classifies `err`, which happened while `doing`.
    pub fn new(doing: impl Into<String>, err: &kube::Error) -> KubeError {
        let (status, detail) = match err {
            kube::Error::Api(status) => {
                let reason = match status.reason.as_str() {
                    "" => String::new(),
                    reason => format!(" {reason}"),
                };
                (
                    Some(status.code),
                    format!("{}{reason}: {}", status.code, status.message),
                )
            }
            other => (None, other.to_string()),
        };
        KubeError {
            doing: doing.into(),
            status,
            detail: printable(&detail),
        }
    }

    /// A request that did not finish within `limit`.
    pub fn timed_out(doing: impl Into<String>, limit: std::time::Duration) -> KubeError {
        KubeError {
            doing: doing.into(),
            status: None,
            detail: format!("no answer within {}", humantime::format_duration(limit)),
        }
    }

    /// A short cause label, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self.status {
            None => "kubernetes_unreachable",
            Some(401) => "kubernetes_auth",
            Some(403) => "kubernetes_forbidden",
            Some(409) => "kubernetes_conflict",
            Some(422) => "kubernetes_invalid",
            Some(_) => "kubernetes_http",
        }
    }

    /// The object is not there (404).
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }

    /// RBAC (or admission) refused it: retrying soon will not help.
    pub fn is_forbidden(&self) -> bool {
        self.status == Some(403)
    }

    /// Creating in a namespace that is being deleted (403 whose message
    /// says so): the namespace is skipped, not failed.
    pub fn is_namespace_terminating(&self) -> bool {
        self.is_forbidden() && self.detail.contains("because it is being terminated")
    }

    /// Whether trying again soon (with backoff) may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self.status, Some(400 | 403 | 404 | 422))
    }
}

/// Runs `request`, bounded by `limit`, classifying a failure as `doing`.
pub async fn bounded<T>(
    doing: impl FnOnce() -> String,
    limit: std::time::Duration,
    request: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeError> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(KubeError::new(doing(), &err)),
        Err(_) => Err(KubeError::timed_out(doing(), limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn classified_by_status() {
        let forbidden = KubeError::new(
            "creating Secret team-a/ecr",
            &api(
                403,
                "Forbidden",
                "secrets \"ecr\" is forbidden: User \"x\" cannot create",
            ),
        );
        assert!(forbidden.is_forbidden() && !forbidden.is_retryable());
        assert_eq!(forbidden.label(), "kubernetes_forbidden");
        assert!(!forbidden.is_namespace_terminating());
        assert!(forbidden
            .to_string()
            .starts_with("creating Secret team-a/ecr: 403 Forbidden"));
        let terminating = KubeError::new(
            "creating",
            &api(
                403,
                "Forbidden",
                "secrets \"ecr\" is forbidden: unable to create new content in namespace t \
                 because it is being terminated",
            ),
        );
        assert!(terminating.is_namespace_terminating());
        let gone = KubeError::new("getting", &api(404, "NotFound", "not found\nforged"));
        assert!(gone.is_not_found());
        assert!(!gone.detail.contains('\n'), "printable: {}", gone.detail);
        assert!(KubeError::new("x", &api(503, "", "down")).is_retryable());
        let late = KubeError::timed_out("listing namespaces", std::time::Duration::from_secs(30));
        assert_eq!(late.label(), "kubernetes_unreachable");
        assert!(late.is_retryable());
    }
}
