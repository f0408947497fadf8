//! The JSON Rancher sends, as far as we read it (docs/rancher-api.md §3).
//!
//! Only the fields the updater uses are declared; serde skips the rest, so
//! a newer server's extra fields never break us. `secretValue` is
//! write-only in Rancher and deliberately never read: a response that
//! echoes it (a POST) keeps it out of our types.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::RancherError;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    pub id: String,
    #[serde(default)]
    pub server_address: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// A registry credential as listed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub id: String,
    #[serde(default)]
    pub registry_id: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub(super) links: Links,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct Links {
    #[serde(rename = "self")]
    pub(super) self_link: Option<String>,
}

/// One page of a list (§4).
#[derive(Deserialize)]
pub(super) struct Collection<T> {
    #[serde(default = "Vec::new")]
    pub(super) data: Vec<T>,
    #[serde(default)]
    pub(super) pagination: Option<Pagination>,
}

#[derive(Deserialize)]
pub(super) struct Pagination {
    pub(super) next: Option<String>,
}

/// A type's schema: where its collection is and what the key may do (§2).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Schema {
    pub(super) id: String,
    #[serde(default)]
    pub(super) links: SchemaLinks,
    #[serde(default)]
    pub(super) collection_methods: Vec<String>,
    #[serde(default)]
    pub(super) resource_methods: Vec<String>,
    #[serde(default)]
    pub(super) resource_fields: serde_json::Map<String, Value>,
}

#[derive(Default, Deserialize)]
pub(super) struct SchemaLinks {
    pub(super) collection: Option<String>,
}

/// The body of an error response (§6).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorBody {
    pub(super) code: Option<String>,
    pub(super) message: Option<String>,
    pub(super) field_name: Option<String>,
}

/// Parses a response body. serde_json refuses invalid UTF-8 and nesting
/// deeper than 128 levels, so a hostile body is an error, not a crash.
pub(super) fn decode<T: DeserializeOwned>(
    url: &reqwest::Url,
    body: &[u8],
) -> Result<T, RancherError> {
    serde_json::from_slice(body).map_err(|err| RancherError::BadResponse {
        url: url.to_string(),
        reason: format!("its response is not the expected JSON ({err})"),
    })
}
