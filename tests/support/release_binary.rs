//! The static release binaries users get (musl, LTO, stripped; built by
//! `scripts/release build`), for the tests and benchmarks that must run
//! exactly those.
//!
//! Tests never build them: a release build takes minutes on two cores, so it
//! is a step of its own that `./scripts/test` runs before the suite and cargo
//! caches. A test that finds a binary missing, or older than the sources,
//! says how to build it instead of quietly building a second copy in the
//! middle of the suite. A benchmark, run by hand, builds what it needs.
//!
//! Included with `#[path]` by the files that use it (packaging and release
//! tests, benchmarks), so the other test binaries do not carry it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The machine the tests run on.
pub const HOST: &str = "x86_64-unknown-linux-musl";
/// The other release target, run under qemu.
pub const ARM64: &str = "aarch64-unknown-linux-musl";
/// Both, with the architecture names of their downloads
/// (`dist/rancher-ecr-credentials-linux-ARCH`) and of Docker's TARGETARCH.
pub const TARGETS: [(&str, &str); 2] = [(HOST, "amd64"), (ARM64, "arm64")];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo puts `target`'s release build (`CARGO_TARGET_TMPDIR` is
/// `<target dir>/tmp`, so a custom `CARGO_TARGET_DIR` is honoured).
pub fn path(target: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join(target)
        .join("release/rancher-ecr-credentials")
}

/// The binary for `target`; panics, saying how to build it, when it is
/// missing or older than a file it is built from.
pub fn require(target: &str) -> PathBuf {
    let binary = path(target);
    let build = "scripts/release";
    let Some(built) = modified(&binary) else {
        panic!(
            "{} is missing: build it with `{build}` (./scripts/test does)",
            binary.display()
        );
    };
    if let Some(source) = sources().into_iter().find(|s| modified(s) > Some(built)) {
        panic!(
            "{} is older than {}: rebuild it with `{build}` (./scripts/test does)",
            binary.display(),
            source.display()
        );
    }
    binary
}

/// Builds the binaries for `targets` (a no-op when cargo finds them up to
/// date) and returns their paths.
pub fn build(targets: &[&str]) -> Vec<PathBuf> {
    let mut command = Command::new(repo().join("scripts/release"));
    // Cargo gave this process the variables it gives build scripts
    // (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, OUT_DIR...); some build scripts
    // (ring's) rerun when those differ, so passing them on would rebuild
    // what `./scripts/test` built, and that again after.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let from_cargo = name.starts_with("CARGO_")
            && !matches!(name.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR");
        if from_cargo || name == "OUT_DIR" {
            command.env_remove(name.as_ref());
        }
    }
    let status = command
        .arg("build")
        .args(targets)
        .status()
        .expect("scripts/release runs");
    assert!(status.success(), "scripts/release build {targets:?} failed");
    targets.iter().map(|target| require(target)).collect()
}

pub fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Every file the binary is built from.
pub fn sources() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["Cargo.toml", "Cargo.lock", "build.rs"]
        .iter()
        .map(|f| repo().join(f))
        .filter(|f| f.exists())
        .collect();
    // vendor/: crates patched in for crates.io's (Cargo.toml [patch]).
    let mut dirs = vec![repo().join("src"), repo().join("vendor")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// For a benchmark: the binary to measure is RANCHER_ECR_CREDENTIALS_BINARY,
/// else the static release build for this machine (built if missing). Call
/// it before any thread exists: it sets the variable `support::daemon` reads.
pub fn choose_for_benchmark() -> PathBuf {
    match std::env::var_os("RANCHER_ECR_CREDENTIALS_BINARY") {
        Some(binary) => PathBuf::from(binary),
        None => {
            let binary = build(&[HOST]).swap_remove(0);
            std::env::set_var("RANCHER_ECR_CREDENTIALS_BINARY", &binary);
            binary
        }
    }
}

/// A numeric field of /proc/PID/status (`VmHWM:` is the peak RSS, in KiB).
pub fn proc_status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used so far, in seconds, from
/// `/proc/<pid>/stat` (clock ticks of 1/100 s, as on Linux everywhere).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15: 11th and 12th after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}
