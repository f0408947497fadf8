//! An ECR authorization token: the Docker login (`AWS` and a password) for
//! one registry host, and when it stops working. Decoded from the API's
//! `authorizationData` here, once, for both front ends; token facts are in
//! docs/ecr.md.

use std::time::SystemTime;

use base64::Engine as _;

use super::failure::EcrError;
use crate::registry_host::RegistryHost;
use crate::secret::Secret;

/// One registry's Docker login, decoded.
#[derive(Debug, Clone)]
pub struct EcrToken {
    /// Registry host from `proxyEndpoint`, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub host: RegistryHost,
    /// Always `AWS` in practice.
    pub username: String,
    pub password: Secret,
    /// When ECR says the token stops working; `None` if it did not say.
    pub expires_at: Option<SystemTime>,
}

impl EcrToken {
    /// The expiry for a person: RFC 3339, or `unknown`.
    pub fn expiry_text(&self) -> String {
        self.expires_at
            .map(|at| humantime::format_rfc3339_seconds(at).to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// An `expiresAt` as a time, if it is one anybody can print: between 1970
/// and the year 9999 (what RFC 3339 can say). Anything else, from a broken
/// or hostile endpoint, counts as no expiry at all (docs/ecr.md).
pub fn expiry_time(at: &aws_sdk_ecr::primitives::DateTime) -> Option<SystemTime> {
    const YEAR_9999: i64 = 253_402_300_799;
    (0..=YEAR_9999)
        .contains(&at.secs())
        .then(|| SystemTime::try_from(*at).ok())
        .flatten()
}

/// Decodes one `authorizationData` entry: the token is base64 of
/// `user:password` (split at the first `:`), the host comes from
/// `proxyEndpoint`. Errors name the endpoint and never the token.
pub fn decode_token(
    token: Option<&str>,
    proxy_endpoint: Option<&str>,
    expires_at: Option<SystemTime>,
) -> Result<EcrToken, EcrError> {
    let endpoint = proxy_endpoint.unwrap_or("").to_string();
    let malformed = |reason| EcrError::MalformedToken {
        endpoint: if endpoint.is_empty() {
            "(no proxyEndpoint)".to_string()
        } else {
            endpoint.clone()
        },
        reason,
    };
    let host = RegistryHost::parse(&endpoint)
        .map_err(|_| malformed("proxyEndpoint is missing or not a registry URL"))?;
    let token = token.ok_or_else(|| malformed("authorizationToken is missing"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| malformed("authorizationToken is not base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| malformed("authorizationToken is not text"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| malformed("authorizationToken has no user:password separator"))?;
    if username.is_empty() || password.is_empty() {
        return Err(malformed(
            "authorizationToken has an empty user or password",
        ));
    }
    Ok(EcrToken {
        host,
        username: username.to_string(),
        password: Secret::new(password),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn decodes_user_password_and_host() {
        let token = decode_token(
            Some(&b64("AWS:pass:with:colons")),
            Some("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            None,
        )
        .unwrap();
        assert_eq!(token.username, "AWS");
        assert_eq!(token.password.expose(), "pass:with:colons");
        assert_eq!(
            token.host.as_str(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert!(!format!("{token:?}").contains("pass:with"));
    }

    #[test]
    fn malformed_tokens_name_the_endpoint_not_the_token() {
        let endpoint = Some("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com");
        for bad in [
            b64("no-separator-SECRET"),
            "%%%SECRET%%%".to_string(),
            b64("AWS:"),
        ] {
            let err = decode_token(Some(&bad), endpoint, None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
                "{err}"
            );
            assert!(!err.contains("SECRET") && !err.contains(&bad), "{err}");
        }
        let err = decode_token(Some(&b64("AWS:x")), None, None).unwrap_err();
        assert!(err.to_string().contains("proxyEndpoint"), "{err}");
        let err = decode_token(None, endpoint, None).unwrap_err();
        assert!(
            err.to_string().contains("authorizationToken is missing"),
            "{err}"
        );
    }

    #[test]
    fn unprintable_expiries_count_as_none() {
        use aws_sdk_ecr::primitives::DateTime;
        assert!(expiry_time(&DateTime::from_secs(-1)).is_none());
        assert!(expiry_time(&DateTime::from_secs(300_000_000_000)).is_none());
        let ok = expiry_time(&DateTime::from_secs(1_800_000_000)).unwrap();
        // And what is kept always prints.
        let _ = humantime::format_rfc3339_seconds(ok).to_string();
    }
}
