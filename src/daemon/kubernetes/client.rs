//! Connecting to a cluster: where the client's configuration comes from,
//! and the bounds every request through it gets.
//!
//! The kubeconfig a target names is read and checked when the daemon
//! starts (a malformed file, or a context it does not have, is a
//! configuration error naming the file), but no request is made then: the
//! client is built on the first cycle that needs it, so an API server that
//! does not answer yet is retried with the usual backoff, and an exec
//! credential plugin that fails is a cycle failure, not a refusal to start.
//! Without a kubeconfig, kube's order applies (`KUBECONFIG`, then
//! `~/.kube/config`, then the in-cluster service account); the files are
//! read by [`super::kubeconfig`].
//!
//! Bounds (docs/kubernetes.md): connecting takes at most [`CONNECT_TIMEOUT`];
//! a read waits at most [`READ_TIMEOUT`], longer than a watch's server-side
//! timeout, so a silent connection ends; every response body, watch streams
//! included, is cut at [`KUBE_BODY_LIMIT`] bytes (a watch ends at its
//! timeout and is re-established, so the limit is per ~50 s of events).

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::Limited;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tower::util::MapResponseLayer;

use super::error::KubeError;
use super::kubeconfig::{self, KubeconfigProblem};

/// How long connecting to the API server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one read (or write) on a connection may wait. A watch asks the
/// server to end it after `WATCH_TIMEOUT` (`daemon::kubernetes::watch`), so
/// a healthy watch is never cut by this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(75);
/// How long a single request (not a watch) may take, whole.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body read from the API server. A page of
/// namespaces or ServiceAccounts (kube-runtime asks for 500 at a time) is
/// well under 1 MiB; a Secret may be up to 1 MiB, and the Secrets watch is
/// narrowed to our Secret's name, with pages of [`SECRET_PAGE`].
pub const KUBE_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Secrets listed per page: each may be up to 1 MiB (someone else's of our
/// name), so a page stays under [`KUBE_BODY_LIMIT`].
pub const SECRET_PAGE: u32 = 10;

/// Where a target's client configuration comes from.
#[derive(Clone)]
enum Source {
    /// The target's `kubeconfig` (or the default one), read at start.
    File {
        kubeconfig: Box<Kubeconfig>,
        options: KubeConfigOptions,
    },
    /// No kubeconfig anywhere: the in-cluster service account.
    InCluster,
}

/// A cluster's client, built on first need and kept.
#[derive(Clone)]
pub struct Connection {
    source: Source,
    client: Option<Client>,
}

impl Connection {
    /// Reads and checks `kubeconfig` (and that it has `context`), or the
    /// default one (`KUBECONFIG`, `~/.kube/config`) when none is given.
    /// No request is made.
    pub fn prepare(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<Connection, KubeconfigProblem> {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        let (found, path) = match kubeconfig {
            Some(path) => (Some(kubeconfig::read(path)?), path.to_path_buf()),
            None => (
                kubeconfig::default()?,
                PathBuf::from("the default kubeconfig"),
            ),
        };
        let source = match found {
            Some(found) => {
                check_context(&found, &path, context)?;
                Source::File {
                    kubeconfig: Box::new(found),
                    options,
                }
            }
            None if context.is_some() => {
                return Err(KubeconfigProblem {
                    path,
                    reason: "there is none (neither KUBECONFIG nor ~/.kube/config), so it \
                             has no context: give the target's kubeconfig"
                        .into(),
                })
            }
            None => Source::InCluster,
        };
        Ok(Connection {
            source,
            client: None,
        })
    }

    /// The client, built now if it was not yet.
    pub async fn client(&mut self) -> Result<Client, KubeError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let client = build(&self.source).await?;
        self.client = Some(client.clone());
        Ok(client)
    }
}

/// Checks that `kubeconfig` has `context` (or a current context).
fn check_context(
    kubeconfig: &Kubeconfig,
    path: &Path,
    context: Option<&str>,
) -> Result<(), KubeconfigProblem> {
    let problem = |reason: String| KubeconfigProblem {
        path: path.to_path_buf(),
        reason,
    };
    match context {
        Some(context) if !kubeconfig.contexts.iter().any(|c| c.name == context) => {
            let known: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            Err(problem(format!(
                "it has no context {context:?} (its contexts: {})",
                known.join(", ")
            )))
        }
        None if kubeconfig.current_context.is_none() && kubeconfig.contexts.len() != 1 => Err(
            problem("it has no current-context: set the target's context".into()),
        ),
        _ => Ok(()),
    }
}

/// The client for `source`, with the daemon's timeouts and body limit.
async fn build(source: &Source) -> Result<Client, KubeError> {
    let doing = "loading the cluster's configuration";
    let unusable = |reason: String| KubeError {
        doing: doing.into(),
        status: None,
        detail: crate::printable::printable(&reason),
    };
    let mut config = match source {
        Source::File {
            kubeconfig,
            options,
        } => Config::from_custom_kubeconfig((**kubeconfig).clone(), options)
            .await
            .map_err(|err| unusable(err.to_string()))?,
        Source::InCluster => Config::incluster().map_err(|err| {
            unusable(format!(
                "no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a cluster: {err}"
            ))
        })?,
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    config.write_timeout = Some(READ_TIMEOUT);
    // Writes are recorded under the User-Agent when no fieldManager is
    // given (we give one too), and kube sends none of its own.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(crate::tls::USER_AGENT),
    ));
    // The one crypto library in the binary (src/tls.rs); installing twice
    // is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|err| KubeError::new("building the Kubernetes client", &err))?;
    let limit = MapResponseLayer::new(|response: http::Response<_>| {
        response.map(|body| Limited::new(body, KUBE_BODY_LIMIT))
    });
    Ok(builder.with_layer(&limit).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
users:
- name: u
  user:
    token: not-a-real-token
contexts:
- name: prod
  context: {cluster: c, user: u}
- name: test
  context: {cluster: c, user: u}
current-context: prod
";

    fn file(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.path.join("config");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_kubeconfig_is_read_and_its_context_checked() {
        let (_dir, path) = file(KUBECONFIG);
        assert!(Connection::prepare(Some(&path), None).is_ok());
        assert!(Connection::prepare(Some(&path), Some("test")).is_ok());
        let err = Connection::prepare(Some(&path), Some("staging"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("no context \"staging\""), "{err}");
        assert!(err.to_string().contains("prod, test"), "{err}");
        assert!(!err.to_string().contains("not-a-real-token"));
    }

    #[test]
    fn a_malformed_or_missing_kubeconfig_names_the_file() {
        let (_dir, path) = file("clusters: [this is not: yaml: at all");
        let err = Connection::prepare(Some(&path), None).err().unwrap();
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
        assert!(err.reason.contains("not a valid kubeconfig"), "{err}");
        let missing = path.with_file_name("absent");
        let err = Connection::prepare(Some(&missing), None).err().unwrap();
        assert!(err.reason.contains("cannot read it"), "{err}");
    }

    #[tokio::test]
    async fn the_client_is_built_without_a_request() {
        let (_dir, path) = file(KUBECONFIG);
        let mut connection = Connection::prepare(Some(&path), None).unwrap();
        // Nothing listens on 127.0.0.1:6443 in the tests; building the
        // client makes no request, so it succeeds.
        assert!(connection.client().await.is_ok());
    }

    /// A temporary directory, removed when dropped.
    mod tempdir {
        pub struct Dir {
            pub path: std::path::PathBuf,
        }
        impl Dir {
            pub fn new() -> Dir {
                let path = std::env::temp_dir().join(format!(
                    "kube-client-test-{}-{}",
                    std::process::id(),
                    fastrand::u64(..)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir { path }
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
    }
}
