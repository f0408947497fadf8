//! Registries of any region and account (ECR_DISCOVER) and several AWS
//! identities (the config file's `[[source]]`s), through the Rancher
//! simulator and moto. An `AwsFront` before moto records each AWS call and
//! the region it was signed for, so "one token per (identity, region) per
//! cycle" is counted, and fails one region on demand.
//!
//! moto's password is `<account>-auth-token` for the caller's account: an
//! identity that assumed a role in another account gets another password,
//! which is how the tests tell the identities' tokens apart.

mod support;

use std::collections::BTreeMap;

use support::aws_front::{aws_error, tagged, AwsFront, Script};
use support::daemon::{base_env, moto_password, run, set, RANCHER_SECRET_KEY};
use support::rancher_sim::{KeyKind, RancherSim, Role};
use support::{add_environment, scratch_file};

const OWN: &str = "123456789012";
const PARTNER: &str = "210987654321";
const HUB_PASSWORD: &str = "docker-hub-password";

fn host(account: &str, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.amazonaws.com")
}

/// Adds a registry with a stale credential; returns the credential's id.
fn registry(sim: &RancherSim, project: &str, address: &str, secret: &str) -> String {
    let registry = sim.add_registry(project, address, "active");
    sim.add_credential(project, &registry, "AWS", secret, "active")
}

fn secret(sim: &RancherSim, credential: &str) -> String {
    sim.credential(credential)
        .and_then(|c| c.secret_value)
        .unwrap_or_default()
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
}

/// One environment (1a5, agent-style key) holding ECR registries of two
/// accounts in three regions, in several address forms, a pull proxy and
/// Docker Hub. Returns the credential ids by name.
async fn mixed_environment() -> (RancherSim, BTreeMap<&'static str, String>) {
    let sim = RancherSim::start().await;
    add_environment(&sim, "1a5");
    let mut ids = BTreeMap::new();
    for (name, address) in [
        ("own-us", host(OWN, "us-east-1")),
        ("own-eu", format!("https://{}/", host(OWN, "eu-west-1"))),
        ("partner-ap", host(PARTNER, "ap-southeast-2").to_uppercase()),
        (
            "partner-us-fips",
            format!("{PARTNER}.dkr.ecr-fips.us-east-1.amazonaws.com"),
        ),
        ("proxy", "pull-proxy.example.com".to_string()),
    ] {
        ids.insert(name, registry(&sim, "1a5", &address, "stale"));
    }
    ids.insert(
        "hub",
        registry(&sim, "1a5", "index.docker.io", HUB_PASSWORD),
    );
    (sim, ids)
}

fn discover_env(sim: &RancherSim, front: &AwsFront) -> Vec<(String, String)> {
    let mut env = base_env(&format!("{}/v2-beta/projects/1a5", sim.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "ECR_DISCOVER", "true");
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_writes_every_ecr_registry_with_one_token_per_region() {
    let (sim, ids) = mixed_environment().await;
    // Switched off by a user: not asked for, so neither written nor failed.
    let off = sim.add_registry("1a5", &host(OWN, "sa-east-1"), "inactive");
    let off = sim.add_credential("1a5", &off, "AWS", "stale", "active");
    let front = AwsFront::start(Script::TagRegions).await;
    let mut env = discover_env(&sim, &front);
    set(&mut env, "ECR_PROXY_HOST", "pull-proxy.example.com");
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    for (name, region) in [
        ("own-us", "us-east-1"),
        ("own-eu", "eu-west-1"),
        ("partner-ap", "ap-southeast-2"),
        ("partner-us-fips", "us-east-1"),
        ("proxy", "us-east-1"),
    ] {
        // The caller's token of the registry's region serves every
        // registry it may pull from there, whoever owns it.
        let expected = tagged(&moto_password(OWN), region);
        assert_eq!(secret(&sim, &ids[name]), expected, "{name}: {output}");
    }
    assert_eq!(secret(&sim, &ids["hub"]), HUB_PASSWORD);
    assert_eq!(secret(&sim, &off), "stale");
    assert_eq!(
        front.token_calls(0),
        counts(&[("ap-southeast-2", 1), ("eu-west-1", 1), ("us-east-1", 1)]),
        "{output}"
    );
    // Asked without registryIds: one token for the whole region.
    for body in front.bodies() {
        assert!(!body.contains("registryIds"), "{body}");
    }
    assert!(!output.contains(&moto_password(OWN)), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_with_registry_ids_keeps_to_those_accounts() {
    let (sim, ids) = mixed_environment().await;
    let front = AwsFront::start(Script::TagRegions).await;
    let mut env = discover_env(&sim, &front);
    set(&mut env, "AWS_ECR_REGISTRY_IDS", PARTNER);
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    for (name, region) in [
        ("partner-ap", "ap-southeast-2"),
        ("partner-us-fips", "us-east-1"),
    ] {
        let expected = tagged(&moto_password(OWN), region);
        assert_eq!(secret(&sim, &ids[name]), expected, "{name}");
    }
    for name in ["own-us", "own-eu", "proxy"] {
        assert_eq!(secret(&sim, &ids[name]), "stale", "{name}: {output}");
    }
    assert_eq!(
        front.token_calls(0),
        counts(&[("ap-southeast-2", 1), ("us-east-1", 1)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_without_a_token_fails_only_its_registries() {
    let (sim, ids) = mixed_environment().await;
    let front = AwsFront::start(Script::ReplyIn {
        region: "eu-west-1",
        operation: "GetAuthorizationToken",
        status: 400,
        body: aws_error(
            "AccessDeniedException",
            "not authorized to perform: ecr:GetAuthorizationToken",
        ),
    })
    .await;
    let result = run(&discover_env(&sim, &front), &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert_eq!(secret(&sim, &ids["own-eu"]), "stale");
    for name in ["own-us", "partner-ap", "partner-us-fips"] {
        assert_eq!(
            secret(&sim, &ids[name]),
            moto_password(OWN),
            "{name}: {output}"
        );
    }
    let failure = output
        .lines()
        .find(|line| line.contains(&host(OWN, "eu-west-1")) && line.contains("failed"))
        .unwrap_or_else(|| panic!("no failure line for the eu-west-1 registry:\n{output}"));
    assert!(
        failure.contains("eu-west-1") && failure.contains("AccessDenied"),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_share_one_token_per_region_and_a_failure_costs_one_call() {
    const USER_KEY: &str = "USERKEY0000000000000";
    let sim = RancherSim::start().await;
    let mut credentials = Vec::new();
    for id in ["1a5", "1a9", "1a12"] {
        sim.add_project_with(id, &format!("env-{id}"), "cattle", "active");
        sim.add_member(id, "1a20", Role::Member);
        for region in ["us-east-1", "eu-west-1", "sa-east-1"] {
            credentials.push((region, registry(&sim, id, &host(OWN, region), "stale")));
        }
    }
    sim.add_key(USER_KEY, RANCHER_SECRET_KEY, KeyKind::User, Some("1a20"));
    let front = AwsFront::start(Script::ReplyIn {
        region: "sa-east-1",
        operation: "GetAuthorizationToken",
        status: 400,
        body: aws_error("AccessDeniedException", "denied"),
    })
    .await;
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "ECR_DISCOVER", "true");
    set(&mut env, "CATTLE_ACCESS_KEY", USER_KEY);
    set(&mut env, "RANCHER_ENVIRONMENTS", "all");
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    for (region, credential) in &credentials {
        let expected = match *region {
            "sa-east-1" => "stale".to_string(),
            _ => moto_password(OWN),
        };
        assert_eq!(secret(&sim, credential), expected, "{region}: {output}");
    }
    // Three environments, three regions: three calls (the failed one
    // included), not nine.
    assert_eq!(
        front.token_calls(0),
        counts(&[("eu-west-1", 1), ("sa-east-1", 1), ("us-east-1", 1)]),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_sources_serve_their_regions_with_their_own_identities() {
    let sim = RancherSim::start().await;
    add_environment(&sim, "1a5");
    let own_us = registry(&sim, "1a5", &host(OWN, "us-east-1"), "stale");
    let partner_eu = registry(&sim, "1a5", &host(PARTNER, "eu-west-1"), "stale");
    let vanity = registry(&sim, "1a5", "registry.example.com", "stale");
    // eu-west-1, but of an account only the "home" source (us-east-1) has.
    let unclaimed = registry(&sim, "1a5", &host(OWN, "eu-west-1"), "stale");
    let front = AwsFront::start(Script::TagRegions).await;
    let path = scratch_file(
        "roles.toml",
        &format!(
            r#"
[[source]]
name = "home"
region = "us-east-1"

[[source]]
name = "partner"
region = "eu-west-1"
registry_ids = ["{PARTNER}"]
role_arn = "arn:aws:iam::{PARTNER}:role/ecr-pull"
external_id = "partner-external-id"
aliases = {{ "registry.example.com" = "{PARTNER}.dkr.ecr.eu-west-1.amazonaws.com" }}

[[target]]
"#
        ),
    );
    // The target takes CATTLE_URL and its key from the environment, as the
    // agent labels provide them.
    let mut env = base_env(&format!("{}/v2-beta/projects/1a5", sim.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "CONFIG_FILE", &path);
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    let home = tagged(&moto_password(OWN), "us-east-1");
    let partner = tagged(&moto_password(PARTNER), "eu-west-1");
    assert_eq!(secret(&sim, &own_us), home, "{output}");
    assert_eq!(secret(&sim, &partner_eu), partner, "{output}");
    assert_eq!(secret(&sim, &vanity), partner, "{output}");
    assert_eq!(secret(&sim, &unclaimed), "stale", "{output}");
    assert_eq!(
        front.token_calls(0),
        counts(&[("eu-west-1", 1), ("us-east-1", 1)]),
        "{output}"
    );
    let assume: Vec<String> = front
        .bodies()
        .into_iter()
        .filter(|body| body.contains("Action=AssumeRole"))
        .collect();
    assert_eq!(assume.len(), 1, "{assume:?}");
    assert!(
        assume[0].contains("ExternalId=partner-external-id"),
        "{assume:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_targets_write_several_ranchers_and_auto_create_per_target() {
    let first = RancherSim::start().await;
    add_environment(&first, "1a5");
    let existing = registry(&first, "1a5", &host(OWN, "us-east-1"), "stale");
    let front = AwsFront::start(Script::Forward).await;
    // A third Rancher whose one environment has no ECR registry: nothing
    // to do there is no failure.
    let third = RancherSim::start().await;
    third.add_project("1a3");
    third.add_key(
        "THIRDKEY000000000000",
        "third-secret-key",
        KeyKind::Environment,
        Some("1a3"),
    );
    let hub = registry(&third, "1a3", "index.docker.io", HUB_PASSWORD);
    let second = RancherSim::start().await;
    second.add_project("1a7");
    second.add_key(
        "SECONDKEY00000000000",
        "second-secret-key",
        KeyKind::Environment,
        Some("1a7"),
    );
    let secret_file = scratch_file("rancher-secret", "second-secret-key\n");
    let path = scratch_file(
        "targets.toml",
        &format!(
            r#"
[[source]]
name = "home"
region = "us-east-1"

[[target]]

[[target]]
url = "{}/v2-beta/projects/1a7"
access_key = "SECONDKEY00000000000"
secret_key_file = "{}"
auto_create = true

[[target]]
url = "{}/v2-beta/projects/1a3"
access_key = "THIRDKEY000000000000"
secret_key = "third-secret-key"
"#,
            second.url(),
            secret_file,
            third.url()
        ),
    );
    let mut env = base_env(&format!("{}/v2-beta/projects/1a5", first.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "CONFIG_FILE", &path);
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    assert_eq!(secret(&first, &existing), moto_password(OWN));
    let created = second.registries("1a7");
    assert_eq!(created.len(), 1, "{output}");
    assert_eq!(created[0].server_address, host(OWN, "us-east-1"));
    let credentials = second.credentials("1a7");
    assert_eq!(credentials.len(), 1, "{output}");
    assert_eq!(
        credentials[0].secret_value.as_deref(),
        Some(moto_password(OWN).as_str())
    );
    // The first target did not ask for creation.
    assert_eq!(first.registries("1a5").len(), 1);
    assert_eq!(secret(&third, &hub), HUB_PASSWORD);
    // One token for the three Ranchers.
    assert_eq!(
        front.token_calls(0),
        counts(&[("us-east-1", 1)]),
        "{output}"
    );
    assert!(!output.contains("second-secret-key"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_mistakes_and_conflicts_exit_2_naming_the_culprit() {
    let sim = RancherSim::start().await;
    add_environment(&sim, "1a5");
    let env = base_env(&format!("{}/v2-beta/projects/1a5", sim.url()));
    let good = scratch_file(
        "good.toml",
        "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n[[target]]\n",
    );
    for (variable, value) in [
        ("AWS_ECR_REGISTRY_IDS", OWN),
        ("ECR_DISCOVER", "true"),
        ("AUTO_CREATE", "false"),
        ("RANCHER_ENVIRONMENTS", "all"),
        ("ECR_PROXY_HOST", "pull-proxy.example.com"),
    ] {
        let mut env = env.clone();
        set(&mut env, "CONFIG_FILE", &good);
        set(&mut env, variable, value);
        let result = run(&env, &["--once"]).await;
        let output = result.output();
        assert_eq!(result.status.code(), Some(2), "{variable}: {output}");
        assert!(
            output.contains(variable) && output.contains("CONFIG_FILE") && output.contains(&good),
            "{variable}: {output}"
        );
    }
    let unknown = scratch_file(
        "unknown.toml",
        "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\ncolour = \"blue\"\n[[target]]\n",
    );
    let mut with_unknown = env.clone();
    set(&mut with_unknown, "CONFIG_FILE", &unknown);
    let result = run(&with_unknown, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(2), "{output}");
    assert!(
        output.contains(&format!("{unknown}:4: source.colour")),
        "{output}"
    );
    assert!(sim.requests().is_empty(), "nothing is asked of Rancher");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_profile_gives_one_daemon_an_identity_in_another_partition() {
    const CHINA_ACCOUNT: &str = "333344445555";
    let sim = RancherSim::start().await;
    add_environment(&sim, "1a5");
    let home = registry(&sim, "1a5", &host(OWN, "us-east-1"), "stale");
    let china_host = format!("{CHINA_ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn");
    let china = registry(&sim, "1a5", &china_host, "stale");
    let front = AwsFront::start(Script::TagRegions).await;
    // The China identity: a role of that partition, assumed from keys of
    // its own profile (not the default chain's).
    let aws_config = scratch_file(
        "aws-config",
        &format!(
            "[profile china]\nrole_arn = arn:aws-cn:iam::{CHINA_ACCOUNT}:role/ecr-pull\n\
             source_profile = china-keys\n\n\
             [profile china-keys]\naws_access_key_id = AKIAEXAMPLECHINA0001\n\
             aws_secret_access_key = china-secret-access-key\n"
        ),
    );
    let path = scratch_file(
        "partitions.toml",
        "[[source]]\nname = \"home\"\nregion = \"us-east-1\"\n\n\
         [[source]]\nname = \"china\"\nregion = \"cn-north-1\"\nprofile = \"china\"\n\n\
         [[target]]\n",
    );
    let mut env = base_env(&format!("{}/v2-beta/projects/1a5", sim.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "AWS_CONFIG_FILE", &aws_config);
    set(&mut env, "CONFIG_FILE", &path);
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    let expected = tagged(&moto_password(OWN), "us-east-1");
    assert_eq!(secret(&sim, &home), expected, "{output}");
    let expected = tagged(&moto_password(CHINA_ACCOUNT), "cn-north-1");
    assert_eq!(secret(&sim, &china), expected, "{output}");
    assert_eq!(
        front.token_calls(0),
        counts(&[("cn-north-1", 1), ("us-east-1", 1)]),
        "{output}"
    );
    assert!(!output.contains("china-secret-access-key"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_with_discover_names_each_problem_and_writes_nothing() {
    let (sim, ids) = mixed_environment().await;
    registry(
        &sim,
        "1a5",
        "210987654321.dkr.ecr.us-east-1.vpce.amazonaws.com",
        "stale",
    );
    let front = AwsFront::start(Script::Forward).await;
    let result = run(&discover_env(&sim, &front), &["--check"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert!(output.contains("ok   AWS identity"), "{output}");
    assert!(output.contains("ok   ECR token: us-east-1"), "{output}");
    let environment = output
        .lines()
        .find(|line| line.starts_with("FAIL environment 1a5"))
        .unwrap_or_else(|| panic!("no line for 1a5:\n{output}"));
    assert!(environment.contains("VPC endpoint"), "{environment}");
    for credential in ids.values() {
        assert_ne!(secret(&sim, credential), moto_password(OWN), "{output}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_with_auto_create_makes_the_proxy_registry() {
    let sim = RancherSim::start().await;
    add_environment(&sim, "1a5");
    let eu = registry(&sim, "1a5", &host(OWN, "eu-west-1"), "stale");
    let front = AwsFront::start(Script::TagRegions).await;
    let mut env = discover_env(&sim, &front);
    set(&mut env, "ECR_PROXY_HOST", "pull-proxy.example.com");
    set(&mut env, "AUTO_CREATE", "true");
    let result = run(&env, &["--once"]).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(0), "{output}");
    let eu_token = tagged(&moto_password(OWN), "eu-west-1");
    assert_eq!(secret(&sim, &eu), eu_token, "{output}");
    // The proxy stands for the caller's registry in AWS_REGION: that is
    // the registry created, not the ECR host behind it.
    let addresses: Vec<String> = sim
        .registries("1a5")
        .into_iter()
        .map(|r| r.server_address)
        .collect();
    assert_eq!(
        addresses,
        [host(OWN, "eu-west-1"), "pull-proxy.example.com".to_string()],
        "{output}"
    );
    let created = sim.credentials("1a5").pop().unwrap();
    assert_eq!(
        created.secret_value,
        Some(tagged(&moto_password(OWN), "us-east-1"))
    );
}
