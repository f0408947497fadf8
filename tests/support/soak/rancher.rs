//! Rancher in the soak: the daemon's Rancher client (the real one, URLs,
//! scoping, bounded bodies and all) reaches the Rancher simulator through
//! an [`Exchange`] that hands each request to it in this process, with the
//! fate the fault plan draws: an outage (connection refused), a 503, no
//! answer until the client's timeout, or an answer lost after the
//! simulator applied the request (the fault that makes an updater write
//! duplicates if it trusts its memory over Rancher's lists).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures_util::future::BoxFuture;
use rancher_ecr_credentials::daemon::rancher::{Exchange, ExchangeError, Incoming, Outgoing};

use super::{Fate, Faults, Side};
use crate::support::rancher_sim::RancherSim;

/// How long the daemon's client waits for Rancher (RANCHER_TIMEOUT's default).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SimExchange {
    pub sim: Arc<RancherSim>,
    pub faults: Arc<Faults>,
}

impl std::fmt::Debug for SimExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimExchange")
    }
}

impl Exchange for SimExchange {
    fn exchange(
        &self,
        request: Outgoing,
        limit: usize,
    ) -> BoxFuture<'_, Result<Incoming, ExchangeError>> {
        Box::pin(async move {
            let unreachable = |detail: &str| ExchangeError::Unreachable {
                detail: detail.to_string(),
                certificate_rejected: false,
            };
            match self.faults.draw(Side::Rancher) {
                Fate::Served | Fate::Throttled => self.serve(request, limit).await,
                Fate::Down => Err(unreachable("connection failed: Connection refused (soak)")),
                Fate::Error => Ok(Incoming {
                    status: reqwest::StatusCode::SERVICE_UNAVAILABLE,
                    headers: Default::default(),
                    body: br#"{"type":"error","status":503,"code":"ServiceUnavailable","message":"soak fault"}"#.to_vec(),
                }),
                Fate::TimedOut => {
                    tokio::time::sleep(CLIENT_TIMEOUT).await;
                    Err(unreachable("timed out (soak)"))
                }
                Fate::Lost => {
                    let _ = self.serve(request, limit).await;
                    Err(unreachable("request failed: connection reset (soak)"))
                }
            }
        })
    }
}

impl SimExchange {
    async fn serve(&self, request: Outgoing, limit: usize) -> Result<Incoming, ExchangeError> {
        let host = request.url.authority().to_string();
        let mut builder = axum::http::Request::builder()
            .method(request.method)
            .uri(request.url.as_str())
            .header("host", host);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let body = Body::from(request.body.unwrap_or_default());
        let request = builder.body(body).expect("a request the client built");
        let response = self.sim.answer(request).await;
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ExchangeError::TooLarge { limit })?;
        Ok(Incoming {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        })
    }
}
