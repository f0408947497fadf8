//! The build and its artifacts: one feature set for tests and runs (so
//! `cargo run` after `./scripts/test` compiles nothing); the release
//! binaries users download (static, stripped, small, checksummed; the arm64
//! one run under qemu against moto and the Rancher simulator); and what
//! publishes them: the release workflow and scripts, and the one image name
//! the catalog and docs use.

#[path = "support/release_binary.rs"]
mod release_binary;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use support::daemon::{base_env, moto_password, ACCOUNT, ECR_HOST};
use support::rancher_sim::RancherSim;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `cargo tree`'s packages with their enabled features, `edges` as given.
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(["--edges", edges, "--format", "{p}|{f}"])
        .current_dir(repo())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        let (package, features) = line.split_once('|').expect("package|features");
        // A crate built for the host (proc-macro, build script) and for the
        // target is listed once per feature set: keep them apart.
        packages
            .entry(package.to_string())
            .or_default()
            .insert(features.to_string());
    }
    packages
}

/// Cargo unifies the features of a crate across what one command builds.
/// Were a dev-dependency to turn on more features of a crate the binary
/// uses, `cargo test` would compile that crate (and all that depends on it)
/// differently from `cargo run`/`cargo build`, and each would rebuild after
/// the other.
#[test]
fn dev_dependencies_add_no_features_to_the_binarys_crates() {
    let binary = features("normal,build");
    let with_tests = features("normal,build,dev");
    assert!(binary.len() > 50, "too few crates: {binary:?}");
    let changed: Vec<String> = binary
        .iter()
        .filter(|(package, features)| with_tests.get(*package) != Some(features))
        .map(|(package, features)| {
            format!(
                "{package}: [{}] for the binary, {:?} with the tests",
                features.iter().cloned().collect::<Vec<_>>().join("; "),
                with_tests.get(package)
            )
        })
        .collect();
    assert!(
        changed.is_empty(),
        "dev-dependencies change the features of crates the binary uses; give the \
         normal dependency those features instead (Cargo.toml):\n{}",
        changed.join("\n")
    );
}

/// What a release binary's ELF headers say.
struct Elf {
    /// e_machine: 62 is x86-64, 183 is aarch64.
    machine: u16,
    /// A PT_INTERP program header: the binary needs a dynamic loader.
    interpreter: bool,
    /// A SHT_SYMTAB section: the binary is not stripped.
    symbol_table: bool,
}

fn elf(bytes: &[u8]) -> Elf {
    assert!(
        bytes.starts_with(b"\x7fELF\x02\x01"),
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let (program_headers, program_header_size, program_header_count) =
        (u64_at(32), u16_at(54) as usize, u16_at(56) as usize);
    let (section_headers, section_header_size, section_header_count) =
        (u64_at(40), u16_at(58) as usize, u16_at(60) as usize);
    Elf {
        machine: u16_at(18),
        interpreter: (0..program_header_count)
            .any(|i| u32_at(program_headers + i * program_header_size) == 3),
        symbol_table: (0..section_header_count)
            .any(|i| u32_at(section_headers + i * section_header_size + 4) == 2),
    }
}

fn dist(arch: &str) -> PathBuf {
    repo().join(format!("dist/rancher-ecr-credentials-linux-{arch}"))
}

/// dist/ holds, for each platform, the binary cargo built (not an older
/// one): static, stripped, for the right machine, under 8 MB (6 MB until
/// the Kubernetes target brought kube-rs; issue 16 sets 8 MB).
#[test]
fn release_binaries_are_static_stripped_and_small() {
    for (target, arch) in release_binary::TARGETS {
        let built = std::fs::read(release_binary::require(target)).unwrap();
        let shipped = std::fs::read(dist(arch))
            .unwrap_or_else(|e| panic!("dist/…-{arch}: {e}: run scripts/release"));
        assert!(
            built == shipped,
            "dist/rancher-ecr-credentials-linux-{arch} is not the current build: run scripts/release"
        );
        let headers = elf(&shipped);
        let machine = if arch == "amd64" { 62 } else { 183 };
        assert_eq!(headers.machine, machine, "{arch}: wrong machine");
        assert!(!headers.interpreter, "{arch}: dynamically linked");
        assert!(!headers.symbol_table, "{arch}: not stripped");
        assert!(
            shipped.len() < 8_000_000,
            "{arch}: {} bytes, over the 8 MB goal",
            shipped.len()
        );
    }
}

#[test]
fn checksums_cover_both_binaries() {
    let sums = read("dist/sha256sums");
    let names: Vec<&str> = sums
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "rancher-ecr-credentials-linux-amd64",
            "rancher-ecr-credentials-linux-arm64"
        ]
    );
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "sha256sums"])
        .current_dir(repo().join("dist"))
        .output()
        .expect("sha256sum runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// `--version` names the version and the commit the binary was built from
/// (build.rs provides the commit; src/cli.rs shows it).
#[test]
fn version_names_the_release_and_its_commit() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .expect("git runs");
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
    let output = Command::new(dist("amd64"))
        .arg("--version")
        .output()
        .expect("the binary runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!(
            "rancher-ecr-credentials {} ({commit})",
            env!("CARGO_PKG_VERSION")
        )
    );
}

/// The newest of the files the binary is built from, and its time.
fn newest_source() -> (PathBuf, SystemTime) {
    release_binary::sources()
        .into_iter()
        .filter_map(|f| release_binary::modified(&f).map(|t| (f, t)))
        .max_by_key(|(_, t)| *t)
        .expect("sources")
}

fn sha256(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().next().unwrap_or("?").to_string()
}

/// Releases are reproducible, so anyone can check a download against the
/// source: `scripts/release reproduce` (which ./scripts/test runs beside the
/// release build) built the amd64 binary a second time, from a copy of this
/// checkout at another path, with another CARGO_HOME, .venv, zig cache and
/// target directory. It must be dist's binary, byte for byte.
#[test]
fn a_second_build_at_another_path_is_the_same_bytes() {
    let reproducible = repo().join("target/reproducible");
    let again_path = reproducible.join("rancher-ecr-credentials-linux-amd64");
    let rerun = "run `scripts/release reproduce` (./scripts/test does)";
    let again = std::fs::read(&again_path)
        .unwrap_or_else(|e| panic!("{}: {e}: {rerun}", again_path.display()));
    let (source, changed) = newest_source();
    assert!(
        release_binary::modified(&again_path) >= Some(changed),
        "{} is older than {}: {rerun}",
        again_path.display(),
        source.display()
    );
    // Built there by cargo, not copied from dist/.
    let built_there = reproducible.join(format!(
        "rancher-ecr-credentials/target/{}/release/rancher-ecr-credentials",
        release_binary::HOST
    ));
    assert!(
        std::fs::read(&built_there).ok().as_ref() == Some(&again),
        "{} is not the copy's build ({})",
        again_path.display(),
        built_there.display()
    );
    let shipped = std::fs::read(dist("amd64"))
        .unwrap_or_else(|e| panic!("dist/…-amd64: {e}: run scripts/release"));
    if shipped != again {
        let first = shipped
            .iter()
            .zip(&again)
            .position(|(a, b)| a != b)
            .unwrap_or(shipped.len().min(again.len()));
        panic!(
            "the release build is not reproducible: two builds of one source at different \
             paths differ\n  {}  dist/rancher-ecr-credentials-linux-amd64 ({} bytes)\n  \
             {}  {} ({} bytes)\nfirst difference at byte {first:#x}; `cmp -l`, `strings` and \
             `readelf -a` on both tell what (a path rustc embeds that scripts/release does not \
             remap?)",
            sha256(&dist("amd64")),
            shipped.len(),
            sha256(&again_path),
            again_path.display(),
            again.len()
        );
    }
}

/// qemu's user-mode emulator for aarch64 (Debian's qemu-user-static, or
/// qemu-user), if installed.
fn qemu() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("qemu-aarch64-static"), dir.join("qemu-aarch64")])
        .find(|candidate| candidate.exists())
}

/// Runs the arm64 release binary under qemu with only `env`, `args` and
/// `stdin`. None (the test is skipped, saying so) when qemu is absent,
/// except in CI, which installs it (.ci/run) and so must run the test.
async fn run_arm64(env: &[(String, String)], args: &[&str], stdin: &[u8]) -> Option<Output> {
    let Some(qemu) = qemu() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "qemu-aarch64 missing in CI: .ci/run installs qemu-user-static"
        );
        eprintln!(
            "SKIPPED: the arm64 binary is not run: no qemu-aarch64-static or qemu-aarch64 \
             on PATH (install Debian's qemu-user-static; .ci/run does)"
        );
        return None;
    };
    let binary = release_binary::require(release_binary::ARM64);
    let mut child = tokio::process::Command::new(qemu)
        .arg(binary)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("qemu starts");
    let mut input = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut input, stdin)
        .await
        .expect("stdin written");
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the arm64 binary finished within 120 s")
        .expect("qemu ran");
    Some(output)
}

fn show(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The arm64 binary does a real daemon cycle: ECR token from moto, written
/// into the Rancher simulator's credential.
#[tokio::test(flavor = "multi_thread")]
async fn arm64_binary_refreshes_a_credential_under_qemu() {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, "1a5");
    let registry = sim.add_registry("1a5", ECR_HOST, "active");
    let credential = sim.add_credential("1a5", &registry, "AWS", "stale", "active");
    let env = base_env(&format!("{}/v1", sim.url()));
    let Some(output) = run_arm64(&env, &["--once"], b"").await else {
        return;
    };
    assert!(output.status.success(), "{}", show(&output));
    let stored = sim.credential(&credential).unwrap();
    assert_eq!(
        stored.secret_value.as_deref(),
        Some(moto_password(ACCOUNT).as_str())
    );
}

/// The arm64 binary answers a kubelet's CredentialProviderRequest with the
/// ECR login.
#[tokio::test(flavor = "multi_thread")]
async fn arm64_binary_answers_a_kubelet_request_under_qemu() {
    let sim = RancherSim::start().await; // unused by this mode; gives base_env a URL
    let env = base_env(&format!("{}/v1", sim.url()));
    let request = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{ECR_HOST}/app"}}"#
    );
    let Some(output) = run_arm64(&env, &["kubelet-credential-provider"], request.as_bytes()).await
    else {
        return;
    };
    assert!(output.status.success(), "{}", show(&output));
    let response: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&output)));
    assert_eq!(response["kind"], "CredentialProviderResponse");
    assert_eq!(
        response["apiVersion"],
        "credentialprovider.kubelet.k8s.io/v1"
    );
    assert_eq!(response["auth"][ECR_HOST]["username"], "AWS");
    assert_eq!(
        response["auth"][ECR_HOST]["password"],
        moto_password(ACCOUNT).as_str()
    );
}

/// Cargo.toml's package metadata, as `cargo metadata` reads it.
fn package() -> serde_json::Value {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"][0].clone()
}

/// The image is named once (Cargo.toml); the catalog item runs that image
/// at this version, the environment template installs that item, and the
/// README and CHANGELOG show it.
#[test]
fn catalog_and_docs_name_the_published_image() {
    let package = package();
    let version = package["version"].as_str().unwrap();
    let image = package["metadata"]["release"]["image"]
        .as_str()
        .expect("[package.metadata.release] image in Cargo.toml");
    let published = format!("{image}:{version}");

    let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &read("catalog/infra-templates/rancher-ecr-credentials/0/docker-compose.yml.tpl")
            .lines()
            .filter(|l| !l.contains("{{"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    assert_eq!(
        compose["services"]["ecr-updater"]["image"],
        published.as_str()
    );
    for file in [
        "catalog/infra-templates/rancher-ecr-credentials/config.yml",
        "catalog/project-templates/cattle-ecr/config.yml",
    ] {
        let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(file)).unwrap();
        assert_eq!(config["version"], version, "{file}");
    }
    assert!(
        read("catalog/infra-templates/rancher-ecr-credentials/0/README.md").contains(image),
        "the catalog item's README names the image"
    );
    let project = read("catalog/project-templates/cattle-ecr/0/project.yml");
    assert!(project.contains(":infra*rancher-ecr-credentials'"));

    let readme = read("README.md");
    assert!(
        readme.contains(&format!("docker pull {published}")),
        "README: pull"
    );
    for arch in ["amd64", "arm64"] {
        let download = format!(
            "{}/releases/download/v{version}/rancher-ecr-credentials-linux-{arch}",
            package["repository"].as_str().unwrap()
        );
        assert!(readme.contains(&download), "README: {download}");
    }
    let changelog = read("CHANGELOG.md");
    let first = changelog.lines().find(|l| l.starts_with("## ")).unwrap();
    assert_eq!(
        first,
        format!("## [{version}]"),
        "CHANGELOG starts with this release"
    );
    assert!(changelog.contains(&published), "CHANGELOG: {published}");

    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains(&format!(
        "org.opencontainers.image.source=\"{}\"",
        package["repository"].as_str().unwrap()
    )));
}

/// Python-packaged linters in .venv (tests/requirements.txt).
fn tool(name: &str) -> PathBuf {
    let tool = repo().join(".venv/bin").join(name);
    assert!(
        tool.exists(),
        "{name} missing: run ./scripts/test, which installs it into .venv"
    );
    tool
}

fn assert_clean(output: Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What a workflow's `run` steps invoke: each line one of our scripts (or
/// `bash` and one), so that what CI does also runs locally.
fn scripts_run_by(workflow: &str, run: &str) -> Vec<String> {
    run.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut words = line.split_whitespace().peekable();
            if words.peek() == Some(&"bash") {
                words.next();
            }
            let script = words.next().unwrap_or("");
            assert!(
                (script.starts_with("scripts/") || script.starts_with(".ci/"))
                    && repo().join(script).is_file(),
                "{workflow}: `{line}` runs something other than one of our scripts"
            );
            script.to_string()
        })
        .collect()
}

/// The workflows cannot run here: actionlint checks every one of them
/// (their shell steps with shellcheck); each declares its permissions and
/// gives every job a timeout; every step that runs something runs one of the
/// scripts that run locally. Then what each known workflow is for: tests on
/// every push and pull request, the release on version tags.
#[test]
fn workflows_pass_actionlint_and_run_only_our_scripts() {
    let dir = repo().join(".github/workflows");
    let mut workflows: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!(".github/workflows/{name}"))
        .collect();
    workflows.sort();
    assert!(
        workflows.contains(&".github/workflows/ci.yml".to_string())
            && workflows.contains(&".github/workflows/release.yml".to_string()),
        "{workflows:?}"
    );
    let output = Command::new(tool("actionlint"))
        .arg("-shellcheck")
        .arg(tool("shellcheck"))
        .args(&workflows)
        .current_dir(repo())
        .output()
        .expect("actionlint runs");
    assert_clean(output, "actionlint");

    for workflow in &workflows {
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(workflow)).unwrap();
        assert!(
            parsed["permissions"].is_mapping(),
            "{workflow}: no top-level permissions (the token would get the defaults)"
        );
        let jobs = parsed["jobs"].as_mapping().expect("jobs");
        let mut runs = Vec::new();
        for (name, job) in jobs {
            assert!(
                job["timeout-minutes"].as_u64().is_some_and(|t| t <= 60),
                "{workflow}: job {name:?} needs a timeout-minutes of at most 60"
            );
            for step in job["steps"].as_sequence().expect("steps") {
                if let Some(run) = step["run"].as_str() {
                    scripts_run_by(workflow, run);
                    runs.push(run.to_string());
                }
            }
        }
        let on = &parsed["on"];
        match workflow.as_str() {
            ".github/workflows/ci.yml" => {
                assert_eq!(on["push"]["branches"][0], "**", "ci: every branch");
                assert!(
                    on.as_mapping()
                        .is_some_and(|on| on.contains_key("pull_request")),
                    "ci: pull requests"
                );
                assert_eq!(parsed["permissions"]["contents"], "read");
                assert_eq!(
                    parsed["permissions"].as_mapping().map(|p| p.len()),
                    Some(1),
                    "ci: reads the repository, nothing more"
                );
                assert_eq!(parsed["concurrency"]["cancel-in-progress"], true);
                assert!(
                    parsed["concurrency"]["group"]
                        .as_str()
                        .is_some_and(|g| g.contains("github.event.pull_request.number")),
                    "ci: a pull request's runs share a group"
                );
                assert_eq!(runs, ["bash .ci/run"]);
            }
            ".github/workflows/release.yml" => {
                assert_eq!(on["push"]["tags"][0], "v*", "release: runs on version tags");
                assert_eq!(
                    runs,
                    [
                        "bash .ci/run",
                        "scripts/image --push",
                        "scripts/release publish \"$GITHUB_REF_NAME\""
                    ]
                );
            }
            _ => {}
        }
    }
}

#[test]
fn scripts_pass_shellcheck() {
    let scripts: Vec<PathBuf> = std::fs::read_dir(repo().join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|text| text.starts_with("#!/usr/bin/env bash"))
        })
        .chain([repo().join(".ci/run")])
        .collect();
    assert!(scripts.len() >= 6, "{scripts:?}");
    let output = Command::new(tool("shellcheck"))
        .args(&scripts)
        .output()
        .expect("shellcheck runs");
    assert_clean(output, "shellcheck");
}
