//! The kubelet credential provider mode, end to end: the real binary, a
//! request on stdin, AWS through moto. The response is decoded as strictly
//! as the kubelet does (unknown fields rejected; tests/support/kubelet.rs).
//!
//! An `AwsFront` (tests/support/aws_front.rs) sits between the binary and
//! moto where a test needs to see or bend the AWS traffic; a fake OCI
//! registry (tests/support/oci_registry.rs) answers `--check-image`.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::aws_front::{aws_error, AwsFront, Script, Seen};
use support::daemon::{moto_password, with, without};
use support::kubelet::{
    assert_fails_with, assert_no_secrets, decoded, go_seconds, node_env, provide, request,
    sa_request, V1,
};
use support::moto::Moto;
use support::oci_registry::OciRegistry;
use support::scratch_file;
use support::tls_front::TlsFront;

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
        assert_eq!(auth.password, moto_password("123456789012"));
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
            moto_password("123456789012"),
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
        moto_password("111122223333")
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
        moto_password("444455556666")
    );

    // Without a role, the default chain (here: static keys), as upstream.
    let out = provide(&node_env(&front.url), &[], &bare).await;
    assert_eq!(
        decoded(&out).auth.values().next().unwrap().password,
        moto_password("123456789012")
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

#[tokio::test(flavor = "multi_thread")]
async fn aliases_and_source_roles_come_from_the_config_file() {
    let front = AwsFront::start(Script::Forward).await;
    let config = scratch_file(
        "aliases.toml",
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
        moto_password("222233334444")
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
        moto_password("222233334444")
    );

    // Not an alias (the same host on another port is another host): no
    // token, whatever the default region, and AWS is not asked.
    let asked = front.seen().len();
    for image in [
        "other.example.com/app",
        "mirror.example.com/library/nginx:1",
    ] {
        let out = provide(
            &with(node_env(&front.url), "AWS_REGION", "ap-south-1"),
            &["--config", &config],
            &request(V1, image),
        )
        .await;
        let host = image.split('/').next().unwrap();
        assert_fails_with(
            &out,
            &[
                &format!("no ECR token for {host}"),
                "[[source]]'s aliases in --config",
            ],
        );
    }
    assert_eq!(front.seen().len(), asked, "{:?}", front.seen());

    let broken = scratch_file("broken.toml", "[[source]]\nname = \"eu\"\nzone = \"x\"\n");
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

#[tokio::test(flavor = "multi_thread")]
async fn check_image_says_whether_the_identity_can_pull() {
    let moto = Moto::shared();
    let registry = OciRegistry::start().await;
    let tls = TlsFront::start(registry.port);
    let host = format!("localhost:{}", tls.port);
    let config = scratch_file(
        "check-image.toml",
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
    assert!(registry
        .seen()
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

/// A broad `matchImages` glob can send the provider any host: one that is
/// neither an ECR host nor an alias in `--config` gets no token, default
/// region or not, so no ECR password reaches it.
#[tokio::test(flavor = "multi_thread")]
async fn a_host_without_an_alias_gets_no_token() {
    let front = AwsFront::start(Script::Forward).await;
    let registry = OciRegistry::start().await;
    let tls = TlsFront::start(registry.port);
    let host = format!("localhost:{}", tls.port);
    let env = with(
        with(node_env(&front.url), "AWS_REGION", "us-east-1"),
        "CA_FILE",
        tls.ca_file.to_str().unwrap(),
    );
    let image = format!("{host}/team/app:1");
    let expected = format!("no ECR token for {host}");

    let out = provide(&env, &[], &request(V1, &image)).await;
    assert_fails_with(&out, &[&expected, "add it to a [[source]]'s aliases"]);

    let out = provide(&env, &["--check-image", &image], "").await;
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("FAIL token: {expected}")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("pull:"), "{}", out.stdout);
    assert_no_secrets(&out);
    assert_eq!(registry.seen(), Vec::<String>::new());
    assert_eq!(front.seen(), []);
}

/// `--check-image` sends the token to a Bearer challenge's realm only on
/// the registry's own origin: the same host on another port is another
/// server, which gets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn check_image_sends_credentials_only_to_the_registrys_origin() {
    let moto = Moto::shared();
    let registry = OciRegistry::start().await;
    let tls = TlsFront::start(registry.port);
    // The same registry (and its token endpoint) on another port.
    let other = TlsFront::start(registry.port);
    let host = format!("localhost:{}", tls.port);
    let read = |path: &std::path::Path| std::fs::read_to_string(path).unwrap();
    let ca_file = scratch_file(
        "origin-cas.pem",
        &(read(&tls.ca_file) + &read(&other.ca_file)),
    );
    let config = scratch_file(
        "origin.toml",
        &format!(
            "[[source]]\nname = \"us\"\nregion = \"us-east-1\"\n\
             aliases = {{ \"{host}\" = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\" }}\n"
        ),
    );
    let env = with(node_env(&moto.endpoint), "CA_FILE", &ca_file);
    let image = format!("{host}/elsewhere/app:1");
    let args = ["--config", config.as_str(), "--check-image", image.as_str()];
    let check = || provide(&env, &args, "");

    registry.set_realm(&format!("https://localhost:{}/token", other.port));
    let out = check().await;
    assert!(!out.status.success(), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("FAIL pull:")
            && out
                .stdout
                .contains(&format!("https://localhost:{}", other.port))
            && out.stdout.contains("not sent"),
        "{}",
        out.stdout
    );
    assert_no_secrets(&out);
    assert!(
        !registry.seen().contains(&"/token".to_string()),
        "{:?}",
        registry.seen()
    );

    // The realm on the registry's own origin (a host name's case aside):
    // the dance goes on.
    registry.set_realm(&format!("https://LOCALHOST:{}/token", tls.port));
    let out = check().await;
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    assert!(registry.seen().contains(&"/token".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_profile_replaces_the_default_credentials() {
    let front = AwsFront::start(Script::Forward).await;
    let aws_config = scratch_file(
        "profile-aws-config.toml",
        "[profile china]\nrole_arn = arn:aws-cn:iam::333344445555:role/ecr-pull\n\
         source_profile = china-keys\n\n\
         [profile china-keys]\naws_access_key_id = AKIAEXAMPLECHINA0001\n\
         aws_secret_access_key = china-secret-access-key\n",
    );
    let config = scratch_file(
        "profile.toml",
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
        moto_password("333344445555")
    );
    assert!(
        !out.stderr.contains("china-secret-access-key"),
        "{}",
        out.stderr
    );
}
