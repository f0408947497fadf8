//! Deciding, without any I/O, where a token comes from: which API (ECR or
//! ECR Public), which region and endpoint form, and which identity asks.
//!
//! - An ECR host names its region (every form of [`EcrHost`]).
//! - Another host (a pull-through mirror, a vanity name) is served only as
//!   an alias in `--config`, and takes the region of the ECR host it stands
//!   for. Any other host is refused: the kubelet asks about every image its
//!   `matchImages` globs match, and a token handed to a host that is not
//!   ECR's is an ECR password handed to whoever runs that registry.
//! - The identity: with a pod's service-account token (v1 requests), the
//!   role in the service account's `eks.amazonaws.com/ecr-role-arn`
//!   annotation, else in `AWS_ECR_ROLE_ARN`, assumed with that token;
//!   otherwise the role of the `[[source]]` serving the registry, assumed
//!   with the default credentials; otherwise the default credentials.
//!
//! `GetAuthorizationToken` is asked without `registryIds`, as the AWS
//! plugin does: the token serves every registry of the region the identity
//! may read (docs/ecr.md).

use crate::aws::RoleSettings;
use crate::config_file::{ConfigFile, SourceTable as Source};
use crate::ecr_host::{EcrHost, EcrHostError, EndpointForm};
use crate::image::ImageRef;
use crate::secret::Secret;

use super::failure::Failure;
use super::protocol::{ServiceAccount, ROLE_ANNOTATION};

const ANNOTATION_ORIGIN: &str = "the service account's annotation eks.amazonaws.com/ecr-role-arn";

/// The session name of every role this mode assumes (shown in CloudTrail).
pub const SESSION_NAME: &str = "rancher-ecr-credentials-kubelet";

/// Which token API to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenApi {
    Private {
        region: String,
        form: EndpointForm,
    },
    /// ECR Public, served from us-east-1 only; `dual_stack` for
    /// `ecr-public.aws.com`.
    Public {
        dual_stack: bool,
    },
}

/// Who asks for the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The SDK's default chain (environment, profile, web identity file,
    /// container credentials, IMDS).
    DefaultChain,
    /// A `[[source]]` role, assumed with the default credentials.
    SourceRole { source: String, role: RoleSettings },
    /// A role assumed with the pod's service-account token.
    WebIdentity { role_arn: String, token: Secret },
}

/// Everything decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub api: TokenApi,
    pub identity: Identity,
    /// The `[[source]]`'s profile: its credentials replace the default
    /// chain's (a role, if any, is assumed with them).
    pub profile: Option<String>,
}

impl Plan {
    pub fn region(&self) -> &str {
        match &self.api {
            TokenApi::Private { region, .. } => region,
            TokenApi::Public { .. } => crate::ecr_host::ECR_PUBLIC_REGION,
        }
    }
}

/// What the decision depends on besides the image.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    pub service_account: Option<&'a ServiceAccount>,
    /// `AWS_ECR_ROLE_ARN`.
    pub env_role_arn: Option<&'a str>,
    pub config: Option<&'a ConfigFile>,
}

pub fn decide(image: &ImageRef, context: Context) -> Result<Plan, Failure> {
    let (ecr, source) = match EcrHost::parse(&image.host) {
        Ok(ecr) => {
            let source = context
                .config
                .and_then(|config| serving_source(config, &ecr));
            (ecr, source)
        }
        // Say why it is not usable rather than guess a region for it.
        Err(malformed @ EcrHostError::Malformed { .. }) => {
            return Err(Failure::BadRequest {
                reason: malformed.to_string(),
            });
        }
        // No default region, no guess: an alias or nothing.
        Err(EcrHostError::NotEcr { host }) => {
            match context.config.and_then(|config| config.alias(&image.host)) {
                Some((source, ecr)) => (ecr.clone(), Some(source)),
                None => return Err(Failure::NotServed { host }),
            }
        }
    };
    let api = match &ecr {
        EcrHost::Private(registry) => TokenApi::Private {
            region: registry.region.clone(),
            form: registry.form,
        },
        EcrHost::Public(registry) => TokenApi::Public {
            dual_stack: registry.dual_stack,
        },
    };
    Ok(Plan {
        api,
        identity: identity(context, source)?,
        profile: source.and_then(|s| s.profile.clone()),
    })
}

/// The first `[[source]]` whose region is the registry's and whose
/// `registry_ids`, if any, include its account.
fn serving_source<'c>(config: &'c ConfigFile, ecr: &EcrHost) -> Option<&'c Source> {
    let EcrHost::Private(registry) = ecr else {
        return None;
    };
    config.sources.iter().find(|source| {
        source.region == registry.region
            && (source.registry_ids.is_empty()
                || source.registry_ids.contains(&registry.account_id))
    })
}

fn identity(context: Context, source: Option<&Source>) -> Result<Identity, Failure> {
    if let Some(account) = context.service_account {
        let from_annotation = account
            .annotations
            .get(ROLE_ANNOTATION)
            .map(|arn| (arn.trim(), ANNOTATION_ORIGIN));
        let from_env = context
            .env_role_arn
            .map(|arn| (arn.trim(), "AWS_ECR_ROLE_ARN"));
        if let Some((arn, origin)) = from_annotation
            .or(from_env)
            .filter(|(arn, _)| !arn.is_empty())
        {
            let role =
                crate::aws::identity::parse_role(arn, None, None).map_err(|_| Failure::Config {
                    reason: format!(
                        "{origin} holds {arn:?}, which is not an IAM role ARN \
                         (arn:aws:iam::123456789012:role/name)"
                    ),
                })?;
            return Ok(Identity::WebIdentity {
                role_arn: role.arn,
                token: account.token.clone(),
            });
        }
    }
    Ok(
        match source.and_then(|s| s.role.as_ref().map(|role| (s, role))) {
            Some((source, role)) => Identity::SourceRole {
                source: source.name.clone(),
                role: RoleSettings {
                    session_name: SESSION_NAME.to_string(),
                    ..role.clone()
                },
            },
            None => Identity::DefaultChain,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;

    fn image(text: &str) -> ImageRef {
        ImageRef::parse(text).unwrap()
    }

    fn config() -> ConfigFile {
        ConfigFile::parse(
            Path::new("recc.toml"),
            r#"
[[source]]
name = "eu"
region = "eu-west-1"
registry_ids = ["210987654321"]
role_arn = "arn:aws:iam::210987654321:role/ecr-pull"
aliases = { "mirror.example.com:5000" = "210987654321.dkr.ecr.eu-west-1.amazonaws.com" }
[[source]]
name = "public"
region = "us-east-1"
aliases = { "gallery.example.com" = "public.ecr.aws" }
"#,
        )
        .unwrap()
    }

    fn service_account(role: Option<&str>) -> ServiceAccount {
        let mut annotations = BTreeMap::new();
        if let Some(role) = role {
            annotations.insert(ROLE_ANNOTATION.to_string(), role.to_string());
        }
        ServiceAccount {
            token: Secret::new("sa-token"),
            annotations,
        }
    }

    #[test]
    fn the_host_names_region_and_form() {
        let plan = decide(
            &image("123456789012.dkr-ecr-fips.us-gov-west-1.on.aws/app"),
            Context::default(),
        )
        .unwrap();
        assert_eq!(
            plan.api,
            TokenApi::Private {
                region: "us-gov-west-1".into(),
                form: EndpointForm::DualStackFips
            }
        );
        assert_eq!(plan.identity, Identity::DefaultChain);
        let plan = decide(&image("public.ecr.aws/nginx/nginx"), Context::default()).unwrap();
        assert_eq!(plan.api, TokenApi::Public { dual_stack: false });
        let plan = decide(&image("ecr-public.aws.com/nginx/nginx"), Context::default()).unwrap();
        assert_eq!(plan.api, TokenApi::Public { dual_stack: true });
        assert_eq!(plan.region(), "us-east-1");
    }

    #[test]
    fn a_malformed_ecr_host_is_refused() {
        let err = decide(
            &image("12345.dkr.ecr.eu-west-1.amazonaws.com/app"),
            Context::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("12-digit"), "{err}");
    }

    #[test]
    fn other_hosts_are_served_only_as_aliases() {
        let config = config();
        let context = Context {
            config: Some(&config),
            ..Context::default()
        };
        let plan = decide(&image("Mirror.Example.com:5000/app:1"), context).unwrap();
        assert_eq!(plan.region(), "eu-west-1");
        assert!(matches!(plan.identity, Identity::SourceRole { ref source, .. } if source == "eu"));
        let plan = decide(&image("gallery.example.com/app"), context).unwrap();
        assert_eq!(plan.api, TokenApi::Public { dual_stack: false });
        // Same host, other port: no alias, so no token, with --config or
        // without; the host is named as an alias would name it.
        for (text, host) in [
            ("mirror.example.com/app", "mirror.example.com"),
            ("Other.Example.com:443/app", "other.example.com"),
            ("other.example.com:8443/app", "other.example.com:8443"),
        ] {
            for context in [context, Context::default()] {
                assert_eq!(
                    decide(&image(text), context),
                    Err(Failure::NotServed { host: host.into() }),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn sources_serve_their_region_and_accounts() {
        let config = config();
        let context = Context {
            config: Some(&config),
            ..Context::default()
        };
        let plan = decide(
            &image("210987654321.dkr.ecr.eu-west-1.amazonaws.com/a"),
            context,
        );
        match plan.unwrap().identity {
            Identity::SourceRole { role, .. } => {
                assert_eq!(role.arn, "arn:aws:iam::210987654321:role/ecr-pull");
                assert_eq!(role.session_name, SESSION_NAME);
            }
            other => panic!("{other:?}"),
        }
        for other in [
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/a",
            "210987654321.dkr.ecr.eu-west-2.amazonaws.com/a",
        ] {
            let plan = decide(&image(other), context).unwrap();
            assert_eq!(plan.identity, Identity::DefaultChain, "{other}");
        }
    }

    #[test]
    fn service_account_tokens_assume_the_annotated_role() {
        let host = image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app");
        let annotated = service_account(Some("arn:aws:iam::111122223333:role/from-annotation"));
        let bare = service_account(None);
        let env = Some("arn:aws:iam::444455556666:role/from-env");
        let role_of = |account: &ServiceAccount, env_role_arn: Option<&str>| {
            decide(
                &host,
                Context {
                    service_account: Some(account),
                    env_role_arn,
                    ..Context::default()
                },
            )
            .map(|plan| plan.identity)
        };
        match role_of(&annotated, env).unwrap() {
            Identity::WebIdentity { role_arn, token } => {
                assert_eq!(role_arn, "arn:aws:iam::111122223333:role/from-annotation");
                assert_eq!(token.expose(), "sa-token");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            role_of(&bare, env).unwrap(),
            Identity::WebIdentity { role_arn, .. } if role_arn.ends_with("from-env")
        ));
        assert_eq!(role_of(&bare, None).unwrap(), Identity::DefaultChain);
        let bad = service_account(Some("pull-role"));
        let err = role_of(&bad, None).unwrap_err().to_string();
        assert!(
            err.contains("annotation eks.amazonaws.com/ecr-role-arn holds \"pull-role\""),
            "{err}"
        );
        let err = role_of(&bare, Some("nope")).unwrap_err().to_string();
        assert!(err.contains("AWS_ECR_ROLE_ARN holds \"nope\""), "{err}");
        // Without a token, AWS_ECR_ROLE_ARN means nothing (as upstream).
        assert_eq!(
            decide(
                &host,
                Context {
                    env_role_arn: env,
                    ..Context::default()
                }
            )
            .unwrap()
            .identity,
            Identity::DefaultChain
        );
    }
}
