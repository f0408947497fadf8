//! AWS partitions: which regions belong to which, and under which domains
//! their ECR registries live, read from the AWS SDK's own endpoint rules
//! and partition table rather than written by hand. A registry host's
//! domain must be the one its region's partition uses for its form.

use std::fmt;

use super::EndpointForm;

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
    pub(super) fn of_region(region: &str) -> Partition {
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

impl Partition {
    /// Every partition.
    pub const ALL: [Partition; 8] = [
        Partition::Aws,
        Partition::China,
        Partition::GovCloud,
        Partition::EuropeanSovereign,
        Partition::Iso,
        Partition::IsoB,
        Partition::IsoE,
        Partition::IsoF,
    ];

    /// A region of the partition, to ask the SDK's rules for its domains.
    fn some_region(self) -> &'static str {
        match self {
            Partition::Aws => "us-east-1",
            Partition::China => "cn-north-1",
            Partition::GovCloud => "us-gov-west-1",
            Partition::EuropeanSovereign => "eusc-de-east-1",
            Partition::Iso => "us-iso-east-1",
            Partition::IsoB => "us-isob-east-1",
            Partition::IsoE => "eu-isoe-west-1",
            Partition::IsoF => "us-isof-south-1",
        }
    }
}

/// The domain of `form`'s registry hosts in `region`, from the AWS SDK's
/// own endpoint rules and partition table (which say, per partition, its
/// DNS suffixes and whether it has FIPS and dual-stack endpoints): the
/// ECR API endpoint is `api.ecr[-fips].<region>.<dnsSuffix>`, whose
/// registries are `<account>.dkr.ecr[-fips].<region>.<dnsSuffix>`; the
/// dual-stack one is `ecr[-fips].<region>.api.<rest>`, whose registries are
/// `<account>.dkr-ecr[-fips].<region>.on.<rest>` (docs/ecr.md).
pub(super) fn registry_domain(region: &str, form: EndpointForm) -> Result<String, String> {
    use aws_sdk_ecr::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    use futures_util::FutureExt as _;
    let params = Params::builder()
        .region(region)
        .use_fips(form.fips())
        .use_dual_stack(form.dual_stack())
        .build()
        .map_err(|err| err.to_string())?;
    // The rules are pure: the future is ready at once.
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .now_or_never()
        .ok_or("the SDK's endpoint rules did not answer")?
        .map_err(|err| format!("the SDK's endpoint rules refuse it: {err}"))?;
    let host = endpoint.url().trim_start_matches("https://");
    let fips = if form.fips() { "-fips" } else { "" };
    let unexpected = || format!("the SDK's endpoint rules name an unexpected host, {host}");
    if form.dual_stack() {
        let rest = host
            .strip_prefix(&format!("ecr{fips}.{region}.api."))
            .ok_or_else(unexpected)?;
        Ok(format!("on.{rest}"))
    } else {
        let suffix = host
            .strip_prefix(&format!("api.ecr{fips}.{region}."))
            .ok_or_else(unexpected)?;
        Ok(suffix.to_string())
    }
}

/// The registry domains of every partition, for `form`'s family.
pub(super) fn every_domain(form: EndpointForm) -> Vec<String> {
    let mut domains: Vec<String> = Vec::new();
    for partition in Partition::ALL {
        if let Ok(domain) = registry_domain(partition.some_region(), form) {
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
    }
    domains
}
