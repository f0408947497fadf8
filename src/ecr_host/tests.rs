//! Every host form, and every way a host can be wrong.

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

/// Every private form: host, region, partition, form.
const PRIVATE_FORMS: &[(&str, &str, Partition, EndpointForm)] = &[
    (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "eu-west-1",
        Partition::Aws,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr.ecr-fips.us-east-2.amazonaws.com",
        "us-east-2",
        Partition::Aws,
        EndpointForm::Fips,
    ),
    (
        "123456789012.dkr-ecr.ap-southeast-2.on.aws",
        "ap-southeast-2",
        Partition::Aws,
        EndpointForm::DualStack,
    ),
    (
        "123456789012.dkr-ecr-fips.us-west-2.on.aws",
        "us-west-2",
        Partition::Aws,
        EndpointForm::DualStackFips,
    ),
    (
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
        "cn-north-1",
        Partition::China,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
        "cn-northwest-1",
        Partition::China,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
        "cn-north-1",
        Partition::China,
        EndpointForm::DualStack,
    ),
    (
        "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
        "us-gov-west-1",
        Partition::GovCloud,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
        "us-gov-east-1",
        Partition::GovCloud,
        EndpointForm::Fips,
    ),
    (
        "123456789012.dkr-ecr.us-gov-west-1.on.aws",
        "us-gov-west-1",
        Partition::GovCloud,
        EndpointForm::DualStack,
    ),
    (
        "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
        "eusc-de-east-1",
        Partition::EuropeanSovereign,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
        "us-iso-east-1",
        Partition::Iso,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
        "us-isob-east-1",
        Partition::IsoB,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
        "eu-isoe-west-1",
        Partition::IsoE,
        EndpointForm::Standard,
    ),
    (
        "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
        "us-isof-south-1",
        Partition::IsoF,
        EndpointForm::Standard,
    ),
];

/// FIPS and dual-stack in partitions other than the commercial one: the
/// SDK's partition table says every partition has both.
const OTHER_PARTITION_FORMS: &[(&str, Partition, EndpointForm)] = &[
    (
        "123456789012.dkr.ecr-fips.eusc-de-east-1.amazonaws.eu",
        Partition::EuropeanSovereign,
        EndpointForm::Fips,
    ),
    (
        "123456789012.dkr-ecr.eusc-de-east-1.on.amazonwebservices.eu",
        Partition::EuropeanSovereign,
        EndpointForm::DualStack,
    ),
    (
        "123456789012.dkr.ecr-fips.cn-northwest-1.amazonaws.com.cn",
        Partition::China,
        EndpointForm::Fips,
    ),
    (
        "123456789012.dkr.ecr-fips.us-iso-east-1.c2s.ic.gov",
        Partition::Iso,
        EndpointForm::Fips,
    ),
];

#[test]
fn forms_follow_the_sdk_partition_table() {
    for (host, partition, form) in OTHER_PARTITION_FORMS {
        let registry = private(host);
        assert_eq!(
            (registry.partition, registry.form),
            (*partition, *form),
            "{host}"
        );
    }
    assert!(malformed_reason("123456789012.dkr-ecr.eusc-de-east-1.on.aws").contains("aws-eusc"));
}

#[test]
fn every_private_form() {
    let cases = PRIVATE_FORMS;
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
