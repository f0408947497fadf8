//! The JSONPath that kube-client needs, and no more.
//!
//! kube-client queries JSONPath in one place: a kubeconfig `auth-provider`
//! whose command prints JSON, with `token-key` and `expiry-key` naming
//! where the token and its expiry are (`{.credential.access_token}`,
//! `{.token_expiry}`: the legacy GCP provider's form; kube-client strips
//! the braces and roots the path at `$`). Those paths are dotted member
//! names, which is what this crate answers. crates.io's jsonpath-rust
//! answers the whole language, through a PEG parser (pest) and the regex
//! crate with its Unicode tables: about 1.5 MB of a static binary whose
//! budget is 8 MB, for a feature (auth-provider plugins) that client-go
//! itself dropped in Kubernetes 1.26. Anything beyond dotted names
//! (filters, wildcards, indexes, slices) is refused with an error that
//! says so, never answered wrongly.

use std::fmt;

use serde_json::Value;

/// A query this subset does not answer, or a malformed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPathError(String);

impl fmt::Display for JsonPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonPathError {}

/// JSONPath queries over a JSON value.
pub trait JsonPath {
    /// The values `query` selects: `$` or `$.name.name…` (each name a
    /// plain member name, optionally `['quoted']`).
    fn query(&self, query: &str) -> Result<Vec<&Self>, JsonPathError>;
}

impl JsonPath for Value {
    fn query(&self, query: &str) -> Result<Vec<&Value>, JsonPathError> {
        let unsupported = || {
            JsonPathError(format!(
                "{query:?}: only dotted member names ($.a.b) are supported"
            ))
        };
        let rest = query.strip_prefix('$').ok_or_else(unsupported)?;
        let mut current = self;
        let mut names = Vec::new();
        let mut rest = rest;
        while !rest.is_empty() {
            if let Some(quoted) = rest.strip_prefix("['") {
                let end = quoted.find("']").ok_or_else(unsupported)?;
                names.push(&quoted[..end]);
                rest = &quoted[end + 2..];
            } else if let Some(dotted) = rest.strip_prefix('.') {
                let end = dotted.find(['.', '[']).unwrap_or(dotted.len());
                let name = &dotted[..end];
                if name.is_empty() || name.contains(['*', '?', '(', ')', '@', ' ']) {
                    return Err(unsupported());
                }
                names.push(name);
                rest = &dotted[end..];
            } else {
                return Err(unsupported());
            }
        }
        for name in names {
            match current.get(name) {
                Some(value) => current = value,
                None => return Ok(Vec::new()),
            }
        }
        Ok(vec![current])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths() {
        let doc = json!({"credential": {"access_token": "t", "token_expiry": "x"}, "a.b": 1});
        assert_eq!(doc.query("$.credential.access_token").unwrap(), [&json!("t")]);
        assert_eq!(doc.query("$['a.b']").unwrap(), [&json!(1)]);
        assert_eq!(doc.query("$").unwrap(), [&doc]);
        assert!(doc.query("$.missing.key").unwrap().is_empty());
        for unsupported in ["$.items[*].name", "$..token", "credential", "$.a[?(@.b)]"] {
            assert!(doc.query(unsupported).is_err(), "{unsupported}");
        }
    }
}
