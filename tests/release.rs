//! The build and its artifacts: one feature set for tests and runs (so
//! `cargo run` after `./scripts/test` compiles nothing), and the release
//! binaries users download.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
