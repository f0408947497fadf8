//! Nothing secret is ever echoed: every setting that holds a secret, or a
//! URL or host where one can hide (`user:password@`), is fed a
//! secret-looking value, and every mode's whole output, at the most
//! verbose log level, is scanned for it. Settings that hold no secret (a
//! region, a log format) may be quoted back in their errors: that is how a
//! person finds the typo.

mod support;

use support::daemon::{base_env, run, set, unset};
use support::rancher_sim::RancherSim;

/// Looks like a secret; must never be printed.
const SECRET: &str = "Sh0uldN3verB3Pr1nted";

/// Each setting, with a value that carries [`SECRET`].
fn poisoned_settings() -> Vec<(&'static str, String)> {
    vec![
        ("CATTLE_SECRET_KEY", SECRET.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_SESSION_TOKEN", SECRET.to_string()),
        (
            "CATTLE_URL",
            format!("http://user:{SECRET}@127.0.0.1:9/v2-beta"),
        ),
        ("ECR_PROXY_HOST", format!("user:{SECRET}@proxy.example.com")),
        (
            "ECR_PROXY_HOST",
            format!("https://{SECRET}@proxy.example.com/"),
        ),
        ("HTTPS_PROXY", format!("http://user:{SECRET}@127.0.0.1:9")),
        ("HTTP_PROXY", format!("http://user:{SECRET}@127.0.0.1:9")),
    ]
}

/// Configuration files that hold [`SECRET`] in a key or in a wrong place.
fn poisoned_files() -> Vec<String> {
    let source = "[[source]]\nname = \"a\"\nregion = \"us-east-1\"\n";
    vec![
        format!("{source}[[target]]\nurl = \"http://127.0.0.1:9/v1\"\naccess_key = \"K\"\nsecret_key = \"{SECRET}\"\n"),
        format!("{source}[[target]]\nurl = \"http://user:{SECRET}@127.0.0.1:9/v1\"\naccess_key = \"K\"\nsecret_key = \"x\"\n"),
        format!("{source}[[target]]\nsecret_key = [\"{SECRET}\"]\n"),
        format!("{source}[[target]]\nsecret-key = \"{SECRET}\"\n"),
        format!("{source}aliases = {{ \"user:{SECRET}@mirror.example.com\" = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\" }}\n[[target]]\n"),
        format!("{source}[[target]]\nurl = \"http://127.0.0.1:9/v1\"\naccess_key = \"K\"\nsecret_key = \"{SECRET}\"\nenvironments = \"{SECRET}\"\n"),
    ]
}

/// Runs every mode with `env` and fails if any output holds the secret.
async fn assert_never_printed(env: &[(String, String)], what: &str) {
    for args in [&["--check"][..], &["--once"], &["--dry-run"]] {
        let result = run(env, args).await;
        let output = result.output();
        assert!(
            !output.contains(SECRET),
            "{what} {args:?} printed the secret:\n{output}"
        );
    }
}

fn verbose_env(sim: &RancherSim) -> Vec<(String, String)> {
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "LOG_LEVEL", "trace");
    set(&mut env, "RANCHER_TIMEOUT", "2s");
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn no_setting_echoes_a_secret() {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, "1a5");
    for (setting, value) in poisoned_settings() {
        let mut env = verbose_env(&sim);
        set(&mut env, setting, &value);
        assert_never_printed(&env, setting).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_configuration_file_echoes_a_secret() {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, "1a5");
    for (index, text) in poisoned_files().into_iter().enumerate() {
        let mut env = verbose_env(&sim);
        unset(&mut env, "CATTLE_URL");
        let path = support::scratch_file(&format!("poisoned-{index}.toml"), &text);
        set(&mut env, "CONFIG_FILE", &path);
        assert_never_printed(&env, &format!("file {index}:\n{text}\n")).await;
    }
}
