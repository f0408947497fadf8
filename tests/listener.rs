//! The health listener facing a hostile network (issue 17): half a request,
//! an idle keep-alive connection, a response nobody reads, an oversized head
//! or a body, and a flood of such peers at once. None of them may hold the
//! listener for long, nor take the file descriptors the refresh needs for
//! Rancher and AWS. Real binary, moto and the Rancher simulator, as in
//! tests/operations.rs. Every test waits for an event (a closed connection,
//! a write in the simulator, a log line); [`GUARD`] only keeps a listener
//! without limits from hanging the run.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use rancher_ecr_credentials::daemon::health::MAX_CONNECTIONS;
use support::daemon::{base_env, moto_password, set, spawn, Running, ACCOUNT, ECR_HOST};
use support::rancher_sim::RancherSim;
use support::{credential, PROJECT};

/// How long a test waits for what a listener with limits does within seconds.
const GUARD: Duration = Duration::from_secs(60);

/// A daemon serving a Rancher with nothing to write, and its health address.
async fn daemon() -> (RancherSim, Running, String) {
    let sim = support::two_environments().await;
    let mut daemon = spawn(&base_env(&format!("{}/v1", sim.url())), &[]);
    let address = daemon.health_address().await;
    (sim, daemon, address)
}

/// Reads until the listener closes the connection (end of stream or a
/// reset) and returns what it sent; panics if it is still open after GUARD.
async fn until_closed(stream: &mut TcpStream, what: &str) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    if tokio::time::timeout(GUARD, read_all).await.is_err() {
        panic!("{what}: the listener still holds the connection after {GUARD:?}");
    }
    String::from_utf8_lossy(&received).into_owned()
}

async fn stop(daemon: Running) {
    let (status, output) = daemon.terminate().await;
    assert!(status.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_request_head_is_cut_off() {
    let (_sim, daemon, address) = daemon().await;
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = until_closed(&mut slow, "half a request head").await;
    assert!(!answer.contains("pong!"), "{answer}");

    let mut silent = TcpStream::connect(&address).await.unwrap();
    let answer = until_closed(&mut silent, "a connection that sends nothing").await;
    assert!(!answer.contains("pong!"), "{answer}");
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed() {
    let (_sim, daemon, address) = daemon().await;
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"pong!") {
        let mut buffer = [0u8; 1024];
        let n = tokio::time::timeout(GUARD, stream.read(&mut buffer))
            .await
            .expect("an answer")
            .expect("a read");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );
    // Kept alive, then closed for want of a next request.
    let rest = until_closed(&mut stream, "an idle keep-alive connection").await;
    assert_eq!(rest, "");
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_nobody_reads_is_cut_off() {
    let (_sim, mut daemon, address) = daemon().await;
    // A small receive window and many pipelined requests: the daemon's
    // answers pile up (megabytes: more than loopback's socket buffers hold)
    // until it cannot write, as with a peer that never reads.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address.parse().unwrap()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    const REQUESTS: usize = 10_000;
    let requests = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(REQUESTS);
    // Its own task: the daemon stops reading requests it cannot answer.
    let pipelined = tokio::spawn(async move {
        let _ = writer.write_all(requests.as_bytes()).await;
        writer
    });
    daemon
        .wait_for_output("health connection closed: a response not taken")
        .await;
    let mut answers = Vec::new();
    let read_all = async {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buffer).await {
            answers.extend_from_slice(&buffer[..n]);
        }
    };
    tokio::time::timeout(GUARD, read_all)
        .await
        .expect("the connection closed");
    let taken = String::from_utf8_lossy(&answers)
        .matches("HTTP/1.1 200")
        .count();
    assert!(taken < REQUESTS, "all {REQUESTS} answered");
    pipelined.abort();
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_heads_and_bodies_are_refused() {
    let (_sim, daemon, address) = daemon().await;

    // A head over the limit (8 KiB) but far below hyper's default (~400 KB).
    let big = format!(
        "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    let mut stream = TcpStream::connect(&address).await.unwrap();
    // The daemon may close before taking it all.
    let _ = stream.write_all(big.as_bytes()).await;
    let answer = until_closed(&mut stream, "an oversized head").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );

    // A head that never ends: the daemon stops taking it long before 64 MiB.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let endless = tokio::spawn(async move {
        let chunk = vec![b'a'; 64 * 1024];
        stream
            .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            .await?;
        for _ in 0..1024 {
            stream.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(stream)
    });
    let written = tokio::time::timeout(GUARD, endless)
        .await
        .expect("the daemon stopped taking an endless head")
        .unwrap();
    assert!(written.is_err(), "the daemon took a 64 MiB head");

    // A body, which no endpoint takes.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(
            b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
                    Content-Length: 10\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream, "a request with a body").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let pong = support::http()
        .get(format!("http://{address}/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(pong.text().await.unwrap(), "pong!");
    stop(daemon).await;
}

/// Peers that each hold a connection with half a request head, and open
/// another as soon as the listener lets go: the listener stays full.
struct Flood {
    peers: Vec<JoinHandle<()>>,
    connected: Arc<AtomicUsize>,
}

impl Flood {
    fn start(address: &str, peers: usize) -> Flood {
        let connected = Arc::new(AtomicUsize::new(0));
        let peers = (0..peers)
            .map(|_| tokio::spawn(flood_peer(address.to_string(), connected.clone())))
            .collect();
        Flood { peers, connected }
    }

    /// Waits until every peer has connected once.
    async fn established(&self) {
        let all = self.peers.len();
        let wait = async {
            while self.connected.load(Ordering::SeqCst) < all {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(GUARD, wait)
            .await
            .expect("every flood peer connected");
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        for peer in &self.peers {
            peer.abort();
        }
    }
}

async fn flood_peer(address: String, connected: Arc<AtomicUsize>) {
    let mut first = true;
    loop {
        if let Ok(mut stream) = TcpStream::connect(&address).await {
            if std::mem::take(&mut first) {
                connected.fetch_add(1, Ordering::SeqCst);
            }
            let _ = stream.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n").await;
            let mut buffer = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Lowers the daemon's file descriptor limit (soft and hard) to `n`, as a
/// small container's might be: enough for the daemon and a full listener,
/// not for a flood of three times as many connections.
fn limit_descriptors(pid: u32, n: u64) {
    let limit = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: prlimit reads `limit`, and with a null old limit writes nothing.
    let done = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_idle_connections_does_not_stop_the_refresh() {
    // Rancher is down at the start, so the first write must open new
    // connections to Rancher and to AWS while the listener is flooded.
    let port = support::moto::free_port();
    let mut env = base_env(&format!("http://127.0.0.1:{port}/v1"));
    set(&mut env, "RETRY_MIN_DELAY", "100ms");
    set(&mut env, "RETRY_MAX_DELAY", "1s");
    let mut daemon = spawn(&env, &[]);
    let address = daemon.health_address().await;
    daemon.wait_for_output("unreachable").await;
    limit_descriptors(
        daemon.pid().expect("the daemon runs"),
        2 * MAX_CONNECTIONS as u64,
    );

    let flood = Flood::start(&address, 3 * MAX_CONNECTIONS);
    flood.established().await;
    // A whole retry under the flood, before Rancher comes up.
    let failed = daemon.output().matches("unreachable").count();
    daemon
        .wait_for("a retry during the flood", |d| {
            d.output().matches("unreachable").count() > failed
        })
        .await;

    let sim = RancherSim::start_at(port).await;
    support::add_environment(&sim, PROJECT);
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    daemon
        .wait_for("the credential written during the flood", |_| {
            credential(&sim, PROJECT, &cred).secret_value.as_deref()
                == Some(moto_password(ACCOUNT).as_str())
        })
        .await;
    daemon.wait_for_output("health listener full").await;

    // The flood gone, the listener answers again.
    drop(flood);
    let ping = async {
        loop {
            if let Ok(response) = support::http()
                .get(format!("http://{address}/ping"))
                .send()
                .await
            {
                break response.text().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let pong = tokio::time::timeout(GUARD, ping)
        .await
        .expect("/ping again");
    assert_eq!(pong, "pong!");
    // Every connection closed for being one too many was counted.
    let metrics = support::listener_get(&address, "/metrics").await.1;
    let refused: f64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("rancher_ecr_credentials_health_connections_refused_total ")
        })
        .expect("the refused-connections counter")
        .parse()
        .unwrap();
    assert!(refused >= 1.0, "{metrics}");
    stop(daemon).await;
}
