//! The kubelet's side of the exec credential-provider protocol, for
//! tests/kubelet.rs: runs `kubelet-credential-provider` with a request on
//! stdin as the kubelet does, decodes the response as strictly as the
//! kubelet (unknown fields rejected), and checks a failure's one stderr line.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::daemon::{run_with_input, Finished, AWS_ACCESS_KEY, AWS_SECRET_KEY};

/// The protocol version the documented configuration names.
pub const V1: &str = "credentialprovider.kubelet.k8s.io/v1";
/// A service account token, as the kubelet passes a pod's (a secret).
pub const SA_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwOnB1bGxlciJ9.c2lnbmF0dXJlLXNlY3JldA";

/// The environment of a node with static credentials and no region: AWS
/// at `endpoint`, nothing of the developer's setup, no instance metadata.
pub fn node_env(endpoint: &str) -> Vec<(String, String)> {
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

/// Runs `kubelet-credential-provider <args>` with `stdin`, as the kubelet does.
pub async fn provide(env: &[(String, String)], args: &[&str], stdin: &str) -> Finished {
    let args: Vec<&str> = std::iter::once("kubelet-credential-provider")
        .chain(args.iter().copied())
        .collect();
    run_with_input(env, &args, stdin).await
}

/// A request for `image` in protocol version `api_version`.
pub fn request(api_version: &str, image: &str) -> String {
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": api_version,
        "image": image,
    })
    .to_string()
}

/// A v1 request for `image` with a service account token and the
/// account's annotations.
pub fn sa_request(image: &str, annotations: serde_json::Value) -> String {
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
pub struct KubeletResponse {
    pub kind: String,
    pub api_version: String,
    pub cache_key_type: String,
    pub cache_duration: Option<String>,
    pub auth: BTreeMap<String, KubeletAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeletAuth {
    pub username: String,
    pub password: String,
}

/// The response of a successful run, decoded strictly.
pub fn decoded(out: &Finished) -> KubeletResponse {
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
pub fn go_seconds(text: &str) -> u64 {
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
pub fn assert_fails_with(out: &Finished, expected: &[&str]) {
    assert!(!out.status.success(), "it succeeded: {}", out.stdout);
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "stderr: {}", out.stderr);
    for text in expected {
        assert!(lines[0].contains(text), "{text:?} not in: {}", lines[0]);
    }
    assert_no_secrets(out);
}

pub fn assert_no_secrets(out: &Finished) {
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
