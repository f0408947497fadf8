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

use std::fmt;

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

/// An AWS partition: a set of regions with its own domain and accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// The commercial regions (`aws`).
    Aws,
    /// Beijing and Ningxia (`aws-cn`).
    China,
    /// AWS GovCloud (US) (`aws-us-gov`).
    GovCloud,
    /// AWS European Sovereign Cloud (`aws-eusc`).
    EuropeanSovereign,
    /// `aws-iso` (`c2s.ic.gov`)
    Iso,
    /// `aws-iso-b` (`sc2s.sgov.gov`)
    IsoB,
    /// `aws-iso-e` (`cloud.adc-e.uk`)
    IsoE,
    /// `aws-iso-f` (`csp.hci.ic.gov`)
    IsoF,
}

impl Partition {
    /// The partition id used in ARNs (`arn:<id>:...`).
    pub fn id(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::China => "aws-cn",
            Partition::GovCloud => "aws-us-gov",
            Partition::EuropeanSovereign => "aws-eusc",
            Partition::Iso => "aws-iso",
            Partition::IsoB => "aws-iso-b",
            Partition::IsoE => "aws-iso-e",
            Partition::IsoF => "aws-iso-f",
        }
    }

    /// The partition a region name belongs to, by its prefix. Every region
    /// outside the special partitions is commercial.
    fn of_region(region: &str) -> Partition {
        const PREFIXES: [(&str, Partition); 7] = [
            ("cn-", Partition::China),
            ("us-gov-", Partition::GovCloud),
            ("eusc-", Partition::EuropeanSovereign),
            ("us-iso-", Partition::Iso),
            ("us-isob-", Partition::IsoB),
            ("eu-isoe-", Partition::IsoE),
            ("us-isof-", Partition::IsoF),
        ];
        PREFIXES
            .iter()
            .find(|(prefix, _)| region.starts_with(prefix))
            .map_or(Partition::Aws, |(_, partition)| *partition)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Registry domains of the standard and FIPS forms, with the partitions
/// whose regions they serve (the commercial domain also serves GovCloud).
const STANDARD_DOMAINS: [(&str, &[Partition]); 7] = [
    ("amazonaws.com", &[Partition::Aws, Partition::GovCloud]),
    ("amazonaws.com.cn", &[Partition::China]),
    ("amazonaws.eu", &[Partition::EuropeanSovereign]),
    ("c2s.ic.gov", &[Partition::Iso]),
    ("sc2s.sgov.gov", &[Partition::IsoB]),
    ("cloud.adc-e.uk", &[Partition::IsoE]),
    ("csp.hci.ic.gov", &[Partition::IsoF]),
];

/// Registry domains of the dual-stack forms.
const DUAL_STACK_DOMAINS: [(&str, &[Partition]); 2] = [
    ("on.aws", &[Partition::Aws, Partition::GovCloud]),
    ("on.amazonwebservices.com.cn", &[Partition::China]),
];

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
            "public.ecr.aws" => {
                return Ok(EcrHost::Public(PublicRegistry {
                    dual_stack: false,
                    port,
                }))
            }
            "ecr-public.aws.com" => {
                return Ok(EcrHost::Public(PublicRegistry {
                    dual_stack: true,
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
        let account_id = labels[0];
        let region = labels.get(region_index).copied().unwrap_or("");
        let domain = labels
            .get(region_index + 1..)
            .map(|rest| rest.join("."))
            .unwrap_or_default();

        if domain.ends_with("vpce.amazonaws.com") {
            return Err(malformed(
                "a VPC endpoint's own host cannot be used to pull; use the registry's \
                 normal host (with private DNS enabled on the endpoint)"
                    .into(),
            ));
        }
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(format!(
                "{account_id:?} is not a 12-digit AWS account id"
            )));
        }
        if !is_region_name(region) {
            return Err(malformed(format!(
                "{region:?} is not an AWS region name (like eu-west-1)"
            )));
        }
        let domains: &[(&str, &[Partition])] = if form.dual_stack() {
            &DUAL_STACK_DOMAINS
        } else {
            &STANDARD_DOMAINS
        };
        let Some((_, partitions)) = domains.iter().find(|(known, _)| *known == domain) else {
            let expected: Vec<&str> = domains.iter().map(|(known, _)| *known).collect();
            return Err(malformed(format!(
                "{domain:?} is not a domain of {} ECR registries (expected one of {})",
                if form.dual_stack() {
                    "dual-stack"
                } else {
                    "standard or FIPS"
                },
                expected.join(", ")
            )));
        };
        let partition = Partition::of_region(region);
        if !partitions.contains(&partition) {
            return Err(malformed(format!(
                "region {region} is in the {partition} partition, whose registries are not \
                 under {domain}"
            )));
        }
        // FIPS endpoints exist only under amazonaws.com (commercial and
        // GovCloud; docs/ecr.md): elsewhere the host names nothing real.
        if form.fips() && !form.dual_stack() && domain != "amazonaws.com" {
            return Err(malformed(format!(
                "FIPS registries exist only under amazonaws.com, not {domain}"
            )));
        }
        Ok(EcrHost::Private(PrivateRegistry {
            account_id: account_id.to_string(),
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
pub(crate) fn is_region_name(region: &str) -> bool {
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
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EcrHost, EcrHostError> {
        EcrHost::parse(&RegistryHost::parse(text).expect("a registry host"))
    }

    fn private(text: &str) -> PrivateRegistry {
        match parse(text) {
            Ok(EcrHost::Private(registry)) => registry,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn malformed_reason(text: &str) -> String {
        match parse(text) {
            Err(EcrHostError::Malformed { reason, .. }) => reason,
            other => panic!("{text} should be malformed: {other:?}"),
        }
    }

    #[test]
    fn every_private_form() {
        use EndpointForm::*;
        use Partition::*;
        let cases: &[(&str, &str, Partition, EndpointForm)] = &[
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "eu-west-1",
                Aws,
                Standard,
            ),
            (
                "123456789012.dkr.ecr-fips.us-east-2.amazonaws.com",
                "us-east-2",
                Aws,
                Fips,
            ),
            (
                "123456789012.dkr-ecr.ap-southeast-2.on.aws",
                "ap-southeast-2",
                Aws,
                DualStack,
            ),
            (
                "123456789012.dkr-ecr-fips.us-west-2.on.aws",
                "us-west-2",
                Aws,
                DualStackFips,
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "cn-north-1",
                China,
                Standard,
            ),
            (
                "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
                "cn-northwest-1",
                China,
                Standard,
            ),
            (
                "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
                "cn-north-1",
                China,
                DualStack,
            ),
            (
                "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
                "us-gov-west-1",
                GovCloud,
                Standard,
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
                "us-gov-east-1",
                GovCloud,
                Fips,
            ),
            (
                "123456789012.dkr-ecr.us-gov-west-1.on.aws",
                "us-gov-west-1",
                GovCloud,
                DualStack,
            ),
            (
                "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
                "eusc-de-east-1",
                EuropeanSovereign,
                Standard,
            ),
            (
                "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
                "us-iso-east-1",
                Iso,
                Standard,
            ),
            (
                "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
                "us-isob-east-1",
                IsoB,
                Standard,
            ),
            (
                "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                "eu-isoe-west-1",
                IsoE,
                Standard,
            ),
            (
                "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
                "us-isof-south-1",
                IsoF,
                Standard,
            ),
        ];
        for (host, region, partition, form) in cases {
            let registry = private(host);
            assert_eq!(registry.account_id, "123456789012", "{host}");
            assert_eq!(&registry.region, region, "{host}");
            assert_eq!(registry.partition, *partition, "{host}");
            assert_eq!(registry.form, *form, "{host}");
            assert_eq!(registry.port, None, "{host}");
        }
    }

    #[test]
    fn forms_know_fips_and_dual_stack() {
        assert!(!EndpointForm::Standard.fips() && !EndpointForm::Standard.dual_stack());
        assert!(EndpointForm::Fips.fips() && !EndpointForm::Fips.dual_stack());
        assert!(!EndpointForm::DualStack.fips() && EndpointForm::DualStack.dual_stack());
        assert!(EndpointForm::DualStackFips.fips() && EndpointForm::DualStackFips.dual_stack());
        assert_eq!(Partition::GovCloud.to_string(), "aws-us-gov");
        assert_eq!(Partition::IsoF.id(), "aws-iso-f");
    }

    #[test]
    fn ports_case_and_scheme_go_through_registry_host() {
        let registry = private("HTTPS://123456789012.DKR.ECR.EU-WEST-1.AMAZONAWS.COM:5000/");
        assert_eq!(registry.region, "eu-west-1");
        assert_eq!(registry.port, Some(5000));
        // :443 is the default port and is dropped by RegistryHost.
        assert_eq!(
            private("123456789012.dkr.ecr.eu-west-1.amazonaws.com:443").port,
            None
        );
        let public = parse("public.ecr.aws:8443").unwrap();
        assert_eq!(public.port(), Some(8443));
        assert_eq!(public.region(), ECR_PUBLIC_REGION);
    }

    #[test]
    fn ecr_public_is_its_own_kind() {
        assert_eq!(
            parse("public.ecr.aws").unwrap(),
            EcrHost::Public(PublicRegistry {
                dual_stack: false,
                port: None
            })
        );
        assert_eq!(
            parse("https://ECR-PUBLIC.aws.com/").unwrap(),
            EcrHost::Public(PublicRegistry {
                dual_stack: true,
                port: None
            })
        );
        assert_eq!(parse("ecr-public.aws.com").unwrap().region(), "us-east-1");
    }

    #[test]
    fn other_hosts_are_not_ecr() {
        for host in [
            "registry.example.com",
            "docker.io",
            "localhost:5000",
            "127.0.0.1:5000",
            "ghcr.io",
            "public.ecr.aws.example.com",
            "mirror.public.ecr.aws",
            "123456789012.ecr.eu-west-1.amazonaws.com",
            "api.ecr.eu-west-1.amazonaws.com",
            "dkr.ecr.eu-west-1.amazonaws.com",
        ] {
            assert!(
                matches!(parse(host), Err(EcrHostError::NotEcr { .. })),
                "{host}: {:?}",
                parse(host)
            );
        }
    }

    #[test]
    fn malformed_ecr_hosts_say_what_is_wrong() {
        let cases = [
            (
                "12345.dkr.ecr.eu-west-1.amazonaws.com",
                "\"12345\" is not a 12-digit",
            ),
            ("1234567890123.dkr.ecr.eu-west-1.amazonaws.com", "12-digit"),
            ("12345678901a.dkr.ecr.eu-west-1.amazonaws.com", "12-digit"),
            (
                "123456789012.dkr.ecr.amazonaws.com",
                "\"amazonaws\" is not an AWS region",
            ),
            (
                "123456789012.dkr.ecr.euwest1.amazonaws.com",
                "\"euwest1\" is not an AWS region",
            ),
            (
                "123456789012.dkr.ecr.eu-west.amazonaws.com",
                "not an AWS region",
            ),
            ("123456789012.dkr.ecr.eu-west-1", "\"\" is not a domain"),
            (
                "123456789012.dkr.ecr.eu-west-1.example.com",
                "\"example.com\" is not a domain of standard or FIPS",
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.on.aws",
                "not a domain of standard or FIPS",
            ),
            (
                "123456789012.dkr-ecr.eu-west-1.amazonaws.com",
                "not a domain of dual-stack",
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
                "region cn-north-1 is in the aws-cn partition",
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com.cn",
                "region eu-west-1 is in the aws partition",
            ),
            (
                "123456789012.dkr.ecr.us-gov-west-1.amazonaws.eu",
                "aws-us-gov partition",
            ),
            (
                "123456789012.dkr.ecr.us-iso-east-1.sc2s.sgov.gov",
                "aws-iso partition",
            ),
            ("123456789012.dkr-ecr.cn-north-1.on.aws", "aws-cn partition"),
            (
                "vpce-0a1b2c3d4e5f.dkr.ecr.eu-west-1.vpce.amazonaws.com",
                "VPC endpoint",
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com:0",
                "\"0\" is not a port",
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com:70000",
                "\"70000\" is not a port",
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com:http",
                "not a port",
            ),
        ];
        for (host, expected) in cases {
            let reason = malformed_reason(host);
            assert!(reason.contains(expected), "{host}: {reason}");
        }
        let err = parse("12345.dkr.ecr.eu-west-1.amazonaws.com").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("12345.dkr.ecr.eu-west-1.amazonaws.com is not a usable"),
            "{err}"
        );
    }

    #[test]
    fn region_names() {
        for good in [
            "us-east-1",
            "ap-southeast-5",
            "us-gov-west-1",
            "eusc-de-east-1",
            "us-isob-east-1",
            "mx-central-1",
        ] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "us-1",
            "us-east",
            "us-east-1a",
            "US-EAST-1",
            "us--1",
            "-east-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
