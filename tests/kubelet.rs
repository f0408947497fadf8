//! The kubelet credential provider mode, end to end: the real binary, a
//! request on stdin, AWS through moto. The response is decoded as strictly
//! as the kubelet does (unknown fields rejected).
//!
//! An `AwsFront` (tests/support/aws_front.rs) sits between the binary and
//! moto where a test needs to see or bend the AWS traffic.

mod support;

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use support::aws_front::{aws_error, AwsFront, Script, Seen};
use support::daemon::{binary, AWS_ACCESS_KEY, AWS_SECRET_KEY};
use support::moto::Moto;
use support::tls_front::TlsFront;

const V1: &str = "credentialprovider.kubelet.k8s.io/v1";
const SA_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwOnB1bGxlciJ9.c2lnbmF0dXJlLXNlY3JldA";
/// moto's password for a registry: `<account>-auth-token`.
fn password_of(account: &str) -> String {
    format!("{account}-auth-token")
}

// ---------------------------------------------------------------- running

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    /// The stderr lines that are not blank.
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }
}

/// The environment of a node with static credentials and no region: AWS
/// at `endpoint`, nothing of the developer's setup, no instance metadata.
fn node_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
    env
}

fn without(mut env: Vec<(String, String)>, key: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env
}

/// Runs `kubelet-credential-provider <args>` with `stdin`, as the kubelet does.
async fn provide(env: &[(String, String)], args: &[&str], stdin: &str) -> Finished {
    let mut child = tokio::process::Command::new(binary())
        .arg("kubelet-credential-provider")
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin");
    // A run that fails before reading stdin (a bad flag) may close it first.
    if let Err(err) = input.write_all(stdin.as_bytes()).await {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    }
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the provider finished within 120 s")
        .expect("the provider ran");
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn request(api_version: &str, image: &str) -> String {
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": api_version,
        "image": image,
    })
    .to_string()
}

fn sa_request(image: &str, annotations: serde_json::Value) -> String {
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": V1,
        "image": image,
        "serviceAccountToken": SA_TOKEN,
        "serviceAccountAnnotations": annotations,
    })
    .to_string()
}

// ------------------------------------------------- the kubelet's decoding

/// `CredentialProviderResponse` as every released kubelet decodes it:
/// strictly, unknown fields rejected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KubeletResponse {
    kind: String,
    api_version: String,
    cache_key_type: String,
    cache_duration: Option<String>,
    auth: BTreeMap<String, KubeletAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubeletAuth {
    username: String,
    password: String,
}

/// The response of a successful run, decoded strictly.
fn decoded(out: &Finished) -> KubeletResponse {
    assert!(
        out.status.success(),
        "the provider failed: {}\n{}",
        out.status,
        out.stderr
    );
    let response: KubeletResponse = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|err| panic!("stdout is not a strict response ({err}): {}", out.stdout));
    assert_eq!(response.kind, "CredentialProviderResponse");
    assert_eq!(response.cache_key_type, "Registry");
    assert_eq!(response.auth.len(), 1, "{response:?}");
    response
}

/// Seconds of a Go duration string (`5h59m30s`, `0s`).
fn go_seconds(text: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {text}"));
        number.clear();
        total += value
            * match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => panic!("bad duration {text}"),
            };
    }
    assert!(number.is_empty(), "bad duration {text}");
    total
}

/// A failed run: non-zero, nothing on stdout, exactly one stderr line
/// holding each of `expected`, and no secret anywhere.
fn assert_fails_with(out: &Finished, expected: &[&str]) {
    assert!(!out.status.success(), "it succeeded: {}", out.stdout);
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "stderr: {}", out.stderr);
    for text in expected {
        assert!(lines[0].contains(text), "{text:?} not in: {}", lines[0]);
    }
    assert_no_secrets(out);
}

fn assert_no_secrets(out: &Finished) {
    for secret in [AWS_SECRET_KEY, SA_TOKEN, "c2lnbmF0dXJlLXNlY3JldA"] {
        assert!(
            !out.stderr.contains(secret),
            "a secret on stderr: {}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains("-auth-token"),
        "a password on stderr: {}",
        out.stderr
    );
}

// ---------------------------------------------------------- the AWS front

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread")]
async fn answers_in_each_protocol_version() {
    let moto = Moto::shared();
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app";
    for version in ["v1alpha1", "v1beta1", "v1"] {
        let api_version = format!("credentialprovider.kubelet.k8s.io/{version}");
        // Whatever log level the node's environment asks for.
        let env = with(
            with(node_env(&moto.endpoint), "RUST_LOG", "trace"),
            "LOG_LEVEL",
            "trace",
        );
        let out = provide(&env, &[], &request(&api_version, image)).await;
        let response = decoded(&out);
        assert_eq!(response.api_version, api_version);
        let auth = &response.auth["123456789012.dkr.ecr.eu-west-1.amazonaws.com"];
        assert_eq!(auth.username, "AWS");
        assert_eq!(auth.password, password_of("123456789012"));
        // moto's tokens expired in 2015: not cached, and said.
        assert_eq!(response.cache_duration.as_deref(), Some("0s"));
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", out.stderr);
        assert!(
            lines[0].contains("node's clock or the token looks wrong"),
            "{}",
            lines[0]
        );
        assert_no_secrets(&out);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_key_keeps_the_port() {
    let moto = Moto::shared();
    for (image, key) in [
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com:5000/app:1.0",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com:5000",
        ),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com:443/app",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com:443",
        ),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/app@sha256:0123456789abcdef",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com",
        ),
    ] {
        let out = provide(&node_env(&moto.endpoint), &[], &request(V1, image)).await;
        let response = decoded(&out);
        assert!(response.auth.contains_key(key), "{image}: {response:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_private_host_form_asks_its_own_region() {
    let front = AwsFront::start(Script::Forward).await;
    let cases = [
        (
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
            "eu-central-1",
        ),
        (
            "123456789012.dkr.ecr-fips.us-east-2.amazonaws.com",
            "us-east-2",
        ),
        (
            "123456789012.dkr-ecr.ap-southeast-2.on.aws",
            "ap-southeast-2",
        ),
        ("123456789012.dkr-ecr-fips.us-west-1.on.aws", "us-west-1"),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
        ),
        (
            "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
            "cn-northwest-1",
        ),
        (
            "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
            "us-gov-west-1",
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
            "us-gov-east-1",
        ),
        (
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
            "eusc-de-east-1",
        ),
        (
            "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
            "us-iso-east-1",
        ),
        (
            "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
            "us-isob-east-1",
        ),
        (
            "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
            "eu-isoe-west-1",
        ),
        (
            "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
            "us-isof-south-1",
        ),
    ];
    for (host, region) in cases {
        let before = front.seen().len();
        let out = provide(
            &node_env(&front.url),
            &[],
            &request(V1, &format!("{host}/app")),
        )
        .await;
        let response = decoded(&out);
        assert_eq!(
            response.auth[host].password,
            password_of("123456789012"),
            "{host}"
        );
        let seen = front.seen()[before..].to_vec();
        assert_eq!(
            seen,
            [Seen {
                operation: "GetAuthorizationToken".into(),
                region: region.into()
            }],
            "{host}"
        );
    }
    // As upstream: no registryIds, the token serves every registry of the
    // region the identity may read.
    let bodies = front.bodies();
    assert_eq!(bodies.len(), cases.len());
    assert!(
        bodies.iter().all(|body| !body.contains("registryIds")),
        "{bodies:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_duration_is_half_the_tokens_remaining_life() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let front = AwsFront::start(Script::Expiry(Some(now + 12.0 * 3600.0))).await;
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app";
    let out = provide(&node_env(&front.url), &[], &request(V1, image)).await;
    let response = decoded(&out);
    let seconds = go_seconds(response.cache_duration.as_deref().unwrap());
    // Half of 12 h, less the (whole) seconds this run took.
    assert!(
        (5 * 3600..=6 * 3600).contains(&seconds),
        "{:?}",
        response.cache_duration
    );
    assert!(out.stderr_lines().is_empty(), "{}", out.stderr);

    let front = AwsFront::start(Script::Expiry(None)).await;
    let out = provide(&node_env(&front.url), &[], &request(V1, image)).await;
    assert_eq!(decoded(&out).cache_duration.as_deref(), Some("0s"));
    assert!(out.stderr.contains("no expiry"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_tokens_assume_the_annotated_role() {
    let front = AwsFront::start(Script::Forward).await;
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app";
    // No static credentials at all: the pod's token is the only proof.
    let env = without(
        without(node_env(&front.url), "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY",
    );
    let annotated = sa_request(
        image,
        serde_json::json!({"eks.amazonaws.com/ecr-role-arn": "arn:aws:iam::111122223333:role/pull"}),
    );
    let out = provide(
        &with(
            env.clone(),
            "AWS_ECR_ROLE_ARN",
            "arn:aws:iam::444455556666:role/env",
        ),
        &[],
        &annotated,
    )
    .await;
    // moto issues the role's account's token to the role's credentials.
    assert_eq!(
        decoded(&out).auth[image.split('/').next().unwrap()].password,
        password_of("111122223333")
    );
    assert_no_secrets(&out);
    let operations: Vec<String> = front.seen().into_iter().map(|s| s.operation).collect();
    assert_eq!(
        operations,
        ["AssumeRoleWithWebIdentity", "GetAuthorizationToken"]
    );

    let bare = sa_request(image, serde_json::json!({}));
    let out = provide(
        &with(
            env.clone(),
            "AWS_ECR_ROLE_ARN",
            "arn:aws:iam::444455556666:role/env",
        ),
        &[],
        &bare,
    )
    .await;
    assert_eq!(
        decoded(&out).auth.values().next().unwrap().password,
        password_of("444455556666")
    );

    // Without a role, the default chain (here: static keys), as upstream.
    let out = provide(&node_env(&front.url), &[], &bare).await;
    assert_eq!(
        decoded(&out).auth.values().next().unwrap().password,
        password_of("123456789012")
    );

    let out = provide(
        &env,
        &[],
        &sa_request(
            image,
            serde_json::json!({"eks.amazonaws.com/ecr-role-arn": "pull"}),
        ),
    )
    .await;
    assert_fails_with(
        &out,
        &[
            "eks.amazonaws.com/ecr-role-arn",
            "\"pull\"",
            "not an IAM role ARN",
        ],
    );
}

fn config_file(name: &str, text: &str) -> String {
    let path =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kubelet-{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_and_source_roles_come_from_the_config_file() {
    let front = AwsFront::start(Script::Forward).await;
    let config = config_file(
        "aliases",
        r#"
[[source]]
name = "eu"
region = "eu-west-3"
role_arn = "arn:aws:iam::222233334444:role/ecr-pull"
aliases = { "mirror.example.com:5000" = "222233334444.dkr.ecr.eu-west-3.amazonaws.com" }

[[target]]
url = "http://rancher:8080/v1"
access_key = "K"
secret_key_file = "/not/on/this/node"
"#,
    );
    let out = provide(
        &node_env(&front.url),
        &["--config", &config],
        &request(V1, "mirror.example.com:5000/library/nginx:1"),
    )
    .await;
    let response = decoded(&out);
    assert_eq!(
        response.auth["mirror.example.com:5000"].password,
        password_of("222233334444")
    );
    assert!(
        out.stderr_lines()
            .iter()
            .all(|l| !l.contains("default region")),
        "{}",
        out.stderr
    );
    let seen = front.seen();
    assert_eq!(
        seen,
        [
            Seen {
                operation: "AssumeRole".into(),
                region: "eu-west-3".into()
            },
            Seen {
                operation: "GetAuthorizationToken".into(),
                region: "eu-west-3".into()
            },
        ]
    );

    // The source also serves its region's ECR hosts directly.
    let out = provide(
        &node_env(&front.url),
        &["--config", &config],
        &request(V1, "123456789012.dkr.ecr.eu-west-3.amazonaws.com/app"),
    )
    .await;
    assert_eq!(
        decoded(&out).auth.values().next().unwrap().password,
        password_of("222233334444")
    );

    // Not an alias: the default region, said on stderr.
    let out = provide(
        &with(node_env(&front.url), "AWS_REGION", "ap-south-1"),
        &["--config", &config],
        &request(V1, "other.example.com/app"),
    )
    .await;
    assert!(decoded(&out).auth.contains_key("other.example.com"));
    assert!(
        out.stderr
            .contains("other.example.com is not an ECR registry host")
            && out.stderr.contains("default region ap-south-1"),
        "{}",
        out.stderr
    );
    assert_eq!(front.seen().last().unwrap().region, "ap-south-1");

    let out = provide(
        &node_env(&front.url),
        &["--config", &config],
        &request(V1, "other.example.com/app"),
    )
    .await;
    assert_fails_with(
        &out,
        &[
            "cannot tell the AWS region for other.example.com",
            "AWS_REGION",
        ],
    );

    let broken = config_file("broken", "[[source]]\nname = \"eu\"\nzone = \"x\"\n");
    let out = provide(
        &node_env(&front.url),
        &["--config", &broken],
        &request(V1, "123456789012.dkr.ecr.eu-west-3.amazonaws.com/app"),
    )
    .await;
    assert_fails_with(&out, &[&format!("{broken}:3: source.zone: unknown key")]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn ecr_public_uses_us_east_1() {
    // moto does not serve ECR Public: the front answers in its stead.
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode("AWS:public-password");
    let front = AwsFront::start(Script::Reply {
        operation: "GetAuthorizationToken",
        status: 200,
        body: serde_json::json!({"authorizationData": {"authorizationToken": token, "expiresAt": 4_000_000_000.0}})
            .to_string(),
    })
    .await;
    for host in ["public.ecr.aws", "ecr-public.aws.com"] {
        let before = front.seen().len();
        let out = provide(
            &with(node_env(&front.url), "AWS_REGION", "eu-west-1"),
            &[],
            &request(V1, &format!("{host}/nginx/nginx:latest")),
        )
        .await;
        let response = decoded(&out);
        assert_eq!(response.auth[host].password, "public-password");
        assert_eq!(
            front.seen()[before..],
            [Seen {
                operation: "GetAuthorizationToken".into(),
                region: "us-east-1".into()
            }]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_one_line_and_no_stdout() {
    let moto = Moto::shared();
    let env = node_env(&moto.endpoint);
    let cases = [
        ("", "stdin is empty"),
        ("image=x", "not valid JSON"),
        (
            r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v2","image":"a.example.com/b"}"#,
            "apiVersion \"credentialprovider.kubelet.k8s.io/v2\"",
        ),
        (
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a.example.com/b"}"#,
            "kind \"CredentialProviderResponse\"",
        ),
        (
            r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}"#,
            "no image",
        ),
        (&request(V1, "nginx"), "names no registry host"),
        (
            &request(V1, "bad host.example.com/app"),
            "not a registry host",
        ),
        (
            &request(V1, "12345.dkr.ecr.eu-west-1.amazonaws.com/app"),
            "\"12345\" is not a 12-digit AWS account id",
        ),
    ];
    for (input, expected) in cases {
        let out = provide(&env, &[], input).await;
        assert_fails_with(&out, &["bad request", expected]);
    }
    // A flag the mode does not know: one line too, not clap's usage block.
    let out = provide(&env, &["--bogus"], &request(V1, "a.example.com/b")).await;
    assert_fails_with(&out, &["configuration error", "'--bogus'"]);
    assert_eq!(out.status.code(), Some(2));
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app";
    for (ca_file, expected) in [
        ("/nonexistent/ca.pem", "cannot read /nonexistent/ca.pem"),
        ("/etc/hostname", "holds no PEM certificate"),
    ] {
        let out = provide(
            &with(env.clone(), "CA_FILE", ca_file),
            &[],
            &request(V1, image),
        )
        .await;
        assert_fails_with(&out, &["configuration error", "CA_FILE", expected]);
        assert_eq!(out.status.code(), Some(2));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_names_its_cause_and_fix() {
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app";
    let moto = Moto::shared();

    let no_keys = without(
        without(node_env(&moto.endpoint), "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY",
    );
    let out = provide(&no_keys, &[], &request(V1, image)).await;
    assert_fails_with(
        &out,
        &[
            "no AWS credentials found",
            "Environment:",
            "Ec2InstanceMetadata: IMDS disabled",
            "AWS_PROFILE",
        ],
    );

    // A metadata service that never answers is named as such, by its own
    // short timeout rather than the run's deadline.
    let (imds, _) = support::silent_server().await;
    let dead_imds = with(
        without(no_keys.clone(), "AWS_EC2_METADATA_DISABLED"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        &imds,
    );
    let out = provide(&dead_imds, &[], &request(V1, image)).await;
    assert_fails_with(
        &out,
        &[
            "instance metadata service (IMDS) did not answer",
            "hop-limit 2",
        ],
    );
    assert!(!out.stderr.contains("within 45s"), "{}", out.stderr);

    let denied = AwsFront::start(Script::Reply {
        operation: "GetAuthorizationToken",
        status: 400,
        body: aws_error(
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/node is not authorized to perform: ecr:GetAuthorizationToken",
        ),
    })
    .await;
    let out = provide(&node_env(&denied.url), &[], &request(V1, image)).await;
    assert_fails_with(
        &out,
        &[
            "AWS denied ecr:GetAuthorizationToken in eu-west-1",
            "AccessDeniedException",
            "Resource \"*\"",
        ],
    );

    let throttled = AwsFront::start(Script::Reply {
        operation: "GetAuthorizationToken",
        status: 400,
        body: aws_error("ThrottlingException", "Rate exceeded"),
    })
    .await;
    let out = provide(&node_env(&throttled.url), &[], &request(V1, image)).await;
    assert_fails_with(
        &out,
        &[
            "AWS throttled ecr:GetAuthorizationToken in eu-west-1",
            "Rate exceeded",
        ],
    );
    // The SDK retried before giving up.
    assert!(throttled.seen().len() > 1, "{:?}", throttled.seen());

    let sts_denied = AwsFront::start(Script::Reply {
        operation: "AssumeRoleWithWebIdentity",
        status: 403,
        body: "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
               <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>\
               </Error></ErrorResponse>"
            .into(),
    })
    .await;
    let out = provide(
        &node_env(&sts_denied.url),
        &[],
        &sa_request(image, serde_json::json!({"eks.amazonaws.com/ecr-role-arn": "arn:aws:iam::111122223333:role/pull"})),
    )
    .await;
    assert_fails_with(
        &out,
        &[
            "AWS denied sts:AssumeRoleWithWebIdentity for arn:aws:iam::111122223333:role/pull",
            "trust policy",
        ],
    );

    let closed = format!("http://127.0.0.1:{}", support::moto::free_port());
    let out = provide(&node_env(&closed), &[], &request(V1, image)).await;
    assert_fails_with(
        &out,
        &["cannot reach the ECR endpoint for eu-west-1", "HTTPS_PROXY"],
    );
}

// ------------------------------------------------------------ --check-image

/// A registry that knows `app:1` and lets the moto password pull it,
/// forbids `secret`, and sends a Bearer challenge for `bearer/*`.
async fn registry() -> (u16, Arc<Mutex<Vec<String>>>) {
    use axum::routing::{any, get};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("AWS:{}", password_of("123456789012")))
        )
    };
    let manifests = move |uri: Uri, headers: HeaderMap| {
        let log = log.clone();
        let basic = basic.clone();
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let accept = headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            log.lock().unwrap().push(uri.path().to_string());
            assert!(
                accept.contains("application/vnd.oci.image.index.v1+json"),
                "{accept}"
            );
            let path = uri.path();
            if path.starts_with("/v2/bearer/") {
                if auth == "Bearer t0ken" {
                    return StatusCode::OK.into_response();
                }
                let realm = format!(
                    "https://{}/token",
                    headers.get("host").unwrap().to_str().unwrap()
                );
                return (
                    StatusCode::UNAUTHORIZED,
                    [("www-authenticate", format!("Bearer realm=\"{realm}\",service=\"reg\",scope=\"repository:bearer/app:pull\""))],
                )
                    .into_response();
            }
            if auth != basic {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            match path {
                "/v2/team/app/manifests/1" => StatusCode::OK.into_response(),
                "/v2/secret/manifests/latest" => StatusCode::FORBIDDEN.into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    let token = |uri: Uri, headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(auth.starts_with("Basic "), "{auth}");
        assert!(
            uri.query()
                .unwrap_or("")
                .contains("scope=repository%3Abearer%2Fapp%3Apull"),
            "{uri}"
        );
        (
            [("content-type", "application/json")],
            serde_json::json!({"token": "t0ken"}).to_string(),
        )
    };
    let app = axum::Router::new()
        .route("/token", get(token))
        .route("/v2/{*rest}", any(manifests));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn check_image_says_whether_the_identity_can_pull() {
    let moto = Moto::shared();
    let (port, seen) = registry().await;
    let tls = TlsFront::start(port);
    let host = format!("localhost:{}", tls.port);
    let config = config_file(
        "check-image",
        &format!(
            "[[source]]\nname = \"us\"\nregion = \"us-east-1\"\n\
             aliases = {{ \"{host}\" = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\" }}\n"
        ),
    );
    let env = with(
        node_env(&moto.endpoint),
        "CA_FILE",
        tls.ca_file.to_str().unwrap(),
    );
    let check = |image: String| {
        let env = env.clone();
        let config = config.clone();
        async move { provide(&env, &["--config", &config, "--check-image", &image], "").await }
    };

    let out = check(format!("{host}/team/app:1")).await;
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("ok   token: for localhost"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ok   pull: "), "{}", out.stdout);

    let out = check(format!("{host}/secret")).await;
    assert!(!out.status.success());
    assert!(
        out.stdout.contains("FAIL pull:") && out.stdout.contains("ecr:BatchGetImage"),
        "{}",
        out.stdout
    );

    let out = check(format!("{host}/team/app:2")).await;
    assert!(!out.status.success());
    assert!(out.stdout.contains("not found (404)"), "{}", out.stdout);

    let out = check(format!("{host}/bearer/app:1")).await;
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);

    assert_no_secrets(&out);
    assert!(!out.stdout.contains("-auth-token"), "{}", out.stdout);
    assert!(seen
        .lock()
        .unwrap()
        .contains(&"/v2/team/app/manifests/1".to_string()));

    // Without the CA, the certificate is refused and the cause is named.
    let out = provide(
        &without(env.clone(), "CA_FILE"),
        &[
            "--config",
            &config,
            "--check-image",
            &format!("{host}/team/app:1"),
        ],
        "",
    )
    .await;
    assert!(!out.status.success());
    assert!(
        out.stdout.contains("cannot reach the registry") && out.stdout.contains("CA_FILE"),
        "{}",
        out.stdout
    );
}

// ------------------------------------------------------------- the docs

/// The kubelet's image matching (pkg/credentialprovider `URLsMatch`): no
/// scheme, equal ports, the same number of host labels, each label a glob
/// (Go's `filepath.Match`), the pattern's path a prefix of the image's.
fn kubelet_matches(pattern: &str, image: &str) -> bool {
    fn split(text: &str) -> (Vec<&str>, &str, &str) {
        let text = text.strip_prefix("https://").unwrap_or(text);
        let (host, path) = text.split_once('/').map_or((text, ""), |(h, p)| (h, p));
        let (host, port) = host.rsplit_once(':').unwrap_or((host, ""));
        (host.split('.').collect(), port, path)
    }
    let (pattern_labels, pattern_port, pattern_path) = split(pattern);
    let (image_labels, image_port, image_path) = split(image);
    pattern_port == image_port
        && pattern_labels.len() == image_labels.len()
        && image_path.starts_with(pattern_path)
        && pattern_labels
            .iter()
            .zip(&image_labels)
            .all(|(glob, label)| glob_matches(glob.as_bytes(), label.as_bytes()))
}

/// Go's `filepath.Match` on one label: `*`, `?`, `[…]` (ranges, `^`), `\`.
fn glob_matches(glob: &[u8], text: &[u8]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_matches(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_matches(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().position(|&c| c == b']') else {
                return false;
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let (negated, class) = match class.split_first() {
                Some((b'^', class)) => (true, class),
                _ => (false, class),
            };
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let mut found = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    found |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    found |= class[i] == c;
                    i += 1;
                }
            }
            found != negated && glob_matches(after, text_rest)
        }
        Some((b'\\', rest)) => match (rest.split_first(), text.split_first()) {
            (Some((g, rest)), Some((t, text_rest))) => g == t && glob_matches(rest, text_rest),
            _ => false,
        },
        Some((&g, rest)) => text.first() == Some(&g) && glob_matches(rest, &text[1..]),
    }
}

#[test]
fn the_matcher_follows_the_kubelet() {
    assert!(kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"
    ));
    assert!(!kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app"
    ));
    assert!(!kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com:5000/app"
    ));
    assert!(!kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app"
    ));
    assert!(kubelet_matches(
        "registry.io:8080/path",
        "registry.io:8080/path/app"
    ));
    assert!(!kubelet_matches(
        "registry.io:8080/path",
        "registry.io:8080/other"
    ));
    assert!(kubelet_matches("k8s.*.io", "k8s.gcr.io/app"));
    assert!(kubelet_matches("app?.[a-c]x.[^0-9]", "app1.bx.z/app"));
    assert!(!kubelet_matches("app?.[a-c]x.[^0-9]", "app1.dx.z/app"));
}

/// One sample host per documented host form.
const HOST_FORMS: [(&str, &str); 15] = [
    ("standard", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    ("FIPS", "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"),
    ("dual-stack", "123456789012.dkr-ecr.eu-west-1.on.aws"),
    (
        "dual-stack FIPS",
        "123456789012.dkr-ecr-fips.us-east-1.on.aws",
    ),
    ("China", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
    (
        "China dual-stack",
        "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
    ),
    (
        "GovCloud",
        "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
    ),
    (
        "GovCloud FIPS",
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
    ),
    (
        "EU sovereign cloud",
        "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
    ),
    ("ISO", "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov"),
    ("ISO-B", "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov"),
    (
        "ISO-E",
        "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
    ),
    (
        "ISO-F",
        "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
    ),
    ("ECR Public", "public.ecr.aws"),
    ("ECR Public dual-stack", "ecr-public.aws.com"),
];

#[test]
fn documented_match_images_cover_every_host_form() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/kubelet-credential-provider.md"
    ))
    .unwrap();
    let yaml = docs
        .split("```yaml")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .find(|block| block.contains("kind: CredentialProviderConfig"))
        .expect("a CredentialProviderConfig in the docs");
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    assert_eq!(config["apiVersion"], "kubelet.config.k8s.io/v1");
    let provider = &config["providers"][0];
    assert_eq!(provider["name"], "rancher-ecr-credentials");
    assert_eq!(provider["apiVersion"], V1);
    assert_eq!(provider["args"][0], "kubelet-credential-provider");
    assert!(provider["defaultCacheDuration"].is_string());
    let patterns: Vec<&str> = provider["matchImages"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for pattern in &patterns {
        let served = HOST_FORMS
            .iter()
            .find(|(_, host)| kubelet_matches(pattern, &format!("{host}/app")));
        assert!(
            served.is_some(),
            "{pattern} matches no documented host form"
        );
    }
    for (form, host) in HOST_FORMS {
        let image = format!("{host}/team/app");
        assert!(
            patterns.iter().any(|p| kubelet_matches(p, &image)),
            "no matchImages entry matches the {form} form ({host})"
        );
        // And the provider itself knows the form.
        let parsed = rancher_ecr_credentials::ecr_host::EcrHost::parse(
            &rancher_ecr_credentials::registry_host::RegistryHost::parse(host).unwrap(),
        );
        assert!(parsed.is_ok(), "{form}: {parsed:?}");
    }
    // The troubleshooting table quotes the messages the provider prints.
    for message in [
        "no AWS credentials found",
        "the EC2 instance metadata service (IMDS) did not answer",
        "AWS denied ecr:GetAuthorizationToken",
        "AWS throttled",
        "cannot reach the ECR endpoint",
        "cannot tell the AWS region",
        "bad request",
    ] {
        assert!(
            docs.contains(message),
            "the docs do not explain {message:?}"
        );
    }
}

/// The daemon's `--check --check-image`: the same manifest request, with
/// the token the daemon would write, for a registry the daemon serves.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemons_check_tries_the_image_too() {
    let (port, _seen) = registry().await;
    let tls = TlsFront::start(port);
    let host = format!("localhost:{}", tls.port);
    let sim = support::rancher_sim::RancherSim::start().await;
    support::add_environment(&sim, "1a5");
    sim.add_registry("1a5", &host, "active");
    let mut env = support::daemon::base_env(&format!("{}/v2-beta/projects/1a5", sim.url()));
    support::daemon::set(&mut env, "ECR_PROXY_HOST", &host);
    support::daemon::set(&mut env, "CA_FILE", tls.ca_file.to_str().unwrap());
    let check = |image: String| {
        let env = env.clone();
        async move { support::daemon::run(&env, &["--check", "--check-image", &image]).await }
    };

    let result = check(format!("{host}/team/app:1")).await;
    assert!(result.status.success(), "{}", result.output());
    assert!(
        result.stdout.contains("ok   image pull: "),
        "{}",
        result.stdout
    );

    let result = check(format!("{host}/secret")).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.stdout.contains("FAIL image pull: ") && result.stdout.contains("ecr:BatchGetImage"),
        "{}",
        result.stdout
    );

    let result = check("registry.example.com/team/app:1".to_string()).await;
    assert_eq!(result.status.code(), Some(1), "{}", result.output());
    assert!(
        result.stdout.contains("not a registry this daemon writes"),
        "{}",
        result.stdout
    );
    assert!(!result.output().contains(&password_of("123456789012")));

    let result = support::daemon::run(&env, &["--check-image", "x/y"]).await;
    assert_eq!(
        result.status.code(),
        Some(2),
        "needs --check: {}",
        result.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_profile_replaces_the_default_credentials() {
    let front = AwsFront::start(Script::Forward).await;
    let aws_config = config_file(
        "profile-aws-config",
        "[profile china]\nrole_arn = arn:aws-cn:iam::333344445555:role/ecr-pull\n\
         source_profile = china-keys\n\n\
         [profile china-keys]\naws_access_key_id = AKIAEXAMPLECHINA0001\n\
         aws_secret_access_key = china-secret-access-key\n",
    );
    let config = config_file(
        "profile",
        "[[source]]\nname = \"china\"\nregion = \"cn-north-1\"\nprofile = \"china\"\n",
    );
    let out = provide(
        &with(node_env(&front.url), "AWS_CONFIG_FILE", &aws_config),
        &["--config", &config],
        &request(V1, "333344445555.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1"),
    )
    .await;
    let response = decoded(&out);
    // The profile's role (another account), not the environment's keys.
    assert_eq!(
        response.auth["333344445555.dkr.ecr.cn-north-1.amazonaws.com.cn"].password,
        password_of("333344445555")
    );
    assert!(
        !out.stderr.contains("china-secret-access-key"),
        "{}",
        out.stderr
    );
}
