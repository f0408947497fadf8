//! Leader election (`[leader_election]`): any number of replicas, exactly
//! one writes. Two daemon processes share a cluster (the kube simulator),
//! each with a token of its own so that the simulator's request log tells
//! who asked what: the first holds the Lease and writes, the second stands
//! by (healthy, reading only the Lease), and takes over once the first is
//! killed. A replica that loses the Lease exits (status 3); the read-only
//! modes never touch it.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::aws_front::{AwsFront, Script};
use support::daemon::{base_env, run, set, spawn, unset, Running};
use support::kube_sim::{KubeSim, Resource};
use support::{listener_get, scratch_file};

const SECRET: &str = "ecr-credentials";
const LEASE: &str = "rancher-ecr-credentials";
const LEASE_NAMESPACE: &str = "ops";
/// The longest any wait lasts; never a measure of speed.
const WAIT: Duration = Duration::from_secs(90);

async fn cluster() -> KubeSim {
    let sim = KubeSim::start().await;
    for namespace in ["team-a", "team-b", LEASE_NAMESPACE] {
        sim.add_namespace(namespace, &[]);
    }
    for replica in ["a", "b"] {
        sim.add_token(
            &token(replica),
            &format!("system:serviceaccount:ops:{replica}"),
        );
    }
    sim
}

fn token(replica: &str) -> String {
    format!("token-of-replica-{replica}")
}

/// Replica `replica`'s environment: one source (moto behind `front`), the
/// simulator as a Kubernetes target, and the election with the shortest
/// lease allowed.
fn env(sim: &KubeSim, front: &AwsFront, replica: &str) -> Vec<(String, String)> {
    let port = sim.url().rsplit(':').next().unwrap_or_default().to_string();
    let kubeconfig = scratch_file(
        &format!("kubeconfig-{port}-{replica}"),
        &sim.kubeconfig(&token(replica)),
    );
    let config = scratch_file(
        &format!("election-{port}-{replica}.toml"),
        &format!(
            r#"
[[source]]
name = "home"
region = "us-east-1"

[[target]]
kind = "kubernetes"
kubeconfig = "{kubeconfig}"
exclude_namespaces = ["{LEASE_NAMESPACE}"]

[leader_election]
namespace = "{LEASE_NAMESPACE}"
lease_duration = "5s"
kubeconfig = "{kubeconfig}"
"#
        ),
    );
    let mut env = base_env("http://rancher.invalid/v2-beta");
    for rancher in ["CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY"] {
        unset(&mut env, rancher);
    }
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "CONFIG_FILE", &config);
    set(&mut env, "POD_NAME", &format!("replica-{replica}"));
    env
}

fn holder(sim: &KubeSim) -> Option<String> {
    let lease = sim.get(Resource::Leases, LEASE_NAMESPACE, LEASE)?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

/// The requests replica `replica` made, as (method, path).
fn asked_by(sim: &KubeSim, replica: &str) -> Vec<(String, String)> {
    let token = token(replica);
    (sim.requests().into_iter())
        .filter(|r| r.bearer == token)
        .map(|r| (r.method, r.path))
        .collect()
}

async fn healthz(daemon: &mut Running) -> (u16, Value) {
    let address = daemon.health_address().await;
    let (status, body) = listener_get(&address, "/healthz").await;
    (status, serde_json::from_str(&body).expect("JSON"))
}

async fn until(what: &str, daemon: &mut Running, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            daemon.is_running(),
            "the daemon exited before {what}:\n{}",
            daemon.output()
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_writes_and_the_other_takes_over_when_it_dies() {
    let sim = cluster().await;
    let front = AwsFront::start(Script::TagRegions).await;
    let mut a = spawn(&env(&sim, &front, "a"), &[]);
    until("replica a to hold the Lease and write", &mut a, || {
        holder(&sim).as_deref() == Some("replica-a")
            && sim.get(Resource::Secrets, "team-b", SECRET).is_some()
    })
    .await;

    let mut b = spawn(&env(&sim, &front, "b"), &[]);
    let standing_by = |body: &Value| {
        body["leader"]["leading"] == json!(false) && body["leader"]["holder"] == json!("replica-a")
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let (status, body) = loop {
        let (status, body) = healthz(&mut b).await;
        if standing_by(&body) || tokio::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(standing_by(&body), "{body}");
    assert_eq!(
        status, 200,
        "a standby that reads the Lease is healthy: {body}"
    );
    assert_eq!(body["status"], "standby", "{body}");
    // The leader repairs; the standby only ever reads the Lease.
    sim.remove(Resource::Secrets, "team-a", SECRET);
    until("replica a to put the Secret back", &mut a, || {
        sim.get(Resource::Secrets, "team-a", SECRET).is_some()
    })
    .await;
    let lease_path =
        format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{LEASE}");
    let by_b = asked_by(&sim, "b");
    assert!(!by_b.is_empty());
    for (method, path) in &by_b {
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", lease_path.as_str()),
            "{by_b:?}"
        );
    }
    assert!(healthz(&mut a).await.1["leader"]["leading"] == json!(true));

    // The leader dies without a word: the standby takes over, and writes.
    let killed = std::time::Instant::now();
    let _ = a.stop("KILL").await;
    until("replica b to take the Lease over", &mut b, || {
        holder(&sim).as_deref() == Some("replica-b")
    })
    .await;
    let took = killed.elapsed();
    sim.remove(Resource::Secrets, "team-b", SECRET);
    until("replica b to put the Secret back", &mut b, || {
        sim.get(Resource::Secrets, "team-b", SECRET).is_some()
    })
    .await;
    let writes_by_b = (sim.requests().into_iter())
        .filter(|r| r.bearer == token("b") && r.is_write() && r.path.contains("/secrets"))
        .count();
    assert!(writes_by_b >= 1);
    let (_, body) = healthz(&mut b).await;
    assert_eq!(body["leader"]["leading"], json!(true), "{body}");
    let lease = sim.get(Resource::Leases, LEASE_NAMESPACE, LEASE).unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], json!(1), "{lease}");
    eprintln!(
        "takeover {:.1} s after the leader was killed (lease 5 s)",
        took.as_secs_f64()
    );
    let (status, _) = b.terminate().await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_loses_the_lease_exits_with_status_3() {
    let sim = cluster().await;
    let front = AwsFront::start(Script::TagRegions).await;
    let mut a = spawn(&env(&sim, &front, "a"), &[]);
    until("replica a to hold the Lease", &mut a, || {
        holder(&sim).as_deref() == Some("replica-a")
    })
    .await;
    // Another writer takes the Lease (as after a partition, or by hand).
    let mut lease = sim.get(Resource::Leases, LEASE_NAMESPACE, LEASE).unwrap();
    lease["spec"]["holderIdentity"] = json!("intruder");
    lease["spec"]["leaseTransitions"] = json!(1);
    sim.put(Resource::Leases, lease);
    let deadline = tokio::time::Instant::now() + WAIT;
    while a.is_running() {
        assert!(tokio::time::Instant::now() < deadline, "{}", a.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, output) = a.stop("TERM").await;
    assert_eq!(status.code(), Some(3), "{output}");
    assert!(
        output.contains("lost the Lease (now held by intruder)"),
        "{output}"
    );
    assert_eq!(holder(&sim).as_deref(), Some("intruder"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_read_only_modes_leave_the_lease_alone() {
    let sim = cluster().await;
    let front = AwsFront::start(Script::TagRegions).await;
    for mode in ["--dry-run", "--check"] {
        let result = run(&env(&sim, &front, "a"), &[mode]).await;
        assert_eq!(result.status.code(), Some(0), "{mode}: {}", result.output());
    }
    let leases: Vec<_> = (sim.requests().into_iter())
        .filter(|r| r.path.contains("leases"))
        .collect();
    assert!(leases.is_empty(), "{leases:?}");
    assert!(holder(&sim).is_none());
    assert_eq!(sim.write_count(), 0);
}
