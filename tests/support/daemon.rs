//! Runs the real `rancher-ecr-credentials` binary against moto and the
//! Rancher simulator, with a clean environment (nothing of the developer's
//! AWS setup leaks in).

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::moto::Moto;

pub const AWS_ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
pub const AWS_SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const RANCHER_ACCESS_KEY: &str = "0123456789ABCDEF0123";
pub const RANCHER_SECRET_KEY: &str = "SimSecretKey1234567890abcdefghijklmnopqr";
/// moto's default account, and so its default registry.
pub const ACCOUNT: &str = "123456789012";
pub const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// The password moto hands out for a registry id (`<id>-auth-token`).
pub fn moto_password(registry_id: &str) -> String {
    format!("{registry_id}-auth-token")
}

/// The environment of a typical deployment: moto credentials and endpoint,
/// the given CATTLE_URL and the default Rancher key.
pub fn base_env(cattle_url: &str) -> Vec<(String, String)> {
    let moto = Moto::shared();
    [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
        ("CATTLE_URL", cattle_url),
        ("CATTLE_ACCESS_KEY", RANCHER_ACCESS_KEY),
        ("CATTLE_SECRET_KEY", RANCHER_SECRET_KEY),
        ("LOG_LEVEL", "debug"),
        ("LISTEN_PORT", "0"),
        ("LISTEN_ADDRESS", "127.0.0.1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Sets `key` to `value` in `env`, replacing any earlier value.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}

pub fn unset(env: &mut Vec<(String, String)>, key: &str) {
    env.retain(|(k, _)| k != key);
}

/// `env` with `key` set to `value` (`set` as an expression).
pub fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    set(&mut env, key, value);
    env
}

/// `env` without `key` (`unset` as an expression).
pub fn without(mut env: Vec<(String, String)>, key: &str) -> Vec<(String, String)> {
    unset(&mut env, key);
    env
}

/// The binary under test: cargo's build, or `RANCHER_ECR_CREDENTIALS_BINARY`
/// (the benchmark measures a static release build that way).
pub fn binary() -> String {
    std::env::var("RANCHER_ECR_CREDENTIALS_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_rancher-ecr-credentials").to_string())
}

fn command(env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Finished {
    fn from(output: std::process::Output) -> Finished {
        Finished {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Finished {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The stderr lines that are not blank.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }
}

/// Runs the binary to completion (`--once` and config errors).
pub async fn run(env: &[(String, String)], args: &[&str]) -> Finished {
    let output = tokio::time::timeout(Duration::from_secs(120), command(env, args).output())
        .await
        .expect("the binary finished within 120 s")
        .expect("the binary ran");
    Finished::from(output)
}

/// Runs the binary to completion with `--once`.
pub async fn once(env: &[(String, String)]) -> Finished {
    run(env, &["--once"]).await
}

/// Runs the binary to completion with `input` on its stdin (the kubelet
/// credential provider reads its request there).
pub async fn run_with_input(env: &[(String, String)], args: &[&str], input: &str) -> Finished {
    let mut child = command(env, args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("the binary started");
    let mut stdin = child.stdin.take().expect("stdin");
    // A run that fails before reading stdin (a bad flag) may close it first.
    if let Err(err) = stdin.write_all(input.as_bytes()).await {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    }
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the binary finished within 120 s")
        .expect("the binary ran");
    Finished::from(output)
}

/// A daemon running in the background; its output is collected as it comes.
pub struct Running {
    child: Child,
    output: Arc<Mutex<String>>,
}

pub fn spawn(env: &[(String, String)], args: &[&str]) -> Running {
    let mut child = command(env, args).spawn().expect("the daemon started");
    let output = Arc::new(Mutex::new(String::new()));
    for mut stream in [
        Box::new(child.stdout.take().expect("stdout"))
            as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let output = output.clone();
        tokio::spawn(async move {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                output
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
    }
    Running { child, output }
}

impl Running {
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until `done` holds; panics with the daemon's output after 60 s.
    pub async fn wait_for(&mut self, what: &str, mut done: impl FnMut(&Running) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({status}) while waiting for {what}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; daemon output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the daemon's output contains `text`.
    pub async fn wait_for_output(&mut self, text: &str) {
        self.wait_for(text, |d| d.output().contains(text)).await
    }

    /// The health port, read from the daemon's log line.
    pub async fn health_address(&mut self) -> String {
        self.wait_for("the health listener", |d| {
            d.output().contains("health endpoint listening")
        })
        .await;
        let output = self.output();
        let line = output
            .lines()
            .find(|l| l.contains("health endpoint listening"))
            .unwrap()
            .to_string();
        let start = line.find("address=").expect("address field") + "address=".len();
        line[start..].split_whitespace().next().unwrap().to_string()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(self) -> (ExitStatus, String) {
        self.stop("TERM").await
    }

    /// Sends the signal (`TERM`, `INT`) and waits for the exit, at most 20 s.
    pub async fn stop(mut self, signal: &str) -> (ExitStatus, String) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the daemon exited within 20 s of SIGTERM")
            .expect("wait");
        // Let the readers drain what is left.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.output())
    }
}
