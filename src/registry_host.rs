//! Registry host names, normalized once.
//!
//! Rancher matches an image's registry host against `serverAddress` without
//! regard to case (docs/rancher-api.md §5, `DockerImageCredentialLookup`),
//! and users type addresses as `https://HOST/`, `host:443` or plain `host`.
//! [`RegistryHost`] reduces all of those to one canonical form so matching is
//! a plain equality.

use std::fmt;

/// A registry host such as `123456789012.dkr.ecr.eu-west-1.amazonaws.com`:
/// lower-case, no scheme, no trailing slash, no explicit `:443`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistryHost(String);

/// Why a text is not a registry host.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{input:?} is not a registry host ({reason}); expected something like 123456789012.dkr.ecr.us-east-1.amazonaws.com")]
pub struct InvalidRegistryHost {
    pub input: String,
    pub reason: &'static str,
}

impl RegistryHost {
    /// Parses a host the way Rancher compares them: case-insensitively,
    /// ignoring an `http://`/`https://` prefix, trailing slashes and `:443`.
    pub fn parse(input: &str) -> Result<Self, InvalidRegistryHost> {
        let invalid = |reason| InvalidRegistryHost {
            input: redact_userinfo(input),
            reason,
        };
        let mut host = input.trim().to_ascii_lowercase();
        for scheme in ["https://", "http://"] {
            if let Some(rest) = host.strip_prefix(scheme) {
                host = rest.to_string();
                break;
            }
        }
        let host = host.trim_end_matches('/');
        let host = host.strip_suffix(":443").unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("empty"));
        }
        if host.contains('/') {
            return Err(invalid("it has a path"));
        }
        if host.contains('@') {
            return Err(invalid("it has user information"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
        if !host.chars().all(allowed) {
            return Err(invalid("it has characters not allowed in a host name"));
        }
        Ok(RegistryHost(host.to_string()))
    }

    /// Whether a Rancher `serverAddress` designates this host. Addresses that
    /// are not hosts at all (say `docker.io/library`) designate nothing.
    pub fn matches_server_address(&self, server_address: &str) -> bool {
        RegistryHost::parse(server_address).is_ok_and(|other| &other == self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `text` with any user information (`user:password@`) of its authority
/// replaced by `***`: a host or URL as it may be printed.
pub fn redact_userinfo(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => text.to_string(),
    }
}

impl fmt::Display for RegistryHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn normalizes_the_forms_users_type() {
        for form in [
            HOST,
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "HTTPS://123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM/",
            "http://123456789012.dkr.ecr.us-east-1.amazonaws.com//",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:443/",
            "  123456789012.dkr.ecr.us-east-1.amazonaws.com  ",
        ] {
            assert_eq!(RegistryHost::parse(form).unwrap().as_str(), HOST, "{form}");
        }
    }

    #[test]
    fn other_ports_and_hosts_differ() {
        let host = RegistryHost::parse(HOST).unwrap();
        assert!(!host.matches_server_address("123456789012.dkr.ecr.us-east-1.amazonaws.com:5000"));
        assert!(!host.matches_server_address("210987654321.dkr.ecr.us-east-1.amazonaws.com"));
        assert!(!host.matches_server_address("index.docker.io"));
        assert!(!host.matches_server_address(""));
        assert!(!host
            .matches_server_address("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/"));
        assert!(
            host.matches_server_address("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/")
        );
    }

    #[test]
    fn user_information_is_never_echoed() {
        for input in [
            "user:S3cret@host",
            "https://user:S3cret@host/",
            "S3cret@host:5000",
        ] {
            let err = RegistryHost::parse(input).unwrap_err().to_string();
            assert!(
                !err.contains("S3cret") && err.contains("user information"),
                "{err}"
            );
        }
        assert_eq!(redact_userinfo("http://a:b@h:1/p@q"), "http://***@h:1/p@q");
        assert_eq!(redact_userinfo("h/p@q"), "h/p@q");
    }

    #[test]
    fn rejects_what_is_not_a_host() {
        for bad in [
            "",
            "https://",
            "/",
            "docker.io/library",
            "a b",
            "user:pw@host",
        ] {
            let err = RegistryHost::parse(bad).unwrap_err();
            assert!(err.to_string().contains("is not a registry host"), "{bad}");
        }
    }
}
