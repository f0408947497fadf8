//! Reading a kubeconfig, as kube would, but through one generic value.
//!
//! kube's own readers (`Kubeconfig::read_from`, `Config::infer`) decode the
//! YAML straight into its typed kubeconfig, which compiles serde-saphyr's
//! deserializer once per kubeconfig type: about 0.3 MB of a binary whose
//! budget is 8 MB. Here the YAML becomes a `serde_json::Value` first, then
//! the typed kubeconfig; the result is the same, and the rest of kube
//! (contexts, clusters, users, exec plugins, token files) takes it from
//! there through `Config::from_custom_kubeconfig`. What kube's reader does
//! besides decoding is done here too, in the same way: several documents
//! merged, `KUBECONFIG` as a list of files merged in order, file references
//! (certificate authority, client certificate and key, token file, an exec
//! command with a path) made absolute against the kubeconfig's directory.
//!
//! Which kubeconfig, without a target's `kubeconfig`: `KUBECONFIG`, else
//! `~/.kube/config` if it exists, else none (the in-cluster service
//! account), kube's order. A kubeconfig holds credentials, so no error here
//! quotes its text: a parse error says what kind of mistake and where.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;
use serde_json::Value;

/// The largest kubeconfig read.
const MAX_KUBECONFIG: u64 = 1024 * 1024;

/// Why a kubeconfig cannot be used: a configuration error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct KubeconfigProblem {
    pub path: PathBuf,
    pub reason: String,
}

/// The kubeconfig at `path`.
pub fn read(path: &Path) -> Result<Kubeconfig, KubeconfigProblem> {
    let problem = |reason: String| KubeconfigProblem {
        path: path.to_path_buf(),
        reason,
    };
    let metadata =
        std::fs::metadata(path).map_err(|err| problem(format!("cannot read it: {err}")))?;
    if !metadata.is_file() {
        return Err(problem("not a regular file".into()));
    }
    if metadata.len() > MAX_KUBECONFIG {
        return Err(problem(format!(
            "larger than {MAX_KUBECONFIG} bytes: not a kubeconfig"
        )));
    }
    let bytes = std::fs::read(path).map_err(|err| problem(format!("cannot read it: {err}")))?;
    let text = String::from_utf8(bytes).map_err(|_| problem("not UTF-8 text".into()))?;
    parse(&text, path.parent()).map_err(problem)
}

/// The kubeconfig kube would use without one named: `KUBECONFIG`'s files
/// merged, else `~/.kube/config` if there is one; `None`: in-cluster.
pub fn default() -> Result<Option<Kubeconfig>, KubeconfigProblem> {
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            let mut merged = Kubeconfig::default();
            for path in &paths {
                merged = merged.merge(read(path)?).map_err(|err| KubeconfigProblem {
                    path: path.clone(),
                    reason: err.to_string(),
                })?;
            }
            return Ok(Some(merged));
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match home.map(|home| home.join(".kube").join("config")) {
        Some(path) if path.exists() => read(&path).map(Some),
        _ => Ok(None),
    }
}

/// The documents of `text` merged into one kubeconfig, its file
/// references made absolute against `dir`.
fn parse(text: &str, dir: Option<&Path>) -> Result<Kubeconfig, String> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|err| {
        let at = err
            .location()
            .map(|at| format!(" at line {}", at.line()))
            .unwrap_or_default();
        format!("not a valid kubeconfig: not YAML{at}")
    })?;
    let mut merged: Option<Kubeconfig> = None;
    for document in documents.into_iter().filter(|d| !d.is_null()) {
        let mut config: Kubeconfig = serde_json::from_value(document).map_err(|err| {
            // serde's message can quote the value: say only what is wrong.
            let kind = match err.classify() {
                serde_json::error::Category::Data => "a key of the wrong type",
                _ => "malformed",
            };
            format!("not a valid kubeconfig: {kind}")
        })?;
        if let Some(dir) = dir {
            make_absolute(&mut config, dir);
        }
        merged = Some(match merged {
            None => config,
            Some(before) => before.merge(config).map_err(|err| err.to_string())?,
        });
    }
    Ok(merged.unwrap_or_default())
}

/// File references relative to the kubeconfig's directory, as kube (and
/// client-go) read them; an exec command only when it has a path.
fn make_absolute(config: &mut Kubeconfig, dir: &Path) {
    let absolute = |path: &mut Option<String>| {
        if let Some(text) = path {
            if Path::new(text.as_str()).is_relative() {
                *text = dir.join(text.as_str()).to_string_lossy().into_owned();
            }
        }
    };
    for cluster in config
        .clusters
        .iter_mut()
        .filter_map(|c| c.cluster.as_mut())
    {
        absolute(&mut cluster.certificate_authority);
    }
    for user in config
        .auth_infos
        .iter_mut()
        .filter_map(|a| a.auth_info.as_mut())
    {
        absolute(&mut user.client_certificate);
        absolute(&mut user.client_key);
        absolute(&mut user.token_file);
        if let Some(exec) = user.exec.as_mut() {
            if exec
                .command
                .as_deref()
                .is_some_and(|c| c.contains(std::path::MAIN_SEPARATOR))
            {
                absolute(&mut exec.command);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_merged_and_paths_made_absolute() {
        let text = "apiVersion: v1
clusters:
- name: c
  cluster: {server: 'https://k:6443', certificate-authority: ca.crt}
users:
- name: u
  user: {tokenFile: token, exec: {command: ./bin/auth, apiVersion: client.authentication.k8s.io/v1}}
---
contexts:
- name: prod
  context: {cluster: c, user: u}
current-context: prod
";
        let config = parse(text, Some(Path::new("/etc/kube"))).unwrap();
        assert_eq!(config.current_context.as_deref(), Some("prod"));
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://k:6443"));
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/etc/kube/ca.crt")
        );
        let user = config.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(user.token_file.as_deref(), Some("/etc/kube/token"));
        let command = user.exec.as_ref().unwrap().command.as_deref();
        assert_eq!(command, Some("/etc/kube/./bin/auth"));
        assert_eq!(config.contexts[0].name, "prod");
        assert!(parse("", None).unwrap().clusters.is_empty());
    }

    #[test]
    fn mistakes_never_quote_the_file() {
        let secret = "s3cr3t-token-value";
        for text in [
            format!("users:\n- name: u\n  user: {{token: [{secret}\n"),
            format!("users: {secret}\n"),
            format!("clusters:\n- name: c\n  cluster: {{server: {{{secret}: 1}}}}\n"),
        ] {
            let err = parse(&text, None).unwrap_err();
            assert!(err.starts_with("not a valid kubeconfig"), "{err}");
            assert!(!err.contains(secret), "{err}");
        }
    }
}
