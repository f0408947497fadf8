//! One cluster of 1,000 namespaces (one ServiceAccount each) through the
//! kube-apiserver simulator: the time from start until every namespace
//! holds the pull Secret and its `default` ServiceAccount names it, the
//! requests that took (against the floor of one write per Secret and per
//! ServiceAccount, plus lists and watches), the requests of a steady
//! cluster afterwards (goal: no write), and peak memory. Numbers only, no
//! thresholds.
//!
//!     cargo bench --bench kubernetes
//!
//! BENCH_STEADY_SECS (default 600) is how long the steady cluster is
//! watched. It measures the binary named by RANCHER_ECR_CREDENTIALS_BINARY,
//! else the static musl release build users get (built if missing). The
//! Markdown report goes to stdout, and to the file named by BENCH_REPORT.

#[path = "../tests/support/release_binary.rs"]
mod release_binary;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;
use support::aws_front::{AwsFront, Script};
use support::daemon::{base_env, set, spawn, unset};
use support::kube_sim::{KubeSim, Resource, SimRequest, TOKEN};
use support::scratch_file;

const NAMESPACES: usize = 1000;
const SECRET: &str = "ecr-credentials";

fn main() {
    // Chosen before any thread exists: support::daemon runs this binary.
    release_binary::choose_for_benchmark();
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(measure());
}

/// Requests by kind: writes per resource, lists, watches, other reads.
fn tally(requests: &[SimRequest]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for request in requests {
        let resource = ["secrets", "serviceaccounts", "namespaces", "leases"]
            .into_iter()
            .find(|r| request.path.contains(r))
            .unwrap_or("other");
        let kind = if request.is_write() {
            format!("{} {resource}", request.method)
        } else if request.query.contains("watch=") {
            format!("watch {resource}")
        } else if request.path.ends_with(resource) {
            format!("list {resource}")
        } else {
            format!("get {resource}")
        };
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

fn filled(sim: &KubeSim) -> usize {
    (0..NAMESPACES)
        .filter(|n| {
            let namespace = format!("ns-{n:04}");
            sim.get(Resource::Secrets, &namespace, SECRET).is_some()
                && sim
                    .get(Resource::ServiceAccounts, &namespace, "default")
                    .is_some_and(|sa| sa["imagePullSecrets"].to_string().contains(SECRET))
        })
        .count()
}

async fn measure() {
    let sim = KubeSim::start().await;
    for n in 0..NAMESPACES {
        let namespace = format!("ns-{n:04}");
        sim.add_namespace(&namespace, &[]);
        if sim
            .get(Resource::ServiceAccounts, &namespace, "default")
            .is_none()
        {
            sim.put(
                Resource::ServiceAccounts,
                json!({"metadata": {"name": "default", "namespace": namespace}}),
            );
        }
    }
    let front = AwsFront::start(Script::Forward).await;
    let kubeconfig = scratch_file("bench-kubeconfig", &sim.kubeconfig(TOKEN));
    let config = scratch_file(
        "bench-kubernetes.toml",
        &format!(
            "[[source]]\nname = \"home\"\nregion = \"us-east-1\"\n\n[[target]]\n\
             kind = \"kubernetes\"\nkubeconfig = \"{kubeconfig}\"\n"
        ),
    );
    let mut env = base_env("http://rancher.invalid/v2-beta");
    for rancher in ["CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY"] {
        unset(&mut env, rancher);
    }
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "CONFIG_FILE", &config);
    sim.clear_requests();

    let started = Instant::now();
    let daemon = spawn(&env, &[]);
    let deadline = started + Duration::from_secs(600);
    while filled(&sim) < NAMESPACES {
        assert!(Instant::now() < deadline, "not filled: {}", daemon.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fill = started.elapsed();
    let fill_requests = sim.requests();
    let ecr_calls: usize = front.token_calls(0).values().sum();

    let steady_secs: u64 = std::env::var("BENCH_STEADY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    // Settle: the watches see the daemon's own writes come back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sim.clear_requests();
    let cpu_before = daemon.pid().map(release_binary::cpu_seconds);
    tokio::time::sleep(Duration::from_secs(steady_secs)).await;
    let steady_requests = sim.requests();
    let cpu = (daemon.pid().map(release_binary::cpu_seconds))
        .zip(cpu_before)
        .map(|(after, before)| after - before)
        .unwrap_or(f64::NAN);
    let peak = (daemon.pid())
        .map(|pid| release_binary::proc_status_field(pid, "VmHWM:"))
        .unwrap_or(0);
    let rss = (daemon.pid())
        .map(|pid| release_binary::proc_status_field(pid, "VmRSS:"))
        .unwrap_or(0);
    daemon.terminate().await;

    let binary = support::daemon::binary();
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    let writes = |requests: &[SimRequest]| requests.iter().filter(|r| r.is_write()).count();
    let list = |kinds: &BTreeMap<String, usize>| {
        (kinds.iter())
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut report = String::new();
    let _ = writeln!(
        report,
        "### {NAMESPACES} namespaces, one ServiceAccount each\n\nBinary: `{binary}` ({size} bytes)\n"
    );
    let _ = writeln!(report, "| measure | value |\n| --- | --- |");
    let _ = writeln!(
        report,
        "| start to every Secret written and every ServiceAccount naming it | {:.2} s |",
        fill.as_secs_f64()
    );
    let _ = writeln!(
        report,
        "| requests to fill (floor: {} writes, plus lists and watches) | {} ({} writes): {} |",
        2 * NAMESPACES,
        fill_requests.len(),
        writes(&fill_requests),
        list(&tally(&fill_requests))
    );
    let _ = writeln!(
        report,
        "| GetAuthorizationToken calls to fill | {ecr_calls} |"
    );
    let _ = writeln!(
        report,
        "| requests in {steady_secs} s of a steady cluster | {} ({} writes): {} |",
        steady_requests.len(),
        writes(&steady_requests),
        list(&tally(&steady_requests))
    );
    let _ = writeln!(
        report,
        "| daemon CPU time in those {steady_secs} s | {cpu:.2} s |"
    );
    let _ = writeln!(
        report,
        "| peak RSS (VmHWM) | {:.1} MiB |",
        peak as f64 / 1024.0
    );
    let _ = writeln!(
        report,
        "| RSS at the end | {:.1} MiB |",
        rss as f64 / 1024.0
    );
    print!("{report}");
    if let Ok(path) = std::env::var("BENCH_REPORT") {
        std::fs::write(&path, &report).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
