//! A TLS terminator in front of the Rancher simulator, with a throwaway CA
//! (tls_front.py beside this file; it uses `cryptography`, which moto
//! brings). Ends when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::moto::{free_port, python};

pub struct TlsFront {
    pub port: u16,
    pub ca_file: PathBuf,
    child: Child,
}

impl TlsFront {
    /// Starts TLS on a free port, forwarding to `target_port`.
    pub fn start(target_port: u16) -> TlsFront {
        let port = free_port();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-front-{port}"));
        std::fs::create_dir_all(&dir).expect("tls dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/tls_front.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(&dir)
            .arg(port.to_string())
            .arg(target_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tls_front.py started");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("tls_front.py output");
        assert_eq!(line.trim(), "ready", "tls_front.py did not start");
        TlsFront {
            port,
            ca_file: dir.join("ca.pem"),
            child,
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
