#![allow(dead_code)]

pub mod daemon;
pub mod moto;
pub mod rancher_sim;
pub mod tls_front;

/// An HTTP client for tests. The crate uses reqwest without a built-in
/// crypto provider (ring is installed at run time, see `rancher.rs`), so the
/// test process installs it too before building a client.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
