//! What can go wrong talking to Rancher, each with what to do about it.
//!
//! One enum for the whole client, so callers match on a cause (and count it
//! with [`RancherError::label`]) instead of on message text. Messages name
//! the URL and the setting a user must change; they never hold the secret
//! key (it travels only in the `Authorization` header).

use reqwest::Method;

/// A Rancher API failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RancherError {
    #[error("Rancher at {url} is unreachable: {detail}; {hint}")]
    Unreachable {
        url: String,
        detail: String,
        hint: &'static str,
    },
    #[error(
        "Rancher rejected the API key (401) for {url}: check CATTLE_ACCESS_KEY/CATTLE_SECRET_KEY"
    )]
    Unauthorized { url: String },
    #[error(
        "Rancher refused {method} {url} (403 {code}): the API key has no access to that \
         environment; use a key of the environment CATTLE_URL points at"
    )]
    Forbidden {
        method: Method,
        url: String,
        code: String,
    },
    #[error("Rancher answered {method} {url} with {status} {code}{detail}{hint}",
        detail = describe(message, field_name), hint = hint_for(*status, message))]
    Http {
        method: Method,
        url: String,
        status: u16,
        code: String,
        message: Option<String>,
        field_name: Option<String>,
    },
    #[error("{url} is not a usable Rancher API endpoint: {reason}")]
    NotRancher { url: String, reason: String },
    /// The key may read but not write registry credentials there (a
    /// readonly member, an unscoped account key).
    #[error("{url}: the API key may not write registry credentials there: {reason}")]
    NotWritable { url: String, reason: String },
    #[error("Rancher's answer to {url} is unusable: {reason}")]
    BadResponse { url: String, reason: String },
    #[error("cannot set up the HTTP client for Rancher: {reason}")]
    Client { reason: String },
}

impl RancherError {
    /// A short cause label, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            RancherError::Unreachable { .. } => "rancher_unreachable",
            RancherError::Unauthorized { .. } | RancherError::Forbidden { .. } => "rancher_auth",
            RancherError::Http { .. } => "rancher_http",
            RancherError::NotRancher { .. } => "rancher_not_api",
            RancherError::NotWritable { .. } => "rancher_not_writable",
            RancherError::BadResponse { .. } => "rancher_bad_response",
            RancherError::Client { .. } => "rancher_client",
        }
    }

    /// Whether the key lacks the right to write there (as opposed to a
    /// failure that may pass): such an environment is skipped, not retried.
    pub fn is_not_writable(&self) -> bool {
        matches!(
            self,
            RancherError::NotWritable { .. } | RancherError::Forbidden { .. }
        )
    }

    /// The Rancher error code, e.g. `ServerAddressUsed`.
    pub fn code(&self) -> Option<&str> {
        match self {
            RancherError::Http { code, .. } | RancherError::Forbidden { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn describe(message: &Option<String>, field_name: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(message) = message.as_deref().filter(|m| !m.is_empty()) {
        out.push_str(&format!(": {message}"));
    }
    if let Some(field) = field_name {
        out.push_str(&format!(" (field {field})"));
    }
    out
}

fn hint_for(status: u16, message: &Option<String>) -> &'static str {
    let not_updatable = message
        .as_deref()
        .is_some_and(|m| m.contains("not updatable") || m.contains("not creatable"));
    if not_updatable || status == 405 {
        "; the API key may not write registry credentials: use an environment API key, or \
         run the container with the io.rancher.container.create_agent=true and \
         io.rancher.container.agent.role=environment labels"
    } else {
        ""
    }
}

/// A request that got no HTTP answer, with the likely fix.
pub(super) fn unreachable(
    url: &reqwest::Url,
    detail: String,
    certificate_rejected: bool,
) -> RancherError {
    let hint = if certificate_rejected {
        "Rancher's TLS certificate is not trusted: give its CA with --ca-file (CA_FILE), or \
         a complete bundle in SSL_CERT_FILE"
    } else {
        "check CATTLE_URL, the network and HTTP(S)_PROXY/NO_PROXY"
    };
    RancherError::Unreachable {
        url: url.to_string(),
        detail,
        hint,
    }
}
