//! AWS partitions: which regions belong to which, and under which domains
//! their ECR registries live. A registry host's domain must be one its
//! region's partition uses.

use std::fmt;

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

/// Registry domains of the standard and FIPS forms, with the partitions
/// whose regions they serve (the commercial domain also serves GovCloud).
pub(super) const STANDARD_DOMAINS: [(&str, &[Partition]); 7] = [
    ("amazonaws.com", &[Partition::Aws, Partition::GovCloud]),
    ("amazonaws.com.cn", &[Partition::China]),
    ("amazonaws.eu", &[Partition::EuropeanSovereign]),
    ("c2s.ic.gov", &[Partition::Iso]),
    ("sc2s.sgov.gov", &[Partition::IsoB]),
    ("cloud.adc-e.uk", &[Partition::IsoE]),
    ("csp.hci.ic.gov", &[Partition::IsoF]),
];

/// Registry domains of the dual-stack forms.
pub(super) const DUAL_STACK_DOMAINS: [(&str, &[Partition]); 2] = [
    ("on.aws", &[Partition::Aws, Partition::GovCloud]),
    ("on.amazonwebservices.com.cn", &[Partition::China]),
];
