//! A server that misbehaves on purpose, at the HTTP level, to prove that
//! every read of the daemon is bounded in size and time: it answers every
//! request with the same [`Attack`], whatever was asked.
//!
//! Each connection stops by itself (after [`MAX_BYTES`] or [`MAX_TIME`]) or
//! when the daemon hangs up, so a test can never leave it running wild.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most one connection sends.
const MAX_BYTES: u64 = 2 << 30;
/// The longest one connection lasts.
const MAX_TIME: Duration = Duration::from_secs(90);

#[derive(Clone, Debug)]
pub enum Attack {
    /// A 200 with a chunked JSON body that never ends.
    EndlessBody,
    /// A 200 announcing a 100 GB body, then sending it.
    HugeContentLength,
    /// A status line, then header lines forever.
    EndlessHeaders,
    /// A 200 whose 1000-byte body arrives one byte per second.
    Trickle,
    /// A 200 with this body, `Content-Length` set.
    Body(Vec<u8>),
}

pub struct HostileServer {
    pub url: String,
    sent: Arc<AtomicU64>,
}

impl HostileServer {
    pub async fn start(attack: Attack) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let attack = attack.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(MAX_TIME, serve(stream, attack, counter)).await;
                });
            }
        });
        HostileServer { url, sent }
    }

    /// Bytes written to all connections so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, attack: Attack, sent: Arc<AtomicU64>) {
    if !read_request_head(&mut stream).await {
        return;
    }
    const JSON: &str = "Content-Type: application/json\r\n";
    match attack {
        Attack::EndlessBody => {
            let head = format!("HTTP/1.1 200 OK\r\n{JSON}Transfer-Encoding: chunked\r\n\r\n");
            if !send(&mut stream, &sent, head.into_bytes()).await {
                return;
            }
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
            chunk.extend_from_slice(b"\r\n");
            let mut total = 0;
            while total < MAX_BYTES && send(&mut stream, &sent, &chunk).await {
                total += chunk.len() as u64;
            }
        }
        Attack::HugeContentLength => {
            let head = format!("HTTP/1.1 200 OK\r\n{JSON}Content-Length: 100000000000\r\n\r\n");
            if !send(&mut stream, &sent, head.into_bytes()).await {
                return;
            }
            let block = vec![b' '; 64 * 1024];
            let mut total = 0;
            while total < MAX_BYTES && send(&mut stream, &sent, &block).await {
                total += block.len() as u64;
            }
        }
        Attack::EndlessHeaders => {
            if !send(&mut stream, &sent, b"HTTP/1.1 200 OK\r\n").await {
                return;
            }
            let line = format!("X-Filler: {}\r\n", "x".repeat(1000)).into_bytes();
            let mut total = 0;
            while total < MAX_BYTES && send(&mut stream, &sent, &line).await {
                total += line.len() as u64;
            }
        }
        Attack::Trickle => {
            let head = format!("HTTP/1.1 200 OK\r\n{JSON}Content-Length: 1000\r\n\r\n");
            if !send(&mut stream, &sent, head.into_bytes()).await {
                return;
            }
            let started = Instant::now();
            while started.elapsed() < MAX_TIME && send(&mut stream, &sent, b" ").await {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Attack::Body(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\n{JSON}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut response = head.into_bytes();
            response.extend(body);
            send(&mut stream, &sent, response).await;
        }
    }
}

/// Writes `bytes`; false once the daemon has hung up.
async fn send(stream: &mut TcpStream, sent: &AtomicU64, bytes: impl AsRef<[u8]>) -> bool {
    let bytes = bytes.as_ref();
    let ok = stream.write_all(bytes).await.is_ok();
    sent.fetch_add(bytes.len() as u64, Ordering::SeqCst);
    ok
}

/// Reads up to the end of the request head (at most 64 KiB); false if the
/// client went away first.
async fn read_request_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while head.len() < 64 * 1024 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
    }
    false
}
