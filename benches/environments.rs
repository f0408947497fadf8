//! One daemon for a whole Rancher: 100 environments of 200 registries each,
//! 1 to 3 of them ECR registries in 3 regions (ECR_DISCOVER), 20 ms of
//! latency injected on every Rancher request. Measures the wall time of a
//! cycle (cold, with discovery, and steady), the Rancher requests per cycle
//! against the floor, the ECR calls per region (counted by an AWS front
//! before moto), and peak memory. Numbers only, no thresholds.
//!
//!     cargo bench --bench environments
//!
//! It measures the binary named by RANCHER_ECR_CREDENTIALS_BINARY, else the
//! static musl release build users get (built if missing). The Markdown
//! report goes to stdout, and to the file named by BENCH_REPORT.

#[path = "../tests/support/release_binary.rs"]
mod release_binary;
#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use support::aws_front::{AwsFront, Script};
use support::daemon::{base_env, run, set, spawn, RANCHER_SECRET_KEY};
use support::rancher_sim::{KeyKind, RancherSim, Role};

const ENVIRONMENTS: usize = 100;
const REGISTRIES: usize = 200;
const LATENCY: Duration = Duration::from_millis(20);
/// REFRESH_INTERVAL of the steady cycles.
const INTERVAL: Duration = Duration::from_secs(10);
const USER_KEY: &str = "USERKEY0000000000000";
const USER: &str = "1a2000";
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

/// The ECR registries of environment `e`: 1 to 3, each in another region.
fn ecr_hosts(e: usize) -> Vec<String> {
    (0..1 + e % 3)
        .map(|k| {
            let region = REGIONS[(e + k) % REGIONS.len()];
            format!("123456789012.dkr.ecr.{region}.amazonaws.com")
        })
        .collect()
}

/// Seeds the simulator; returns the number of ECR registries.
fn seed(sim: &RancherSim) -> usize {
    let mut ecr = 0;
    sim.add_key(USER_KEY, RANCHER_SECRET_KEY, KeyKind::User, Some(USER));
    for e in 0..ENVIRONMENTS {
        let id = format!("1a{}", 10 + e);
        sim.add_project_with(&id, &format!("env-{e}"), "cattle", "active");
        sim.add_member(&id, USER, Role::Restricted);
        let hosts = ecr_hosts(e);
        for r in 0..REGISTRIES - hosts.len() {
            sim.add_registry(&id, &format!("registry-{r}.example.com"), "active");
        }
        for host in &hosts {
            let registry = sim.add_registry(&id, host, "active");
            sim.add_credential(&id, &registry, "AWS", "stale", "active");
        }
        ecr += hosts.len();
    }
    ecr
}

/// The timestamps of the "next refresh in" lines, in seconds.
fn cycle_ends(output: &str) -> Vec<f64> {
    output
        .lines()
        .filter(|l| l.contains("next refresh in"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .collect()
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
    let ecr_registries = seed(&sim);
    sim.set_latency(LATENCY);
    let front = AwsFront::start(Script::Forward).await;
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "ECR_DISCOVER", "true");
    set(&mut env, "CATTLE_ACCESS_KEY", USER_KEY);
    set(&mut env, "RANCHER_ENVIRONMENTS", "all");
    set(&mut env, "LOG_LEVEL", "info");

    // Cold: one process, one cycle, discovery included.
    sim.clear_requests();
    let started = Instant::now();
    let once = run(&env, &["--once"]).await;
    let cold = started.elapsed();
    assert!(once.status.success(), "{}", once.output());
    let cold_requests = sim.request_count();
    let cold_ecr = front.token_calls(0);

    // Steady: the daemon's next cycles. The interval bounds how long a
    // cycle waits for its environments (longer ones are reported late), so
    // it is kept well above a cycle's length.
    set(
        &mut env,
        "REFRESH_INTERVAL",
        &format!("{}s", INTERVAL.as_secs()),
    );
    let mut daemon = spawn(&env, &[]);
    daemon
        .wait_for("a first cycle", |d| {
            d.output().matches("next refresh in").count() >= 1
        })
        .await;
    sim.clear_requests();
    let seen_before = front.seen().len();
    let cpu_before = daemon.pid().map(release_binary::cpu_seconds);
    let harness_before = release_binary::cpu_seconds(std::process::id());
    daemon
        .wait_for("a second cycle", |d| {
            d.output().matches("next refresh in").count() >= 2
        })
        .await;
    let steady_requests = sim.request_count();
    let cpu = daemon
        .pid()
        .map(release_binary::cpu_seconds)
        .zip(cpu_before)
        .map(|(after, before)| after - before)
        .unwrap_or(f64::NAN);
    let harness = release_binary::cpu_seconds(std::process::id()) - harness_before;
    let steady_ecr = front.token_calls(seen_before);
    let ends = cycle_ends(&daemon.output());
    let steady = ends
        .get(1)
        .zip(ends.first())
        .map(|(b, a)| b - a - INTERVAL.as_secs_f64())
        .unwrap_or(f64::NAN);
    let peak = daemon
        .pid()
        .map(|pid| release_binary::proc_status_field(pid, "VmHWM:"))
        .unwrap_or(0);
    daemon.terminate().await;

    // The floor: the environment list, then per environment one registry
    // page, and per ECR registry one credential list and one PUT.
    let floor = 1 + ENVIRONMENTS + 2 * ecr_registries;
    let calls = |by_region: &BTreeMap<String, usize>| {
        by_region
            .iter()
            .map(|(region, n)| format!("{region}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut report = String::new();
    let _ = writeln!(
        report,
        "### {ENVIRONMENTS} environments x {REGISTRIES} registries ({ecr_registries} of them ECR, \
         in {} regions), {} ms Rancher latency\n",
        REGIONS.len(),
        LATENCY.as_millis()
    );
    let _ = writeln!(report, "Binary: `{}`\n", support::daemon::binary());
    let _ = writeln!(report, "| measure | value |");
    let _ = writeln!(report, "| --- | --- |");
    let _ = writeln!(
        report,
        "| cold cycle (`--once`: start, discovery, write) | {:.2} s |",
        cold.as_secs_f64()
    );
    let _ = writeln!(report, "| steady cycle (daemon) | {steady:.2} s |");
    let _ = writeln!(
        report,
        "| daemon CPU time, steady cycle (user + system) | {cpu:.2} s |"
    );
    let _ = writeln!(
        report,
        "| harness CPU time, steady cycle (simulator and AWS front, in the bench process) | {harness:.2} s |"
    );
    let _ = writeln!(report, "| Rancher requests, cold cycle | {cold_requests} |");
    let _ = writeln!(
        report,
        "| Rancher requests, steady cycle (floor {floor}) | {steady_requests} |"
    );
    let _ = writeln!(
        report,
        "| GetAuthorizationToken calls, cold cycle | {} |",
        calls(&cold_ecr)
    );
    let _ = writeln!(
        report,
        "| GetAuthorizationToken calls, steady cycle | {} |",
        calls(&steady_ecr)
    );
    let _ = writeln!(
        report,
        "| peak RSS (VmHWM) | {:.1} MiB |",
        peak as f64 / 1024.0
    );
    print!("{report}");
    if let Ok(path) = std::env::var("BENCH_REPORT") {
        std::fs::write(&path, &report).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
