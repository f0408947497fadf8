//! Errors as the apiserver words them: a `Status` body (`kind: Status`,
//! `apiVersion: v1`, `status: Failure`, message, reason, details, code) with
//! the exact messages of docs/kubernetes-api.md §3, so that a
//! client's error handling is tested against the real strings.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::kinds::Resource;

/// A failed request: the Status to send.
#[derive(Debug, Clone)]
pub struct KubeError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
    /// Sent as the `Retry-After` header and `details.retryAfterSeconds`.
    pub retry_after: Option<u64>,
}

/// One entry of `details.causes`.
pub fn cause(reason: &str, message: &str, field: &str) -> Value {
    json!({"reason": reason, "message": message, "field": field})
}

fn details(resource: Resource, name: &str) -> Value {
    let mut details = Map::new();
    if !name.is_empty() {
        details.insert("name".into(), json!(name));
    }
    if !resource.group().is_empty() {
        details.insert("group".into(), json!(resource.group()));
    }
    details.insert("kind".into(), json!(resource.plural()));
    Value::Object(details)
}

impl KubeError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> KubeError {
        KubeError {
            code,
            reason,
            message: message.into(),
            details: json!({}),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> KubeError {
        KubeError::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> KubeError {
        KubeError::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn not_found(resource: Resource, name: &str) -> KubeError {
        let message = format!("{} \"{name}\" not found", resource.qualified());
        KubeError {
            details: details(resource, name),
            ..KubeError::new(404, "NotFound", message)
        }
    }

    /// A path that names no resource the simulator serves.
    pub fn no_route() -> KubeError {
        KubeError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(resource: Resource, name: &str) -> KubeError {
        let message = format!("{} \"{name}\" already exists", resource.qualified());
        KubeError {
            details: details(resource, name),
            ..KubeError::new(409, "AlreadyExists", message)
        }
    }

    /// The optimistic-concurrency failure of a stale resourceVersion.
    pub fn conflict(resource: Resource, name: &str) -> KubeError {
        KubeError::conflict_because(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict_because(resource: Resource, name: &str, why: &str) -> KubeError {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            resource.qualified()
        );
        KubeError {
            details: details(resource, name),
            ..KubeError::new(409, "Conflict", message)
        }
    }

    /// 422 with one cause per `(field, "Invalid value: …")` error; the
    /// message joins them as the apiserver does (`[a, b]` for several).
    pub fn invalid(resource: Resource, name: &str, errors: &[(String, String, &str)]) -> KubeError {
        let texts: Vec<String> = errors.iter().map(|(f, m, _)| format!("{f}: {m}")).collect();
        let joined = match texts.len() {
            1 => texts[0].clone(),
            _ => format!("[{}]", texts.join(", ")),
        };
        let message = format!(
            "{} \"{name}\" is invalid: {joined}",
            resource.qualified_kind()
        );
        let causes: Vec<Value> = errors.iter().map(|(f, m, r)| cause(r, m, f)).collect();
        let mut details = json!({"name": name, "kind": resource.kind(), "causes": causes});
        if !resource.group().is_empty() {
            details["group"] = json!(resource.group());
        }
        KubeError {
            details,
            ..KubeError::new(422, "Invalid", message)
        }
    }

    /// RBAC's refusal; `name` empty for collections and creates.
    pub fn forbidden(
        resource: Resource,
        name: &str,
        user: &str,
        verb: &str,
        namespace: Option<&str>,
    ) -> KubeError {
        let subject = match name {
            "" => resource.qualified(),
            _ => format!("{} \"{name}\"", resource.qualified()),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            resource.plural(),
            resource.group()
        );
        KubeError {
            details: details(resource, name),
            ..KubeError::new(403, "Forbidden", message)
        }
    }

    /// A create in a namespace being deleted.
    pub fn terminating(resource: Resource, name: &str, namespace: &str) -> KubeError {
        let message = format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            resource.qualified()
        );
        let why = format!("namespace {namespace} is being terminated");
        let mut details = details(resource, name);
        details["causes"] = json!([cause("NamespaceTerminating", &why, "metadata.namespace")]);
        KubeError {
            details,
            ..KubeError::new(403, "Forbidden", message)
        }
    }

    /// Gone: a resourceVersion or continue token older than the history.
    pub fn expired(message: impl Into<String>) -> KubeError {
        KubeError::new(410, "Expired", message)
    }

    /// The Status a fault answers with for `code`.
    pub fn for_code(code: u16) -> KubeError {
        let (reason, message) = match code {
            400 => ("BadRequest", "bad request"),
            401 => ("Unauthorized", "Unauthorized"),
            403 => ("Forbidden", "forbidden"),
            404 => (
                "NotFound",
                "the server could not find the requested resource",
            ),
            409 => ("Conflict", "conflict"),
            410 => (
                "Expired",
                "The resourceVersion for the provided watch is too old.",
            ),
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            503 => ("ServiceUnavailable", "apiserver is shutting down"),
            504 => (
                "Timeout",
                "Timeout: request did not complete within the allotted timeout",
            ),
            _ => ("InternalError", "Internal error occurred: injected fault"),
        };
        let retry_after = matches!(code, 429 | 503 | 504).then_some(1);
        KubeError {
            retry_after,
            ..KubeError::new(code, reason, message)
        }
    }

    /// The Status object itself (also the object of a watch ERROR event).
    pub fn to_json(&self) -> Value {
        let mut details = self.details.clone();
        if let Some(seconds) = self.retry_after {
            details["retryAfterSeconds"] = json!(seconds);
        }
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "details": details, "code": self.code,
        })
    }
}

/// A `Status` of success, as a Secret or Lease delete answers.
pub fn success(resource: Resource, name: &str, uid: &Value) -> Value {
    let mut details = details(resource, name);
    details["uid"] = uid.clone();
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

impl IntoResponse for KubeError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json_response(status.as_u16(), &self.to_json());
        if let Some(seconds) = self.retry_after {
            let value = HeaderValue::from_str(&seconds.to_string()).expect("digits");
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A JSON response (axum's `Json` needs a feature the binary does not use).
pub fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = [(header::CONTENT_TYPE, "application/json")];
    (status, headers, body.to_string()).into_response()
}
