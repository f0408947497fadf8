//! What an ECR registry host says about itself: account, region,
//! partition and endpoint form.
//!
//! Both the kubelet credential provider (which region to ask for a token)
//! and the daemon's registry discovery (which Rancher registries are ECR
//! registries) need this, so it lives in one pure function over an already
//! normalized [`RegistryHost`]. The host forms come from docs/ecr.md
//! ("Registry hosts"): one label grammar, `<account>.<service>.<region>.<domain>`,
//! where the service label says standard or FIPS (`dkr.ecr`, `dkr.ecr-fips`)
//! or dual-stack (`dkr-ecr`, `dkr-ecr-fips`), and the domain names the
//! partition. Matching labels, not a regular expression, lets every refusal
//! say which part is wrong.
//!
//! A host that does not look like ECR at all is [`EcrHostError::NotEcr`] (a
//! mirror or vanity name, for the caller to map); one that looks like ECR but
//! cannot be used is [`EcrHostError::Malformed`], with the reason.

mod partition;

pub use partition::Partition;

use crate::registry_host::RegistryHost;

/// The one region that serves ECR Public (docs/ecr.md, "ECR Public").
pub const ECR_PUBLIC_REGION: &str = "us-east-1";

/// An ECR registry host, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrHost {
    /// A private registry: `<account>.dkr.ecr.<region>.amazonaws.com` and kin.
    Private(PrivateRegistry),
    /// ECR Public (`public.ecr.aws`, `ecr-public.aws.com`): one registry for
    /// everyone, its tokens issued by a separate API in us-east-1.
    Public(PublicRegistry),
}

/// A private registry's coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRegistry {
    /// The 12-digit AWS account that owns the registry.
    pub account_id: String,
    /// The region, e.g. `eu-west-1`; tokens are scoped to it.
    pub region: String,
    pub partition: Partition,
    pub form: EndpointForm,
    /// An explicit port other than 443, if the host carried one.
    pub port: Option<u16>,
}

/// An ECR Public host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicRegistry {
    /// `ecr-public.aws.com` rather than `public.ecr.aws`.
    pub dual_stack: bool,
    pub port: Option<u16>,
}

/// Which endpoint family a host belongs to. FIPS and dual-stack hosts are
/// best served by the matching API endpoint (the SDK's `use_fips` and
/// `use_dual_stack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointForm {
    /// `dkr.ecr`
    Standard,
    /// `dkr.ecr-fips`
    Fips,
    /// `dkr-ecr` under a dual-stack domain
    DualStack,
    /// `dkr-ecr-fips` under a dual-stack domain
    DualStackFips,
}

impl EndpointForm {
    pub fn fips(self) -> bool {
        matches!(self, EndpointForm::Fips | EndpointForm::DualStackFips)
    }

    pub fn dual_stack(self) -> bool {
        matches!(self, EndpointForm::DualStack | EndpointForm::DualStackFips)
    }
}

/// Why a host is not a usable ECR registry host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcrHostError {
    /// Not an ECR host at all: a mirror, a vanity name, another registry.
    #[error("{host} is not an Amazon ECR registry host")]
    NotEcr { host: String },
    /// Looks like ECR (or has a broken port) but cannot be used.
    #[error("{host} is not a usable Amazon ECR registry host: {reason}")]
    Malformed { host: String, reason: String },
}

impl EcrHost {
    /// Reads account, region, partition and form from a registry host.
    pub fn parse(host: &RegistryHost) -> Result<EcrHost, EcrHostError> {
        let text = host.as_str();
        let malformed = |reason: String| EcrHostError::Malformed {
            host: text.to_string(),
            reason,
        };
        let (name, port) = split_port(text).map_err(malformed)?;
        match name {
            "public.ecr.aws" | "ecr-public.aws.com" => {
                return Ok(EcrHost::Public(PublicRegistry {
                    dual_stack: name == "ecr-public.aws.com",
                    port,
                }))
            }
            _ => {}
        }
        let labels: Vec<&str> = name.split('.').collect();
        // <account> . dkr . ecr[-fips] . <region> . <domain...>
        // <account> . dkr-ecr[-fips] . <region> . <domain...>
        let (form, region_index) = match labels.as_slice() {
            [_, "dkr", "ecr", ..] => (EndpointForm::Standard, 3),
            [_, "dkr", "ecr-fips", ..] => (EndpointForm::Fips, 3),
            [_, "dkr-ecr", ..] => (EndpointForm::DualStack, 2),
            [_, "dkr-ecr-fips", ..] => (EndpointForm::DualStackFips, 2),
            _ => {
                return Err(EcrHostError::NotEcr {
                    host: text.to_string(),
                })
            }
        };
        let region = labels.get(region_index).copied().unwrap_or("");
        let domain = labels
            .get(region_index + 1..)
            .map(|rest| rest.join("."))
            .unwrap_or_default();
        let partition = check_labels(labels[0], region, &domain, form).map_err(malformed)?;
        Ok(EcrHost::Private(PrivateRegistry {
            account_id: labels[0].to_string(),
            region: region.to_string(),
            partition,
            form,
            port,
        }))
    }

    /// The region whose tokens this registry accepts.
    pub fn region(&self) -> &str {
        match self {
            EcrHost::Private(registry) => &registry.region,
            EcrHost::Public(_) => ECR_PUBLIC_REGION,
        }
    }

    pub fn port(&self) -> Option<u16> {
        match self {
            EcrHost::Private(registry) => registry.port,
            EcrHost::Public(registry) => registry.port,
        }
    }
}

/// Checks the account, region and domain labels of a private registry
/// host against each other; the partition they agree on.
fn check_labels(
    account_id: &str,
    region: &str,
    domain: &str,
    form: EndpointForm,
) -> Result<Partition, String> {
    if domain.ends_with("vpce.amazonaws.com") {
        return Err(
            "a VPC endpoint's own host cannot be used to pull; use the registry's \
                    normal host (with private DNS enabled on the endpoint)"
                .into(),
        );
    }
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{account_id:?} is not a 12-digit AWS account id"));
    }
    if !is_region_name(region) {
        return Err(format!(
            "{region:?} is not an AWS region name (like eu-west-1)"
        ));
    }
    let partition = Partition::of_region(region);
    let expected = partition::registry_domain(region, form)?;
    if domain == expected {
        return Ok(partition);
    }
    let known = partition::every_domain(form);
    if known.iter().any(|other| other == domain) {
        return Err(format!(
            "region {region} is in the {partition} partition, whose registries are not \
             under {domain} (but {expected})"
        ));
    }
    let family = match form.dual_stack() {
        true => "dual-stack",
        false => "standard or FIPS",
    };
    Err(format!(
        "{domain:?} is not a domain of {family} ECR registries (expected one of {})",
        known.join(", ")
    ))
}

/// Splits `name[:port]`. [`RegistryHost`] has already dropped `:443`.
fn split_port(host: &str) -> Result<(&str, Option<u16>), String> {
    match host.rsplit_once(':') {
        None => Ok((host, None)),
        Some((name, port)) => match port.parse::<u16>() {
            Ok(number) if number > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {
                Ok((name, Some(number)))
            }
            _ => Err(format!("{port:?} is not a port number (1-65535)")),
        },
    }
}

/// `<letters>(-<letters>)+-<digits>`: every AWS region name has this shape
/// (`eu-west-1`, `us-gov-west-1`, `eusc-de-east-1`, `us-isob-east-1`).
pub fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
