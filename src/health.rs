//! The health listener: `GET /ping` answers `pong!` while the process runs,
//! as the predecessor's did, so existing health checks keep working.

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

/// Binds the listener (so a busy port is reported at start) and returns the
/// bound address with the future that serves it.
pub async fn bind(
    address: SocketAddr,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let app = Router::new().route("/ping", get(|| async { "pong!" }));
    Ok((bound, async move { axum::serve(listener, app).await }))
}
