//! Watches: HTTP 200 and a chunked stream of one JSON event per line
//! (docs/kubernetes-api.md §5). A resourceVersion older than the
//! history is still answered 200, with a single ERROR event carrying a 410
//! Status, then the end of the stream. Selectors turn an object that starts
//! matching into ADDED and one that stops into DELETED. Bookmarks (when
//! asked for) come every `bookmark_interval` and about 2 s before the
//! deadline; at the deadline the stream just ends.
//!
//! Each stream is a task fed by the store's change signal; tests can end
//! every stream, silence them, or make them end with an ERROR event.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_1::Frame;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::list::{in_scope, invalid_options, parse_rv, selectors};
use super::routes::{Incoming, Target};
use super::select::Selectors;
use super::state::{Event, EventType, SimState, WatchControl};
use super::status::KubeError;
use super::Shared;

/// A response body fed line by line by the watch task.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body_1::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|l| Ok(Frame::data(l))))
    }
}

/// One open watch.
struct Watcher {
    shared: Arc<Shared>,
    target: Target,
    selectors: Selectors,
    /// The last resourceVersion sent (or started from).
    last: u64,
    bookmarks: bool,
    deadline: Instant,
    tx: mpsc::Sender<Bytes>,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

/// Answers a watch request: checks it, then hands the stream to a task.
pub fn start(
    shared: &Arc<Shared>,
    st: &SimState,
    inc: &Incoming,
    target: &Target,
) -> Result<Response, KubeError> {
    let selectors = selectors(inc, target.resource)?;
    let streaming = send_initial_events(inc)?;
    let asked = inc
        .param("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0");
    let asked = asked.map(parse_rv).transpose()?;
    let timeout = match inc
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
    {
        Some(seconds) => Duration::from_secs(seconds),
        None => Duration::from_secs(1800 + fastrand::u64(..1800)),
    };
    let (tx, rx) = mpsc::channel(1024);
    let watcher = Watcher {
        shared: shared.clone(),
        target: target.clone(),
        selectors,
        last: asked.filter(|_| !streaming).unwrap_or(st.rv),
        bookmarks: inc.flag("allowWatchBookmarks"),
        deadline: Instant::now() + timeout,
        tx,
    };
    let initial = match asked {
        Some(rv) if rv < st.compacted => Err(too_old(rv, st.compacted)),
        _ if streaming => Ok(watcher.streamed_list(st)),
        Some(_) => Ok(Vec::new()),
        None => Ok(watcher.initial_events(st)),
    };
    let control = st.control.subscribe();
    let changes = st.changes.subscribe();
    tokio::spawn(async move {
        match initial {
            Ok(lines) => watcher.run(lines, changes, control).await,
            Err(err) => drop(watcher.tx.send(line("ERROR", &err.to_json())).await),
        }
    });
    let body = Body::new(ChannelBody(rx));
    let headers = [(header::CONTENT_TYPE, "application/json")];
    Ok((StatusCode::OK, headers, body).into_response())
}

/// Whether the watch streams its initial list (`sendInitialEvents=true`,
/// which needs `resourceVersionMatch=NotOlderThan` and bookmarks); a
/// `resourceVersionMatch` without it is invalid.
fn send_initial_events(inc: &Incoming) -> Result<bool, KubeError> {
    let matching = inc.param("resourceVersionMatch").filter(|m| !m.is_empty());
    if !inc.flag("sendInitialEvents") {
        return match matching {
            Some(_) => Err(invalid_options(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            )),
            None => Ok(false),
        };
    }
    if matching != Some("NotOlderThan") {
        let why = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan";
        return Err(invalid_options("sendInitialEvents", why));
    }
    if !inc.flag("allowWatchBookmarks") {
        let why = "sendInitialEvents requires setting allowWatchBookmarks to true";
        return Err(invalid_options("allowWatchBookmarks", why));
    }
    Ok(true)
}

fn too_old(rv: u64, compacted: u64) -> KubeError {
    KubeError::expired(format!("too old resource version: {rv} ({compacted})"))
}

impl Watcher {
    /// Synthetic ADDED events for what exists now (a watch without a
    /// resourceVersion, or from "0").
    fn initial_events(&self, st: &SimState) -> Vec<Bytes> {
        (st.objects.iter())
            .filter(|(key, _)| key.0 == self.target.resource)
            .filter(|(key, object)| in_scope(&self.target, key, &self.selectors, object))
            .map(|(_, object)| line("ADDED", object))
            .collect()
    }

    /// The initial events of a streamed list, closed by the bookmark that
    /// marks their end (annotation `k8s.io/initial-events-end`).
    fn streamed_list(&self, st: &SimState) -> Vec<Bytes> {
        let mut lines = self.initial_events(st);
        let resource = self.target.resource;
        let object = json!({
            "kind": resource.kind(), "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": st.rv.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"}},
        });
        lines.push(line("BOOKMARK", &object));
        lines
    }

    /// The line an event becomes for this watch, if any.
    fn convert(&self, event: &Event) -> Option<Bytes> {
        let matches = |object: &Value| in_scope(&self.target, &event.key, &self.selectors, object);
        let before = event.old.as_ref().is_some_and(matches);
        let after = event.kind != EventType::Deleted && matches(&event.object);
        let kind = match (before, after) {
            (false, true) => EventType::Added,
            (true, true) => EventType::Modified,
            (true, false) => EventType::Deleted,
            (false, false) => return None,
        };
        Some(line(kind.word(), &event.object))
    }

    /// The lines due since the last one sent, or the ERROR that ends the
    /// stream when the history no longer reaches back.
    fn pending(&mut self) -> Result<Vec<Bytes>, Bytes> {
        let shared = self.shared.clone();
        let st = shared.lock();
        self.pending_in(&st)
    }

    fn pending_in(&mut self, st: &SimState) -> Result<Vec<Bytes>, Bytes> {
        let Some(events) = st.events_after(self.target.resource, self.last) else {
            return Err(line("ERROR", &too_old(self.last, st.compacted).to_json()));
        };
        self.last = self.last.max(events.last().map_or(self.last, |e| e.rv));
        Ok(events.iter().filter_map(|e| self.convert(e)).collect())
    }

    /// The events not sent yet, then a bookmark at the store's present
    /// resourceVersion, both read under one lock.
    fn bookmark(&mut self) -> Vec<Bytes> {
        let shared = self.shared.clone();
        let st = shared.lock();
        let mut lines = match self.pending_in(&st) {
            Ok(lines) => lines,
            Err(error) => return vec![error],
        };
        let resource = self.target.resource;
        self.last = st.rv;
        let object = json!({
            "kind": resource.kind(), "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": st.rv.to_string()},
        });
        lines.push(line("BOOKMARK", &object));
        lines
    }

    async fn send_all(&self, lines: Vec<Bytes>) -> bool {
        for line in lines {
            if self.tx.send(line).await.is_err() {
                return false;
            }
        }
        true
    }

    fn next_bookmark(&self, interval: Duration) -> Instant {
        let early = self
            .deadline
            .checked_sub(Duration::from_secs(2))
            .unwrap_or(self.deadline);
        let regular = Instant::now() + interval;
        match Instant::now() < early {
            true => regular.min(early),
            false => regular.min(self.deadline + interval),
        }
    }

    async fn run(
        mut self,
        initial: Vec<Bytes>,
        mut changes: tokio::sync::watch::Receiver<u64>,
        mut control: tokio::sync::watch::Receiver<WatchControl>,
    ) {
        let started = *control.borrow_and_update();
        let interval = self.shared.lock().bookmark_interval;
        let mut bookmark_at = self.next_bookmark(interval);
        let mut queued = initial;
        loop {
            let now = *control.borrow();
            if now.drops != started.drops {
                return;
            }
            if now.errors != started.errors {
                let error = KubeError::for_code(now.error_code).to_json();
                let _ = self.tx.send(line("ERROR", &error)).await;
                return;
            }
            if !now.silent {
                match self.pending() {
                    Ok(lines) => queued.extend(lines),
                    Err(error) => return drop(self.tx.send(error).await),
                }
                if !self.send_all(std::mem::take(&mut queued)).await {
                    return;
                }
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = control.changed() => {}
                _ = sleep_until(bookmark_at) => {
                    let silent = control.borrow().silent;
                    if self.bookmarks && !silent {
                        let lines = self.bookmark();
                        if !self.send_all(lines).await {
                            return;
                        }
                    }
                    bookmark_at = self.next_bookmark(interval);
                }
                _ = sleep_until(self.deadline) => return,
            }
        }
    }
}
