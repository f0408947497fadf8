//! Parsers for single values of the command line: each turns one setting's
//! text into a typed value, or the plain reason it is wrong; the caller
//! names the setting (an environment variable and its flag, or a file
//! key). They never echo a secret back.

use std::time::Duration;

use reqwest::Url;

use crate::daemon::rancher::Selection;

/// The value, trimmed, unless it is missing or blank.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A boolean setting: absent or blank is `false`.
pub fn parse_flag(value: Option<String>) -> Result<bool, String> {
    match non_empty(value) {
        None => Ok(false),
        Some(value) => parse_go_bool(&value)
            .ok_or_else(|| format!("{value:?} is not a boolean (use true or false)")),
    }
}

/// Accepts what Go's `strconv.ParseBool` accepted, as the predecessor did.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A Rancher API URL: http(s), a host, no credentials, query or fragment;
/// a trailing slash means nothing to Rancher (docs/rancher-api.md §2).
pub fn parse_cattle_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text.trim())
        .map_err(|err| format!("{err}; expected something like http://rancher:8080/v2-beta"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme is {:?}; use http or https",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL: the password would be in it.
        return Err(
            "it contains credentials; pass them as CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY instead"
                .into(),
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{url} has a query or fragment; remove it"));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// Whether a Rancher URL is an environment's endpoint (`…/projects/<id>`),
/// which cannot serve several environments.
pub fn is_environment_endpoint(url: &Url) -> bool {
    url.path().contains("/projects/")
}

/// A comma list of 12-digit account ids, duplicates dropped.
pub fn parse_registry_ids(text: &str) -> Result<Vec<String>, String> {
    let mut ids: Vec<String> = Vec::new();
    for id in text.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let id = crate::aws::identity::parse_account_id(id)?;
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// A positive duration such as `30s`, `5m` or `6h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|err| format!("{text:?} is not a duration ({err}); write e.g. 30s, 5m or 6h"))?;
    if duration.is_zero() {
        return Err("it must be longer than zero".into());
    }
    Ok(duration)
}

/// `RANCHER_ENVIRONMENTS`: `all`, or a comma list of names and/or ids.
pub fn parse_environments(text: &str) -> Result<Selection, String> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(Selection::All);
    }
    let mut wanted: Vec<String> = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        if !wanted.iter().any(|known| known == item) {
            wanted.push(item.to_string());
        }
    }
    if wanted.is_empty() {
        return Err(format!(
            "{text:?} names no environment; write all, or names or ids"
        ));
    }
    Ok(Selection::Named(wanted))
}
