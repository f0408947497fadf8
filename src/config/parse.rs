//! Parsers for single values: each turns one setting's text into a typed
//! value, or a [`ConfigError`] naming the setting and what is wrong. They
//! never echo a secret back.

use std::time::Duration;

use reqwest::Url;

use super::{ConfigError, RoleSettings, URL_SETTING};
use crate::rancher::Selection;

pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub(crate) fn parse_flag(
    setting: &'static str,
    value: Option<String>,
) -> Result<bool, ConfigError> {
    match non_empty(value) {
        None => Ok(false),
        Some(value) => parse_go_bool(&value).ok_or_else(|| ConfigError::Invalid {
            setting,
            reason: format!("{value:?} is not a boolean (use true or false)"),
        }),
    }
}

/// Reads and checks a PEM bundle, so a bad file stops the start, not the
/// first refresh.
pub(crate) fn read_ca_bundle(setting: &'static str, path: String) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    /// A full system bundle is about 200 KB.
    const LIMIT: u64 = 4 * 1024 * 1024;
    let invalid = |reason: String| ConfigError::Invalid { setting, reason };
    // A regular file only (asked before opening, which a FIFO would block):
    // a FIFO or a device could block or never end.
    let metadata =
        std::fs::metadata(&path).map_err(|err| invalid(format!("cannot read {path}: {err}")))?;
    if !metadata.is_file() {
        return Err(invalid(format!("{path} is not a regular file")));
    }
    let file =
        std::fs::File::open(&path).map_err(|err| invalid(format!("cannot read {path}: {err}")))?;
    let mut pem = Vec::new();
    file.take(LIMIT + 1)
        .read_to_end(&mut pem)
        .map_err(|err| invalid(format!("cannot read {path}: {err}")))?;
    if pem.len() as u64 > LIMIT {
        return Err(invalid(format!(
            "{path} is larger than {} MiB",
            LIMIT >> 20
        )));
    }
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(pem),
        _ => Err(invalid(format!("{path} holds no PEM certificate"))),
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

pub(crate) fn parse_cattle_url(text: String) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        setting: URL_SETTING,
        reason,
    };
    let mut url = Url::parse(&text).map_err(|err| {
        invalid(format!(
            "{err}; expected something like http://rancher:8080/v2-beta"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme is {:?}; use http or https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL: the password would be in it.
        return Err(invalid(
            "it contains credentials; pass them as CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY instead"
                .into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{url} has a query or fragment; remove it")));
    }
    // A trailing slash means nothing to Rancher (docs/rancher-api.md §2).
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

pub(crate) fn parse_registry_ids(text: &str) -> Result<Vec<String>, ConfigError> {
    let mut ids = Vec::new();
    for id in text.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid {
                setting: "AWS_ECR_REGISTRY_IDS (--registry-ids)",
                reason: format!("{id:?} is not a 12-digit AWS account id"),
            });
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

pub(crate) fn parse_role(
    arn: String,
    external_id: Option<String>,
    session_name: Option<String>,
) -> Result<RoleSettings, ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len();
    if !valid {
        return Err(ConfigError::Invalid {
            setting: "AWS_ROLE_ARN (--role-arn)",
            reason: format!("{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"),
        });
    }
    let session_name =
        non_empty(session_name).unwrap_or_else(|| "rancher-ecr-credentials".to_string());
    let session_name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !session_name_ok {
        return Err(ConfigError::Invalid {
            setting: "AWS_ROLE_SESSION_NAME (--role-session-name)",
            reason: format!(
                "{session_name:?} must be 2-64 characters of letters, digits and +=,.@_-"
            ),
        });
    }
    Ok(RoleSettings {
        arn,
        external_id: non_empty(external_id),
        session_name,
    })
}

pub(crate) fn parse_duration(setting: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(text.trim()).map_err(|err| ConfigError::Invalid {
        setting,
        reason: format!("{text:?} is not a duration ({err}); write e.g. 30s, 5m or 6h"),
    })?;
    if duration.is_zero() {
        return Err(ConfigError::Invalid {
            setting,
            reason: "it must be longer than zero".into(),
        });
    }
    Ok(duration)
}

/// `RANCHER_ENVIRONMENTS`: `all`, or a comma list of names and/or ids.
pub(crate) fn parse_environments(text: &str) -> Result<Selection, ConfigError> {
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
        return Err(ConfigError::Invalid {
            setting: "RANCHER_ENVIRONMENTS (--rancher-environments)",
            reason: format!("{text:?} names no environment; write all, or names or ids"),
        });
    }
    Ok(Selection::Named(wanted))
}
