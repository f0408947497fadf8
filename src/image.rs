//! Image references, as far as this provider needs them: the registry host
//! (the `auth` key and the region), and for `--check-image` the repository
//! and the tag or digest.
//!
//! The kubelet keys its cache by everything before the first `/` of the
//! image, so that text, kept verbatim (port included), is the `auth` key;
//! [`RegistryHost`] normalizes a copy of it for parsing.

use crate::registry_host::RegistryHost;

/// An image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The host as written, port included (`host:5000`).
    pub registry: String,
    /// The same host, normalized (lower case, no `:443`).
    pub host: RegistryHost,
    /// The repository path, e.g. `team/app`.
    pub repository: String,
    /// The tag or `sha256:…` digest; `latest` when the reference has neither.
    pub reference: String,
}

impl ImageRef {
    /// Parses `host[:port]/path[:tag][@digest]`. Unlike Docker, a missing
    /// host is an error: the kubelet sends images with their registry, and
    /// guessing Docker Hub would hand ECR credentials to the wrong place.
    pub fn parse(image: &str) -> Result<ImageRef, String> {
        let image = image.trim();
        let (registry, rest) = image.split_once('/').ok_or_else(|| {
            format!("image {image:?} names no registry host (expected host/repository)")
        })?;
        // Docker's rule: the first part is a host only if it has a dot or a
        // port, or is localhost.
        let is_host = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if !is_host {
            return Err(format!(
                "image {image:?} names no registry host ({registry:?} is a repository name)"
            ));
        }
        let host = RegistryHost::parse(registry)
            .map_err(|err| format!("the registry of image {image:?}: {err}"))?;
        if let Some((_, port)) = registry.rsplit_once(':') {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(format!(
                    "the registry of image {image:?} has {port:?} as port, not a number 1-65535"
                ));
            }
        }
        let (path, reference) = match rest.split_once('@') {
            Some((path, digest)) => (path, digest.to_string()),
            None => match rest.rsplit_once(':') {
                Some((path, tag)) if !tag.contains('/') => (path, tag.to_string()),
                _ => (rest, "latest".to_string()),
            },
        };
        // With both a tag and a digest (`app:1@sha256:…`), the digest wins.
        let path = path.split_once(':').map_or(path, |(path, _)| path);
        if path.is_empty() || path.split('/').any(str::is_empty) || reference.is_empty() {
            return Err(format!(
                "image {image:?} has an empty repository path or tag"
            ));
        }
        Ok(ImageRef {
            registry: registry.to_string(),
            host,
            repository: path.to_string(),
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_host_repository_and_reference() {
        let cases = [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "app",
                "latest",
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com:5000/team/app:1.2",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com:5000",
                "team/app",
                "1.2",
            ),
            (
                "Registry.Example.com/app@sha256:0123abcd",
                "Registry.Example.com",
                "app",
                "sha256:0123abcd",
            ),
            (
                "localhost/app:v1@sha256:99",
                "localhost",
                "app",
                "sha256:99",
            ),
            ("localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest"),
        ];
        for (image, registry, repository, reference) in cases {
            let parsed = ImageRef::parse(image).unwrap();
            assert_eq!(parsed.registry, registry, "{image}");
            assert_eq!(parsed.repository, repository, "{image}");
            assert_eq!(parsed.reference, reference, "{image}");
        }
        let parsed = ImageRef::parse("Registry.Example.com:443/app").unwrap();
        assert_eq!(parsed.registry, "Registry.Example.com:443");
        assert_eq!(parsed.host.as_str(), "registry.example.com");
    }

    #[test]
    fn refuses_what_has_no_usable_host() {
        for (image, expected) in [
            ("nginx", "names no registry host"),
            ("library/nginx", "\"library\" is a repository name"),
            ("a b.example.com/app", "not a registry host"),
            ("host.example.com:http/app", "not a number"),
            ("host.example.com:0/app", "not a number"),
            ("host.example.com/", "empty repository"),
            ("host.example.com//app", "empty repository"),
            ("host.example.com/app:", "empty repository path or tag"),
        ] {
            let err = ImageRef::parse(image).unwrap_err();
            assert!(err.contains(expected), "{image}: {err}");
        }
    }
}
