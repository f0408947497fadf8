//! Another controller writes a ServiceAccount's `imagePullSecrets` at the
//! same moment as the daemon: the list is atomic on the server (a merge or
//! apply patch would replace it whole), so the daemon's JSON patch carries
//! a `test` of the list it read; the other writer's change makes that test
//! fail (422), and the daemon reads again and appends to the list as it now
//! is. Both entries survive.

mod support;

use serde_json::json;
use support::aws_front::{AwsFront, Script};
use support::daemon::{base_env, run, set, unset};
use support::kube_sim::{KubeSim, Resource, TOKEN};
use support::scratch_file;

#[tokio::test(flavor = "multi_thread")]
async fn another_writers_entry_added_meanwhile_is_kept() {
    let sim = KubeSim::start().await;
    sim.add_namespace("team-a", &[]);
    sim.put(
        Resource::ServiceAccounts,
        json!({"metadata": {"name": "builder", "namespace": "team-a"},
               "imagePullSecrets": [{"name": "first"}]}),
    );
    // Between the daemon's read and its patch, another controller appends.
    sim.race_pull_secret(
        "PATCH",
        "/serviceaccounts/builder",
        "team-a",
        "builder",
        "theirs",
    );
    let kubeconfig = scratch_file("races-kubeconfig", &sim.kubeconfig(TOKEN));
    let config = scratch_file(
        "races.toml",
        &format!(
            "[[source]]\nname = \"home\"\nregion = \"us-east-1\"\n\n[[target]]\n\
             kind = \"kubernetes\"\nkubeconfig = \"{kubeconfig}\"\n\
             service_accounts = [\"builder\"]\n"
        ),
    );
    let front = AwsFront::start(Script::TagRegions).await;
    let mut env = base_env("http://rancher.invalid/v2-beta");
    for rancher in ["CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY"] {
        unset(&mut env, rancher);
    }
    set(&mut env, "AWS_ENDPOINT_URL", &front.url);
    set(&mut env, "CONFIG_FILE", &config);
    let result = run(&env, &["--once"]).await;
    assert_eq!(result.status.code(), Some(0), "{}", result.output());

    let account = sim
        .get(Resource::ServiceAccounts, "team-a", "builder")
        .unwrap();
    assert_eq!(
        account["imagePullSecrets"],
        json!([{"name": "first"}, {"name": "theirs"}, {"name": "ecr-credentials"}]),
        "{account}"
    );
    // The first patch was refused by its test, the second applied.
    let patches: Vec<u16> = (sim.requests().into_iter())
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/serviceaccounts/builder"))
        .map(|r| r.status)
        .collect();
    assert_eq!(patches, [422, 200], "{patches:?}");
}
