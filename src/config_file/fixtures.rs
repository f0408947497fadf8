//! Test fixtures shared by the grammar's tests and the daemon's decisions
//! over it: the documented example file, and secret key files to point it at.

use std::path::PathBuf;

/// The documented example, with `SECRET_FILE` where a secret key file's
/// path goes ([`full`] fills it in).
pub const FULL: &str = r#"
[[source]]            # an AWS identity in one region
name = "prod-eu"
region = "eu-west-1"
registry_ids = ["210987654321"]      # optional
role_arn = "arn:aws:iam::210987654321:role/ecr-pull"   # optional
external_id = "ext-42"               # optional
aliases = { "registry.example.com" = "210987654321.dkr.ecr.eu-west-1.amazonaws.com" }
[[target]]            # a Rancher and the environments to serve
url = "http://rancher:8080/v2-beta"
access_key = "ACCESSKEY"
secret_key_file = "SECRET_FILE"   # or secret_key
environments = ["prod", "1a9"]             # or "all"
sources = ["prod-eu"]                      # default: every source
auto_create = false
"#;

/// A file `name` holding `content`, in this process's own directory.
pub fn secret_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("config-file-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// [`FULL`] with its secret key in a file named `secret_name`.
pub fn full(secret_name: &str) -> String {
    let secret = secret_file(secret_name, "SecretFromFile\n");
    FULL.replace("SECRET_FILE", secret.to_str().unwrap())
}
