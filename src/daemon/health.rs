//! The HTTP listener beside the refresh loop:
//! - `GET /ping`: `pong!` while the process runs (the predecessor's check;
//!   use it for liveness, so a bad key never restart-loops the container);
//! - `GET /healthz`: 200 only while every managed registry's credential is
//!   fresh, else 503; a JSON body per registry either way (see [`Status`]);
//! - `GET /metrics`: Prometheus/OpenMetrics text.
//!
//! None of it is secret, and none of it asks who is asking; but it may
//! bind every interface, so what a peer may hold of it is bounded in
//! [`connections`]: a flood of idle or slow peers cannot take the file
//! descriptors the refresh needs (README, "Health, metrics and logs").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

pub use connections::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_SIZE, REQUEST_TIMEOUT};

use crate::daemon::metrics::Metrics;
use crate::daemon::status::Status;

/// The accept loop and its limits: connections, time, sizes.
mod connections;

#[derive(Clone)]
struct Shared {
    status: Arc<Status>,
    metrics: Arc<Metrics>,
}

/// Binds the listener (so a busy port is reported at start) and returns the
/// bound address with the future that serves it for as long as the process
/// runs.
pub async fn bind(
    address: SocketAddr,
    status: Arc<Status>,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/ping", get(|| async { "pong!" }))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(Shared {
            status,
            metrics: metrics.clone(),
        });
    Ok((bound, connections::serve(listener, app, metrics)))
}

/// `--health-probe`: GET /ping on the local port, as a container
/// HEALTHCHECK can run it in an image with nothing else inside. Liveness
/// only, like /ping itself: a bad key must not make the container restart.
pub fn probe(listen: SocketAddr) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::IpAddr;
    let ip = listen.ip();
    let port = listen.port();
    // A wildcard bind is reached on loopback; a specific one only there.
    let ip = if ip.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        ip
    };
    let address = SocketAddr::new(ip, port);
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
        .map_err(|err| format!("nothing answers on {address}: {err}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|err| format!("cannot ask {address}: {err}"))?;
    let mut response = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    let status = response.split_whitespace().nth(1);
    if response.starts_with("HTTP/") && status == Some("200") && response.ends_with("pong!") {
        Ok(())
    } else {
        Err(format!("{address}/ping did not answer pong!"))
    }
}

async fn healthz(State(shared): State<Shared>) -> impl IntoResponse {
    let (healthy, body) = shared.status.health(SystemTime::now());
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

async fn metrics_text(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
}
