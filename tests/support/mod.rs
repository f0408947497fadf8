#![allow(dead_code)]

pub mod aws_front;
pub mod daemon;
pub mod hostile;
pub mod kube_api;
pub mod kube_sim;
pub mod kube_tools;
pub mod kubelet;
pub mod moto;
pub mod oci_registry;
pub mod rancher_api;
pub mod rancher_sim;
pub mod repo;
pub mod soak;
pub mod tls_front;

/// An HTTP client for tests. The crate uses reqwest without a built-in
/// crypto provider (ring is installed at run time, see `rancher.rs`), so the
/// test process installs it too before building a client.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// GET `path` from the daemon's listener at `address`: the status and the
/// body.
pub async fn listener_get(address: &str, path: &str) -> (u16, String) {
    let response = http()
        .get(format!("http://{address}{path}"))
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {path} from the listener: {err}"));
    let status = response.status().as_u16();
    (status, response.text().await.expect("the body"))
}

/// A TCP server that accepts connections and never answers (a hung Rancher,
/// a metadata service behind a hop limit). Returns its `http://` URL and a
/// count of the connections it accepted.
pub async fn silent_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, connections)
}

/// Adds environment `project` to `sim` with the default key as its
/// environment agent key (what Rancher's agent labels provision).
pub fn add_environment(sim: &rancher_sim::RancherSim, project: &str) {
    sim.add_project(project);
    sim.add_key(
        daemon::RANCHER_ACCESS_KEY,
        daemon::RANCHER_SECRET_KEY,
        rancher_sim::KeyKind::Environment,
        Some(project),
    );
}

/// Writes `text` to a file named after the test binary and `name` (test
/// binaries run side by side) and returns its path.
pub fn scratch_file(name: &str, text: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}-{name}", env!("CARGO_CRATE_NAME")));
    std::fs::write(&path, text).expect("the file written");
    path.to_string_lossy().into_owned()
}

/// The environment the daemon's tests write in, and the other one.
pub const PROJECT: &str = "1a5";
pub const OTHER_PROJECT: &str = "1a7";

/// A Rancher with two environments and an environment agent key for 1a5.
pub async fn two_environments() -> rancher_sim::RancherSim {
    let sim = rancher_sim::RancherSim::start().await;
    sim.add_project(PROJECT);
    sim.add_project(OTHER_PROJECT);
    sim.add_key(
        daemon::RANCHER_ACCESS_KEY,
        daemon::RANCHER_SECRET_KEY,
        rancher_sim::KeyKind::Environment,
        Some(PROJECT),
    );
    sim
}

/// Credential `id` of environment `project`, as the simulator holds it.
pub fn credential(
    sim: &rancher_sim::RancherSim,
    project: &str,
    id: &str,
) -> rancher_sim::SimCredential {
    sim.credentials(project)
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("credential {id} in {project}"))
}

/// The credential holds moto's token for `registry_id`.
pub fn assert_holds_token(credential: &rancher_sim::SimCredential, registry_id: &str) {
    assert_eq!(
        credential.public_value.as_deref(),
        Some("AWS"),
        "{credential:?}"
    );
    assert_eq!(
        credential.secret_value.as_deref(),
        Some(daemon::moto_password(registry_id).as_str()),
        "{credential:?}"
    );
}
