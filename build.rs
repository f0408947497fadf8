//! Names the git commit a release binary is built from, for `--version`:
//! sets `RANCHER_ECR_CREDENTIALS_COMMIT` for the crate's compilation.
//!
//! Only release builds ask git, and they are rebuilt when HEAD moves, so a
//! downloaded binary always names its commit. Other builds say `dev`: were
//! they tied to HEAD, every commit would recompile the crate and every test
//! binary. A build outside a git checkout (a source archive) may set
//! RANCHER_ECR_CREDENTIALS_COMMIT itself; without either it says `unknown`.

use std::process::Command;

const VARIABLE: &str = "RANCHER_ECR_CREDENTIALS_COMMIT";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={VARIABLE}");
    let commit = match std::env::var(VARIABLE) {
        Ok(commit) if !commit.is_empty() => commit,
        _ if std::env::var("PROFILE").as_deref() == Ok("release") => {
            git_commit().unwrap_or_else(|| "unknown".to_string())
        }
        _ => "dev".to_string(),
    };
    println!("cargo:rustc-env={VARIABLE}={commit}");
}

/// HEAD's abbreviated commit, watching the files that change when it moves.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
        (output.status.success() && !text.is_empty()).then_some(text)
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD (a checkout), the branch it names (a commit), packed refs (a gc).
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            // A watched file that does not exist would rerun this every time.
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    Some(commit)
}
