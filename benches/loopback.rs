//! Loopback measurements of the binary users get (the static musl release
//! build) against moto and the Rancher simulator: Rancher requests per
//! cycle, time from start to the first credential update, memory after the
//! first cycle, idle CPU and context switches, SIGTERM-to-exit time and
//! binary size. Numbers only, no thresholds.
//!
//!     cargo bench --profile dev --bench loopback    (BENCH_IDLE_SECS=60 by default)
//!     BENCH_REPORT=/tmp/loopback.md cargo bench --profile dev --bench loopback
//!
//! `--profile dev` reuses the test build: only the harness (and the Rancher
//! simulator in it) is then unoptimized, the binary measured is the release
//! build either way. Plain `cargo bench` works too, after a release build of
//! every dependency for the harness.
//!
//! It measures the binary named by `RANCHER_ECR_CREDENTIALS_BINARY`, else the
//! static musl release build (`scripts/release build`, run here when needed).
//! The Markdown report goes to stdout, and to the file named by
//! `BENCH_REPORT` only when that is set: a run never overwrites a tracked
//! document by itself.

#[path = "../tests/support/release_binary.rs"]
mod release_binary;
#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use support::daemon::{base_env, moto_password, run, set, spawn, Running, ACCOUNT, ECR_HOST};
use support::rancher_sim::RancherSim;

const PROJECT: &str = "1a5";

async fn rancher(other_registries: usize) -> (RancherSim, String) {
    let sim = RancherSim::start().await;
    support::add_environment(&sim, PROJECT);
    for n in 0..other_registries {
        sim.add_registry(PROJECT, &format!("registry-{n}.example.com"), "active");
    }
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let credential = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    (sim, credential)
}

fn written(sim: &RancherSim, credential: &str) -> bool {
    sim.credential(credential)
        .and_then(|c| c.secret_value)
        .is_some_and(|v| v == moto_password(ACCOUNT))
}

/// utime + stime in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat, counted from the state (field 3) here.
    fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
}

fn context_switches(pid: u32) -> u64 {
    release_binary::proc_status_field(pid, "voluntary_ctxt_switches:")
        + release_binary::proc_status_field(pid, "nonvoluntary_ctxt_switches:")
}

/// Requests of the first cycle (--once, discovery included) and of a
/// steady-state cycle (daemon, discovery cached).
async fn requests_per_cycle(other_registries: usize) -> (usize, usize) {
    let (sim, credential) = rancher(other_registries).await;
    let env = base_env(&format!("{}/v1", sim.url()));
    let result = run(&env, &["--once"]).await;
    assert!(result.status.success(), "{}", result.output());
    let first = sim.requests().len();

    let mut env = env;
    set(&mut env, "REFRESH_INTERVAL", "1s");
    set(&mut env, "LOG_LEVEL", "info");
    let mut daemon = spawn(&env, &[]);
    daemon
        .wait_for("two cycles", |d| {
            d.output().matches("next refresh in").count() >= 2
        })
        .await;
    sim.clear_requests();
    let cycles_before = daemon.output().matches("next refresh in").count();
    daemon
        .wait_for("one more cycle", |d| {
            d.output().matches("next refresh in").count() > cycles_before
        })
        .await;
    let steady = sim.requests().len();
    daemon.terminate().await;
    assert!(written(&sim, &credential));
    (first, steady)
}

struct StartRun {
    first_update: Duration,
    rss_kib: u64,
    /// Heap and stacks; the rest of RSS is the binary's (and shared
    /// libraries') file pages, which the kernel maps around what runs.
    anon_kib: u64,
    daemon: Running,
}

async fn start_to_first_update() -> StartRun {
    let (sim, credential) = rancher(0).await;
    let mut env = base_env(&format!("{}/v1", sim.url()));
    set(&mut env, "LOG_LEVEL", "info");
    let started = Instant::now();
    let mut daemon = spawn(&env, &[]);
    while !written(&sim, &credential) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let first_update = started.elapsed();
    daemon.wait_for_output("next refresh in").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = daemon.pid().expect("pid");
    let (rss_kib, anon_kib) = (
        release_binary::proc_status_field(pid, "VmRSS:"),
        release_binary::proc_status_field(pid, "RssAnon:"),
    );
    std::mem::forget(sim); // keep Rancher up while the daemon idles
    StartRun {
        first_update,
        rss_kib,
        anon_kib,
        daemon,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn main() {
    // Chosen before any thread exists: support::daemon runs this binary.
    let binary = match std::env::var_os("RANCHER_ECR_CREDENTIALS_BINARY") {
        Some(binary) => std::path::PathBuf::from(binary),
        None => {
            let binary = release_binary::build(&[release_binary::HOST, release_binary::ARM64])
                .swap_remove(0);
            std::env::set_var("RANCHER_ECR_CREDENTIALS_BINARY", &binary);
            binary
        }
    };
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(measure(&binary));
    println!("{report}");
    if let Some(path) = std::env::var_os("BENCH_REPORT") {
        std::fs::write(&path, &report)
            .unwrap_or_else(|e| panic!("BENCH_REPORT {}: {e}", path.to_string_lossy()));
        eprintln!("wrote {}", path.to_string_lossy());
    }
}

/// Runs every measurement and returns the Markdown report.
async fn measure(binary: &std::path::Path) -> String {
    let idle_secs: u64 = std::env::var("BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
    let kind = match std::process::Command::new("file").arg(binary).output() {
        Ok(out) => describe(&String::from_utf8_lossy(&out.stdout)),
        Err(_) => "kind unknown (no `file` command)".to_string(),
    };

    let (first_1, steady_1) = requests_per_cycle(0).await;
    let (first_250, steady_250) = requests_per_cycle(250).await;
    eprintln!("requests: 1 registry {first_1}/{steady_1}, 251 registries {first_250}/{steady_250}");

    let mut updates = Vec::new();
    let mut rss = Vec::new();
    let mut anon = Vec::new();
    let mut stops = Vec::new();
    let mut idle = None;
    for round in 0..5 {
        let run = start_to_first_update().await;
        updates.push(run.first_update.as_secs_f64() * 1000.0);
        rss.push(run.rss_kib as f64);
        anon.push(run.anon_kib as f64);
        let mut daemon = run.daemon;
        if round == 0 {
            let pid = daemon.pid().expect("pid");
            let (switches, ticks) = (context_switches(pid), cpu_ticks(pid));
            tokio::time::sleep(Duration::from_secs(idle_secs)).await;
            idle = Some((
                context_switches(pid) - switches,
                cpu_ticks(pid) - ticks,
                release_binary::proc_status_field(pid, "VmRSS:"),
            ));
            assert!(daemon.is_running());
        }
        let stop = Instant::now();
        let (status, _) = daemon.terminate().await;
        // Minus the harness's 100 ms pause to drain the output pipes.
        stops.push(stop.elapsed().as_secs_f64() * 1000.0 - 100.0);
        assert!(status.success());
    }
    let (idle_switches, idle_ticks, idle_rss) = idle.expect("idle measured");
    eprintln!("first update {updates:?} ms, rss {rss:?} KiB, stop {stops:?} ms");

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let mut doc = String::new();
    let _ = writeln!(doc, "# Benchmarks (loopback)\n");
    let _ =
        writeln!(
        doc,
        "Measured by `cargo bench{} --bench loopback` on {} ({} cores, {}), against moto and the \
         Rancher simulator on 127.0.0.1. Binary: `{}`, {kind}. Medians of 5 starts where it \
         says so.\n",
        if cfg!(debug_assertions) { " --profile dev" } else { "" },
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu,
        display_path(binary),
    );
    let _ = writeln!(
        doc,
        "| What | Measured | Goal / predecessor |\n|---|---|---|"
    );
    let _ = writeln!(doc, "| Rancher requests, first cycle, 1 registry | {first_1} | minimum (2 are discovery, done once) |");
    let _ = writeln!(
        doc,
        "| Rancher requests, steady cycle, 1 registry | {steady_1} | minimum |"
    );
    let _ = writeln!(doc, "| Rancher requests, first cycle, ECR registry after 250 others | {first_250} | predecessor never found it (first page only) |");
    let _ = writeln!(
        doc,
        "| Rancher requests, steady cycle, after 250 others | {steady_250} | |"
    );
    let _ = writeln!(
        doc,
        "| Start to first credential update (median) | {:.1} ms | < 100 ms; predecessor ~300 ms |",
        median(updates.clone())
    );
    let _ = writeln!(
        doc,
        "| RSS after the first cycle (median) | {:.1} MiB | < 6 MiB; predecessor ~12 MiB |",
        median(rss.clone()) / 1024.0
    );
    let _ = writeln!(
        doc,
        "| of which anonymous (heap, stacks) | {:.1} MiB | the rest: file pages of the binary |",
        median(anon.clone()) / 1024.0
    );
    let _ = writeln!(
        doc,
        "| RSS after {idle_secs} s idle | {:.1} MiB | |",
        idle_rss as f64 / 1024.0
    );
    let _ = writeln!(doc, "| Context switches in {idle_secs} s idle | {idle_switches} | 0: it sleeps, it does not poll |");
    let _ = writeln!(
        doc,
        "| CPU time in {idle_secs} s idle | {idle_ticks} ticks | 0 |"
    );
    let _ = writeln!(
        doc,
        "| SIGTERM to exit (median) | {:.1} ms | < 1 s |",
        median(stops.clone())
    );
    let _ = writeln!(
        doc,
        "| Binary size | {:.2} MB ({:.2} MiB) | < 6 MB; predecessor image ~120 MB |",
        size as f64 / 1e6,
        size as f64 / 1048576.0
    );
    let _ = writeln!(
        doc,
        "\nRaw: first update {updates:.1?} ms; RSS {rss:?} KiB; SIGTERM to exit {stops:.1?} ms."
    );
    doc.push_str(&artifact_sizes());
    doc
}

/// Sizes of both release binaries and of the image layers each platform's
/// image adds to `scratch`: the binary and the CA bundle. No Docker engine
/// runs here, so the image is estimated from those parts (its config and
/// manifest add a few KiB); registries store layers gzip-compressed.
fn artifact_sizes() -> String {
    let bundle = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).ok();
    let gzipped = |path: &std::path::Path| {
        std::process::Command::new("gzip")
            .arg("-c")
            .arg(path)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| out.stdout.len() as u64)
    };
    let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
    let mut doc = String::from(
        "\n## Release artifacts\n\nBinaries as `scripts/release` builds them; each image is \
         the binary and the CA bundle on `scratch`, estimated from those layers (the bundle \
         measured here is this machine's). Goals: each binary < 6 MB, image < 8 MB.\n\n\
         | Platform | Binary | Image layers | Image layers, gzip (pulled) |\n|---|---|---|---|\n",
    );
    for (target, arch) in release_binary::TARGETS {
        let binary = release_binary::path(target);
        let row = match (size(&binary), size(bundle)) {
            (Some(binary_size), Some(bundle_size)) => format!(
                "| linux/{arch} | {} | {} | {} |",
                mb(binary_size),
                mb(binary_size + bundle_size),
                match (gzipped(&binary), gzipped(bundle)) {
                    (Some(b), Some(c)) => mb(b + c),
                    _ => "no gzip".to_string(),
                }
            ),
            _ => format!("| linux/{arch} | not built | | |"),
        };
        let _ = writeln!(doc, "{row}");
    }
    doc
}

/// What `file` says of the binary, in short: linkage, architecture, stripped.
fn describe(file: &str) -> String {
    let linkage = if file.contains("statically linked") || file.contains("static-pie") {
        "static"
    } else {
        "dynamic (shared libraries' pages count in RSS)"
    };
    let arch = ["x86-64", "aarch64"]
        .into_iter()
        .find(|a| file.contains(a))
        .unwrap_or("unknown architecture");
    let stripped = if file.contains("not stripped") {
        "not stripped"
    } else {
        "stripped"
    };
    format!("{linkage}, {arch}, {stripped}")
}

/// The binary's path relative to the repository when it is inside it.
fn display_path(binary: &std::path::Path) -> String {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    binary
        .strip_prefix(repo)
        .unwrap_or(binary)
        .display()
        .to_string()
}
