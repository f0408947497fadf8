//! Who asks AWS for a token, and where: the settings of one identity
//! (region, registry accounts, a role to assume, a shared-files profile),
//! and the checks of the values that name them. Parsers return the plain
//! reason; the caller names the setting or the file key.

use aws_config::meta::region::RegionProviderChain;
use aws_sdk_ecr::config::Region;

/// The session name of roles the daemon assumes, unless one is given.
pub const DEFAULT_SESSION_NAME: &str = "rancher-ecr-credentials";

/// One AWS identity in one region.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Region given explicitly; `None` defers to AWS_DEFAULT_REGION and the profile.
    pub region: Option<String>,
    pub registry_ids: Vec<String>,
    pub role: Option<RoleSettings>,
    /// A shared-files profile to take credentials from instead of the
    /// default chain (a config file source's `profile`).
    pub profile: Option<String>,
}

/// A role assumed through STS on top of the base credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// Which part of a role's settings is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleError {
    Arn(String),
    SessionName(String),
}

/// Checks a role ARN and its session name (`DEFAULT_SESSION_NAME` when
/// none is given); blank external ids and names count as absent.
pub fn parse_role(
    arn: &str,
    external_id: Option<&str>,
    session_name: Option<&str>,
) -> Result<RoleSettings, RoleError> {
    let arn = arn.trim();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len();
    if !valid {
        return Err(RoleError::Arn(format!(
            "{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"
        )));
    }
    let session_name = non_blank(session_name).unwrap_or(DEFAULT_SESSION_NAME);
    let session_name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !session_name_ok {
        return Err(RoleError::SessionName(format!(
            "{session_name:?} must be 2-64 characters of letters, digits and +=,.@_-"
        )));
    }
    Ok(RoleSettings {
        arn: arn.to_string(),
        external_id: non_blank(external_id).map(str::to_string),
        session_name: session_name.to_string(),
    })
}

fn non_blank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Checks one AWS account id (12 digits).
pub fn parse_account_id(text: &str) -> Result<&str, String> {
    let id = text.trim();
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(format!("{id:?} is not a 12-digit AWS account id"))
    }
}

/// Finds the region in `explicit` (AWS_REGION / --aws-region), then
/// AWS_DEFAULT_REGION, then the shared config profile. Reads local files
/// only: no instance metadata call at start.
pub async fn resolve_region(explicit: Option<&str>) -> Option<Region> {
    RegionProviderChain::first_try(explicit.map(|r| Region::new(r.to_string())))
        .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .or_else(aws_config::profile::ProfileFileRegionProvider::new())
        .region()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_their_session_names() {
        let role =
            parse_role(" arn:aws:iam::111122223333:role/ecr-pull ", Some(" "), None).unwrap();
        assert_eq!(role.arn, "arn:aws:iam::111122223333:role/ecr-pull");
        assert_eq!(role.session_name, DEFAULT_SESSION_NAME);
        assert_eq!(role.external_id, None);
        assert!(matches!(
            parse_role("ecr-pull", None, None),
            Err(RoleError::Arn(_))
        ));
        assert!(matches!(
            parse_role("arn:aws:iam::111122223333:role/x", None, Some("a b")),
            Err(RoleError::SessionName(_))
        ));
    }

    #[test]
    fn account_ids() {
        assert_eq!(parse_account_id(" 123456789012 "), Ok("123456789012"));
        for bad in ["12345", "1234567890123", "12345678901a", ""] {
            assert!(
                parse_account_id(bad).unwrap_err().contains("12-digit"),
                "{bad}"
            );
        }
    }
}
