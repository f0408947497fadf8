//! The one HTTP client of every AWS call: hyper and rustls with ring (the
//! crypto library the Rancher client uses too), proxies from HTTPS_PROXY and
//! NO_PROXY, an optional extra CA bundle, and every response body bounded
//! (the SDK and its credential providers read whole bodies with no limit of
//! their own; see `bounded.rs`).

use aws_sdk_ecr::config::SharedHttpClient;

use crate::bounded::{LimitedHttpClient, AWS_BODY_LIMIT};

/// The SDK's HTTPS client, trusting `ca_bundle` (PEM, already checked when
/// the settings were read) besides the system roots.
pub fn https_client(ca_bundle: Option<&[u8]>) -> SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    use aws_smithy_http_client::{proxy::ProxyConfig, Builder, ConnectorBuilder};
    let mut trust = TrustStore::default();
    if let Some(pem) = ca_bundle {
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    let client = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    LimitedHttpClient::wrap(client, AWS_BODY_LIMIT)
}
