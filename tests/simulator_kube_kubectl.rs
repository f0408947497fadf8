//! The real kubectl 1.29 against the kube-apiserver simulator: discovery,
//! get and watch of each resource, and writes (create, apply, patch). Where
//! kubectl needs something docs/kubernetes-api.md does not state, the
//! simulator follows kubectl and the doc says so.

mod support;

use serde_json::Value;
use support::kube_sim::{KubeSim, Resource, TOKEN};
use support::kube_tools::{run, Kubeconfig};

fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn probe() {
    let sim = KubeSim::start().await;
    sim.add_namespace("team-a", &[]);
    let config = Kubeconfig::new(&sim, TOKEN, "probe");
    let mut command = config.kubectl();
    command.args(["get", "namespaces", "-v=6"]);
    let output = run(command).await;
    println!("{}", String::from_utf8_lossy(&output.stderr));
    println!("{}", stdout_of(&output));
    for r in sim.requests() {
        println!(
            "{} {}?{} {} -> {}",
            r.method, r.path, r.query, r.accept, r.status
        );
    }
    let _: Option<Value> = sim.get(Resource::Namespaces, "", "team-a");
}
