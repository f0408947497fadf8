//! moto (PyPI `moto[server]`): an independent implementation of the ECR and
//! STS APIs, run on 127.0.0.1 so the AWS SDK is exercised for real.
//!
//! One server per test binary, started on first use. It watches its stdin,
//! a pipe held by the test process, and exits when that closes, so no moto
//! outlives the tests even though statics are never dropped.
//!
//! moto is found at `$MOTO_PYTHON` (a Python with moto installed) or in the
//! project's `.venv`, which the README's test command creates.
//!
//! `Moto::proxy()` is moto's other face, `moto_proxy`: a real HTTP proxy
//! that intercepts HTTPS to AWS hosts with its own CA and answers from moto,
//! which proves that AWS calls honour HTTPS_PROXY.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    _child: Mutex<(Child, ChildStdin)>,
}

/// Python that runs a moto entry point until its stdin closes.
const LAUNCHER: &str = "\
import importlib, os, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
importlib.import_module(sys.argv[1]).main(['-H', '127.0.0.1', '-p', sys.argv[2]])
";

pub fn python() -> PathBuf {
    if let Ok(python) = std::env::var("MOTO_PYTHON") {
        return PathBuf::from(python);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Moto {
    /// The shared moto server of this test binary.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| Moto::start("moto.server"))
    }

    /// The shared moto_proxy; `endpoint` is the proxy URL.
    pub fn proxy() -> &'static Moto {
        static PROXY: OnceLock<Moto> = OnceLock::new();
        PROXY.get_or_init(|| Moto::start("moto.proxy"))
    }

    /// The CA certificate moto_proxy signs its intercepting certificates with.
    pub fn proxy_ca() -> PathBuf {
        let output = Command::new(python())
            .args([
                "-c",
                "import moto.moto_proxy, os; print(os.path.dirname(moto.moto_proxy.__file__))",
            ])
            .output()
            .expect("python runs");
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
        PathBuf::from(dir).join("ca.crt")
    }

    fn start(module: &str) -> Moto {
        let python = python();
        assert!(
            python.exists(),
            "no Python with moto at {}: run ./scripts/test (it installs moto into .venv) \
             or set MOTO_PYTHON",
            python.display()
        );
        let port = free_port();
        let log_path =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{module}-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("moto log file");
        let mut child = Command::new(&python)
            .args(["-c", LAUNCHER, module, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start moto with {}: {err}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(port) {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("moto exited with {status} before serving: {log}");
            }
            assert!(Instant::now() < deadline, "moto did not start within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: Mutex::new((child, stdin)),
        }
    }
}

/// Ready once moto answers an HTTP request (not merely accepts TCP).
fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/")
}
