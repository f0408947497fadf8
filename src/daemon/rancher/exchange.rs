//! How the client's requests reach Rancher: one request out, one bounded
//! answer back.
//!
//! [`Exchange`] is the seam between the client (URLs, authentication,
//! scoping, decoding, in `transport.rs` and above) and the wire. The daemon
//! always uses [`HttpExchange`]: reqwest, with the CA bundle, the timeouts,
//! no redirects, and a body read to a limit. The trait exists so that the
//! whole client can also run against an HTTP server in the same process
//! (the 30-day soak test drives it under tokio's paused clock, where a real
//! socket's wait would let simulated time jump past every timeout), the way
//! kube-rs's `Client` takes any tower service.

use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};

use crate::bounded::{self, ReadError};

/// One request to Rancher, headers included (authentication among them:
/// so no `Debug`).
pub struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// A JSON body, already encoded.
    pub body: Option<Vec<u8>>,
}

/// Rancher's answer, whatever its status.
pub struct Incoming {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why no answer came back.
#[derive(Debug)]
pub enum ExchangeError {
    /// Nothing (or not all of it) came back: connection, TLS, timeout.
    /// `detail` is the transport's own chain of causes, without the URL.
    Unreachable {
        detail: String,
        certificate_rejected: bool,
    },
    /// The body passed `limit` bytes and was abandoned.
    TooLarge { limit: usize },
}

/// Sends one request and reads its answer, at most `limit` bytes of body.
pub trait Exchange: Send + Sync + std::fmt::Debug {
    fn exchange(
        &self,
        request: Outgoing,
        limit: usize,
    ) -> BoxFuture<'_, Result<Incoming, ExchangeError>>;
}

/// The daemon's exchange: HTTP(S) through reqwest.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    pub client: reqwest::Client,
}

impl Exchange for HttpExchange {
    fn exchange(
        &self,
        request: Outgoing,
        limit: usize,
    ) -> BoxFuture<'_, Result<Incoming, ExchangeError>> {
        Box::pin(async move {
            let mut builder = self
                .client
                .request(request.method, request.url)
                .headers(request.headers);
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let response = builder.send().await.map_err(transport_error)?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = bounded::read_body(response, limit)
                .await
                .map_err(|err| match err {
                    ReadError::Transport(err) => transport_error(err),
                    ReadError::TooLarge(too_large) => ExchangeError::TooLarge {
                        limit: too_large.limit,
                    },
                })?;
            Ok(Incoming {
                status,
                headers,
                body,
            })
        })
    }
}

fn transport_error(err: reqwest::Error) -> ExchangeError {
    ExchangeError::Unreachable {
        certificate_rejected: certificate_rejected(&err),
        detail: describe_transport_error(&err),
    }
}

/// Whether TLS verification refused the server's certificate. rustls'
/// error sits inside `io::Error`s, whose `source()` skips their payload, so
/// those are opened with `get_ref`.
fn certificate_rejected(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return matches!(tls, rustls::Error::InvalidCertificate(_));
    }
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return certificate_rejected(inner);
    }
    err.source().is_some_and(certificate_rejected)
}

/// reqwest's error chain, without the URL (the caller adds it).
fn describe_transport_error(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
