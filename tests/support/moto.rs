//! moto (PyPI `moto[server]`): an independent implementation of the ECR and
//! STS APIs, run on 127.0.0.1 so the AWS SDK is exercised for real.
//!
//! One server per test binary, started on first use. It watches its stdin,
//! a pipe held by the test process, and exits when that closes, so no moto
//! outlives the tests even though statics are never dropped.
//!
//! moto is found at `$MOTO_PYTHON` (a Python with moto installed) or in the
//! project's `.venv`, which the README's test command creates; an entry
//! point run alone (`cargo bench`, `cargo test` after `scripts/release`
//! made a `.venv` without moto) installs it there first with `scripts/venv`.
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

/// Whether `python` can import moto.
fn has_moto(python: &PathBuf) -> bool {
    Command::new(python)
        .args(["-c", "import moto"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The Python to run moto with: `$MOTO_PYTHON` as given, else `.venv`'s,
/// which gets the test tools installed when it lacks moto.
fn python_with_moto() -> PathBuf {
    let python = python();
    if has_moto(&python) {
        return python;
    }
    let how = "run ./scripts/test (or scripts/venv tests/requirements.txt), or set MOTO_PYTHON";
    if std::env::var_os("MOTO_PYTHON").is_some() {
        panic!("MOTO_PYTHON={} cannot import moto: {how}", python.display());
    }
    eprintln!(
        "moto is not in .venv: installing the test tools (scripts/venv tests/requirements.txt)"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let installed = Command::new(root.join("scripts/venv"))
        .arg("tests/requirements.txt")
        .current_dir(&root)
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        installed && has_moto(&python),
        "no Python with moto at {}: {how}",
        python.display()
    );
    python
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
        let python = python_with_moto();
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
