//! Peak memory of the daemon while a hostile server attacks it: an endless
//! Rancher body, a huge `Content-Length`, an endless AWS body. Compared with
//! the peak of a normal first cycle, it shows what the body limits
//! (src/bounded.rs) cost at most. Numbers only, no thresholds.
//!
//!     cargo bench --bench hostile
//!
//! It measures the binary named by RANCHER_ECR_CREDENTIALS_BINARY, else the
//! static musl release build users get (built if missing). The Markdown
//! report goes to stdout, and to the file named by BENCH_REPORT.

#[path = "../tests/support/release_binary.rs"]
mod release_binary;
#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::time::Duration;

use support::daemon::{base_env, set, spawn, Running, ECR_HOST};
use support::hostile::{Attack, HostileServer};
use support::rancher_sim::RancherSim;

const PROJECT: &str = "1a5";

/// Peak resident set (VmHWM) of the process, in KiB.
fn peak_rss_kib(daemon: &Running) -> u64 {
    release_binary::proc_status_field(daemon.pid().expect("running"), "VmHWM:")
}

/// Runs the daemon with `env` until `failures` attempts have failed with
/// `marker` (or, for the baseline, one cycle is logged), then reads its peak.
async fn peak_under(env: &[(String, String)], marker: &str, attempts: usize) -> u64 {
    let mut daemon = spawn(env, &[]);
    daemon
        .wait_for(marker, |d| d.output().matches(marker).count() >= attempts)
        .await;
    let peak = peak_rss_kib(&daemon);
    daemon.terminate().await;
    peak
}

fn fast_retries(env: &mut Vec<(String, String)>) {
    set(env, "RETRY_MIN_DELAY", "100ms");
    set(env, "RETRY_MAX_DELAY", "200ms");
    set(env, "LOG_LEVEL", "info");
}

fn main() {
    // Chosen before any thread exists: support::daemon runs this binary.
    release_binary::choose_for_benchmark();
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(measure());
}

async fn measure() {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, PROJECT);
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let cattle_url = format!("{}/v2-beta/projects/{PROJECT}", sim.url());

    let mut env = base_env(&cattle_url);
    fast_retries(&mut env);
    let normal = peak_under(&env, "next refresh in", 1).await;

    let mut rows = vec![("normal first cycle (baseline)".to_string(), normal)];
    for (name, attack) in [
        ("Rancher: endless body", Attack::EndlessBody),
        ("Rancher: 100 GB Content-Length", Attack::HugeContentLength),
    ] {
        let server = HostileServer::start(attack).await;
        let mut env = base_env(&format!("{}/v2-beta/projects/{PROJECT}", server.url));
        fast_retries(&mut env);
        let peak = peak_under(&env, "KiB limit", 5).await;
        rows.push((format!("{name}, 5 attempts"), peak));
    }
    let aws = HostileServer::start(Attack::EndlessBody).await;
    let mut env = base_env(&cattle_url);
    set(&mut env, "AWS_ENDPOINT_URL", &aws.url);
    fast_retries(&mut env);
    let peak = peak_under(&env, "KiB limit", 5).await;
    rows.push(("AWS: endless body, 5 attempts".to_string(), peak));

    let mut report = String::new();
    let binary = support::daemon::binary();
    let _ = writeln!(report, "### Peak memory under attack\n");
    let _ = writeln!(report, "Binary: `{binary}`\n");
    let _ = writeln!(report, "| scenario | peak RSS (VmHWM) | over baseline |");
    let _ = writeln!(report, "| --- | --- | --- |");
    for (name, peak) in &rows {
        let _ = writeln!(
            report,
            "| {name} | {:.1} MiB | {:+.1} MiB |",
            *peak as f64 / 1024.0,
            (*peak as f64 - normal as f64) / 1024.0
        );
    }
    print!("{report}");
    if let Ok(path) = std::env::var("BENCH_REPORT") {
        std::fs::write(&path, &report).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}
