//! The kubelet credential provider's cost per cache miss, against moto on
//! 127.0.0.1: time from starting the binary to its complete response
//! (median of 20 cold starts), peak RSS of one invocation (from the kernel's
//! accounting of the finished process), and the binary's size. Numbers only,
//! no thresholds: they go to docs/benchmarks.md ("Kubelet credential provider").
//!
//!     cargo bench --bench kubelet
//!
//! The binary measured is `RANCHER_ECR_CREDENTIALS_BINARY`, else the static
//! musl release build (built if missing), the one the image and the docs
//! ship. The Markdown report goes to stdout, and to the file named by
//! `BENCH_REPORT` if set.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::daemon::{AWS_ACCESS_KEY, AWS_SECRET_KEY};
use support::moto::Moto;

const RUNS: usize = 20;
const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app";

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("RANCHER_ECR_CREDENTIALS_BINARY") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("target/x86_64-unknown-linux-musl/release/rancher-ecr-credentials");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "x86_64-unknown-linux-musl",
            ])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the static release build failed");
    }
    path
}

/// What one invocation cost.
struct Cost {
    /// From spawn to the complete response (and exit).
    wall: Duration,
    /// User + system CPU time of the process.
    cpu: Duration,
    /// Peak resident set, KiB.
    max_rss: i64,
}

/// One invocation, measured.
// The child is reaped by wait4, which clippy does not know of.
#[allow(clippy::zombie_processes)]
fn invoke(binary: &PathBuf, endpoint: &str) -> Cost {
    let request = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{IMAGE}"}}"#
    );
    let started = Instant::now();
    let mut child = Command::new(binary)
        .arg("kubelet-credential-provider")
        .env_clear()
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the provider starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(request.as_bytes())
        .expect("request written");
    drop(stdin);
    let mut response = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut response)
        .expect("response read");
    // wait4 instead of Child::wait: it also returns the process's rusage.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the provider failed"
    );
    assert!(
        response.contains("CredentialProviderResponse"),
        "no response: {response}"
    );
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Cost {
        wall: elapsed,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        max_rss: usage.ru_maxrss,
    }
}

/// moto's own time for the same GetAuthorizationToken, over a fresh
/// connection as the provider makes it: the part of the total that is not
/// the provider's.
fn moto_alone(endpoint: &str) -> Duration {
    use std::net::TcpStream;
    let address = endpoint.trim_start_matches("http://");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\n\
         X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY}/20260101/eu-west-1/ecr/aws4_request, \
         SignedHeaders=host, Signature=0\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).expect("moto accepts");
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("moto answers");
    let elapsed = started.elapsed();
    assert!(answer.contains("authorizationData"), "{answer}");
    elapsed
}

fn median<T: Copy + PartialOrd>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    sorted[sorted.len() / 2]
}

fn rounded(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| (v * 10.0).round() / 10.0).collect()
}

fn main() {
    let binary = binary();
    let moto = Moto::shared();
    // Once to warm moto (its first ECR call loads the backend), not counted.
    invoke(&binary, &moto.endpoint);
    let mut times = Vec::new();
    let mut rss = Vec::new();
    let mut moto_times = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..RUNS {
        let cost = invoke(&binary, &moto.endpoint);
        times.push(cost.wall.as_secs_f64() * 1000.0);
        cpu.push(cost.cpu.as_secs_f64() * 1000.0);
        rss.push(cost.max_rss);
        moto_times.push(moto_alone(&moto.endpoint).as_secs_f64() * 1000.0);
    }
    let size = std::fs::metadata(&binary).expect("the binary").len() as f64;
    let mib = |kib: f64| kib / 1024.0;

    let mut report = String::new();
    let _ = writeln!(report, "## Kubelet credential provider\n");
    let _ = writeln!(
        report,
        "Measured by `cargo bench --bench kubelet` on {} against moto on 127.0.0.1 \
         (static keys, no instance metadata): one `v1` request per cold start of \
         `{}`.\n",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        binary
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&binary)
            .display()
    );
    let _ = writeln!(report, "| What | Measured | Goal |\n|---|---|---|");
    let _ = writeln!(
        report,
        "| Start to complete response (median of {RUNS}) | {:.1} ms | < 50 ms |",
        median(&times)
    );
    let _ = writeln!(
        report,
        "| of which moto answering GetAuthorizationToken alone (median) | {:.1} ms | |",
        median(&moto_times)
    );
    let _ = writeln!(
        report,
        "| CPU time of one invocation, user + system (median) | {:.1} ms | |",
        median(&cpu)
    );
    let _ = writeln!(
        report,
        "| Peak RSS of one invocation (median of {RUNS}; max {:.1} MiB) | {:.1} MiB | < 12 MB |",
        mib(*rss.iter().max().unwrap() as f64),
        mib(median(&rss) as f64)
    );
    let _ = writeln!(
        report,
        "| Binary size | {:.2} MiB | < 6 MB static |",
        size / 1024.0 / 1024.0
    );
    let _ = writeln!(
        report,
        "\nRaw: start to response {:?} ms; moto alone {:?} ms; CPU {:?} ms; peak RSS {:?} KiB.",
        rounded(&times),
        rounded(&moto_times),
        rounded(&cpu),
        rss
    );
    print!("{report}");
    if let Ok(path) = std::env::var("BENCH_REPORT") {
        std::fs::write(&path, &report).expect("BENCH_REPORT written");
    }
}
