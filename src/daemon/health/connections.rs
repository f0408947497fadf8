//! What a peer may take of the health listener, and for how long. The
//! listener answers anyone who can reach it (it may bind every interface),
//! and every connection it holds is a file descriptor of the process the
//! refresh needs for its own connections to Rancher and AWS. So no peer, nor
//! many of them, may hold more than a fixed share, or hold it for long:
//!
//! - at most [`MAX_CONNECTIONS`] at once; one more is closed as soon as it is
//!   accepted (and counted in `/metrics`): no queue, nothing that grows with
//!   a flood;
//! - a request head must be complete [`HEADER_READ_TIMEOUT`] after the
//!   connection opened or the previous response went out (hyper's own timer:
//!   the header-read and the keep-alive idle timeout in one);
//! - a request's response must be taken within [`REQUEST_TIMEOUT`] of its
//!   head (a peer that reads slowly, or not at all, is cut off);
//! - a head is at most [`MAX_HEADER_SIZE`] bytes (larger: 431); a request
//!   with a body is refused (413): these endpoints take none.
//!
//! `axum::serve` can set none of hyper's timers or limits, hence this small
//! accept loop around hyper's HTTP/1 connection.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::daemon::metrics::Metrics;

/// Connections served at once. Each holds one descriptor and at most two
/// buffers of [`MAX_BUF_SIZE`]: 64 is far below any usual descriptor limit
/// (1024 is the smallest common soft limit) and far above what probes and
/// scrapers need.
pub const MAX_CONNECTIONS: usize = 64;
/// From the connection's start, or the end of the previous response, to
/// the end of the next request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// From a request's head to the last byte of its response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head (request line and headers): a probe's or scraper's is
/// a few hundred bytes.
pub const MAX_HEADER_SIZE: usize = 8 * 1024;
/// hyper's read and write buffers per connection (it accepts no less than
/// 8 KiB, and panics below: checked here at compile time).
const MAX_BUF_SIZE: usize = 16 * 1024;
const _: () = assert!(MAX_BUF_SIZE >= 8 * 1024 && MAX_BUF_SIZE >= MAX_HEADER_SIZE);
// An idle keep-alive connection is closed by hyper's header timer before the
// request deadline of its last request could cut it.
const _: () = assert!(HEADER_READ_TIMEOUT.as_secs() < REQUEST_TIMEOUT.as_secs());

/// After a failed accept that is not the peer's doing (out of descriptors
/// or memory), wait this long before the next one rather than spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(200);
/// What a flood makes the listener log is said at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Serves `app` on `listener` for as long as the process runs: an accept
/// error is waited out, never the end of the listener.
pub async fn serve(listener: TcpListener, app: Router, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut over_cap = Tally::default();
    let mut accept_errors = Tally::default();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) if is_peer_gone(&err) => continue,
            Err(err) => {
                if let Some(times) = accept_errors.add() {
                    warn!(times, "health listener cannot accept connections: {err}");
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(connection(stream, app.clone(), slot));
            }
            Err(_) => {
                drop(stream);
                metrics.listener_refused();
                if let Some(closed) = over_cap.add() {
                    warn!(
                        closed,
                        "health listener full ({MAX_CONNECTIONS} connections): \
                         closing new ones at once until one ends"
                    );
                }
            }
        }
    }
}

/// A peer that gave up between connecting and being accepted.
fn is_peer_gone(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    )
}

/// One connection, holding its `slot` until it ends: served by hyper under
/// the header timeout and size limits, and dropped (closed) when a response
/// is not taken within [`REQUEST_TIMEOUT`] of its request.
async fn connection(stream: TcpStream, app: Router, slot: OwnedSemaphorePermit) {
    let _ = stream.set_nodelay(true);
    let request_started = Arc::new(Notify::new());
    let started = request_started.clone();
    let service = hyper::service::service_fn(move |request| {
        started.notify_one();
        respond(app.clone(), request)
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_SIZE)
        .max_buf_size(MAX_BUF_SIZE)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let deadline = tokio::time::sleep(REQUEST_TIMEOUT);
    tokio::pin!(deadline);
    let mut in_request = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    debug!("health connection closed: {err}");
                }
                break;
            }
            () = request_started.notified() => {
                deadline.as_mut().reset(Instant::now() + REQUEST_TIMEOUT);
                in_request = true;
            }
            () = deadline.as_mut(), if in_request => {
                debug!(
                    "health connection closed: a response not taken within {}",
                    humantime::format_duration(REQUEST_TIMEOUT)
                );
                break;
            }
        }
    }
    drop(slot);
}

/// The router's answer, or 413 for a request with a body, unread: the
/// connection closes after it, so the body is never read.
async fn respond(app: Router, request: Request<Incoming>) -> Result<Response, Infallible> {
    if !request.body().is_end_stream() {
        return Ok(body_refused());
    }
    TowerToHyperService::new(app).call(request).await
}

fn body_refused() -> Response<Body> {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONNECTION, "close")],
        "these endpoints take no request body\n",
    )
        .into_response()
}

/// Counts events and says how many at most once per [`LOG_EVERY`], so a
/// flood cannot flood the log.
#[derive(Default)]
struct Tally {
    count: u64,
    said_at: Option<Instant>,
}

impl Tally {
    /// Counts one; returns how many to report now, if it is time to.
    fn add(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self.said_at.is_some_and(|at| now < at + LOG_EVERY) {
            return None;
        }
        self.said_at = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}
