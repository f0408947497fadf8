//! The reqwest client builder every non-AWS HTTPS call starts from (the
//! Rancher API, a registry's manifest for the pull check): rustls with ring,
//! the one crypto library in the binary (the AWS client uses it too), no
//! redirects (credentials must not follow one to another host), our user
//! agent, and an extra CA bundle trusted besides the system roots.

use std::time::Duration;

/// The user agent of every request this program makes outside AWS.
pub const USER_AGENT: &str = concat!("rancher-ecr-credentials/", env!("CARGO_PKG_VERSION"));

/// A builder with `timeout` over the whole exchange (body included, so a
/// peer that trickles its answer is cut off too), connecting within
/// `connect_timeout`, trusting `ca_bundle` (PEM). The bundle was checked
/// when the settings were read; an error here names what went wrong.
pub fn client_builder(
    timeout: Duration,
    connect_timeout: Duration,
    ca_bundle: Option<&[u8]>,
) -> Result<reqwest::ClientBuilder, reqwest::Error> {
    // Installing twice (a second client) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT);
    if let Some(pem) = ca_bundle {
        for certificate in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}

/// A CA bundle larger than this is not one (a full system bundle is about
/// 200 KB).
const MAX_CA_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads and checks a PEM bundle, so a bad file stops the start, not the
/// first TLS connection. The reason names the path, not the setting.
pub fn read_ca_bundle(path: &str) -> Result<Vec<u8>, String> {
    let pem = crate::bounded::read_file(std::path::Path::new(path), MAX_CA_BUNDLE_BYTES)
        .map_err(|err| err.about(path))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(pem),
        _ => Err(format!("{path} holds no PEM certificate")),
    }
}
