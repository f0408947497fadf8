//! What the daemon refuses to build on (issue 17), through the real binary,
//! the Rancher simulator and moto: a listing is bounded in total, not only
//! per page, and past its bound it is an error, never a silent truncation;
//! a credential that cannot be attributed to its registry and environment
//! makes that registry's listing unusable for the cycle (so no duplicate is
//! ever created); and a response without the account headers the contract
//! promises (docs/rancher-api.md §1) leaves the scope unknown, so nothing
//! is written through it. Each refusal names the URL and what is missing or
//! which limit was passed, and leaves Rancher as it was.

mod support;

use support::daemon::{base_env, moto_password, once, set, ACCOUNT, ECR_HOST, RANCHER_SECRET_KEY};
use support::rancher_sim::{KeyKind, RancherSim, Role};
use support::{add_environment, assert_holds_token, credential, PROJECT};

/// The most items the daemon takes from one listing (registries,
/// credentials of a registry, environments).
const MAX_LISTED_ITEMS: usize = 10_000;
/// A user's account key, for the many-environment tests.
const USER_KEY: &str = "USERKEY0000000000000";
const USER: &str = "1a20";
const ADMIN_KEY: &str = "ADMINKEY000000000000";

/// The requests that changed something in Rancher.
fn writes(sim: &RancherSim) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect()
}

/// An environment agent key's Rancher with the ECR registry and a stale
/// credential; returns the registry and credential ids.
async fn environment_with_credential() -> (RancherSim, String, String) {
    let sim = RancherSim::start().await;
    add_environment(&sim, PROJECT);
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    (sim, registry, cred)
}

/// Exactly the limit is served; one item more fails the listing by name,
/// and nothing is written from the part that was read.
#[tokio::test(flavor = "multi_thread")]
async fn a_registry_listing_past_the_limit_is_refused_not_truncated() {
    let (sim, _, cred) = environment_with_credential().await;
    for n in 1..MAX_LISTED_ITEMS {
        sim.add_registry(PROJECT, &format!("registry-{n}.example.com"), "active");
    }
    let env = base_env(&format!("{}/v1", sim.url()));
    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    assert_holds_token(&credential(&sim, PROJECT, &cred), ACCOUNT);

    sim.add_registry(PROJECT, "one-too-many.example.com", "active");
    sim.clear_requests();
    let result = once(&env).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    let listing = format!("{}/v1/registries?limit=1000", sim.url());
    assert!(output.contains(&listing), "{output}");
    assert!(output.contains("more than 10000 items"), "{output}");
    assert_eq!(writes(&sim), Vec::<String>::new());
}

/// A user's account key, member of 1a5 (with the ECR registry and a stale
/// credential), with `RANCHER_ENVIRONMENTS=all` on the v2-beta root.
async fn account_key_rancher() -> (RancherSim, Vec<(String, String)>, String) {
    let sim = RancherSim::start().await;
    sim.add_project(PROJECT);
    sim.add_member(PROJECT, USER, Role::Member);
    sim.add_key(USER_KEY, RANCHER_SECRET_KEY, KeyKind::User, Some(USER));
    let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "CATTLE_ACCESS_KEY", USER_KEY);
    set(&mut env, "RANCHER_ENVIRONMENTS", "all");
    (sim, env, cred)
}

/// An environment list whose pages never end fails by name after the page
/// limit; the environments of the pages read are not served as if they
/// were all there are.
#[tokio::test(flavor = "multi_thread")]
async fn an_environment_list_that_never_ends_is_refused_not_truncated() {
    let (sim, env, cred) = account_key_rancher().await;
    sim.paginate_forever("project");
    let result = once(&env).await;
    let output = result.output();
    assert_eq!(result.status.code(), Some(1), "{output}");
    assert!(
        output.contains(&format!("{}/v2-beta/projects?limit=1000", sim.url())),
        "{output}"
    );
    assert!(output.contains("more than 1000 pages"), "{output}");
    assert_eq!(writes(&sim), Vec::<String>::new());
    let stale = credential(&sim, PROJECT, &cred);
    assert_eq!(stale.secret_value.as_deref(), Some("stale"));
}

/// The environment named sits on the second page of an admin's list (the
/// others are inactive): it is found there.
#[tokio::test(flavor = "multi_thread")]
async fn an_environment_on_a_later_page_is_served() {
    let sim = RancherSim::start().await;
    for n in 100..1100 {
        let id = format!("1a{n}");
        sim.add_project_with(&id, &format!("old {n}"), "cattle", "inactive");
    }
    sim.add_project_with("1a2000", "last", "cattle", "active");
    sim.add_key(ADMIN_KEY, RANCHER_SECRET_KEY, KeyKind::Admin, None);
    let registry = sim.add_registry("1a2000", ECR_HOST, "active");
    let cred = sim.add_credential("1a2000", &registry, "AWS", "stale", "active");
    let mut env = base_env(&format!("{}/v2-beta", sim.url()));
    set(&mut env, "CATTLE_ACCESS_KEY", ADMIN_KEY);
    set(&mut env, "RANCHER_ENVIRONMENTS", "last");
    let result = once(&env).await;
    assert!(result.status.success(), "{}", result.output());
    assert_holds_token(&credential(&sim, "1a2000", &cred), ACCOUNT);
    let pages = sim
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/v2-beta/projects?"))
        .filter(|r| r.path_and_query.contains("all=true"))
        .count();
    assert_eq!(pages, 2);
}

/// A credential listed without its `registryId` (or `accountId`) cannot be
/// attributed: the registry is reported for that cycle and nothing is
/// created or written, however many cycles run.
#[tokio::test(flavor = "multi_thread")]
async fn an_unattributable_credential_is_reported_never_duplicated() {
    for field in ["registryId", "accountId"] {
        let (sim, registry, cred) = environment_with_credential().await;
        sim.blank_field("registryCredential", field);
        let env = base_env(&format!("{}/v2-beta/projects/{PROJECT}", sim.url()));
        for cycle in 1..=3 {
            let result = once(&env).await;
            let output = result.output();
            assert_eq!(result.status.code(), Some(1), "{field}, {cycle}: {output}");
            assert!(output.contains(&format!("registry {registry}")), "{output}");
            assert!(
                output.contains(&format!("credential {cred} has no {field}")),
                "{output}"
            );
            assert!(output.contains("/registrycredentials?"), "{output}");
            assert_eq!(sim.credentials(PROJECT).len(), 1, "{field}, {cycle}");
            assert_eq!(writes(&sim), Vec::<String>::new(), "{field}, {cycle}");
        }
        let stale = credential(&sim, PROJECT, &cred);
        assert_eq!(stale.secret_value.as_deref(), Some("stale"), "{field}");
    }
}

/// Without the account headers the scope of a response is unknown: every
/// CATTLE_URL form and key kind refuses to write, naming the header, and
/// writes again once the headers are back.
#[tokio::test(flavor = "multi_thread")]
async fn responses_without_the_account_headers_are_refused_for_writes() {
    let environment_key = |path: &str, kind| {
        let path = path.to_string();
        async move {
            let sim = RancherSim::start().await;
            sim.add_project(PROJECT);
            sim.add_key(
                support::daemon::RANCHER_ACCESS_KEY,
                RANCHER_SECRET_KEY,
                kind,
                Some(PROJECT),
            );
            let registry = sim.add_registry(PROJECT, ECR_HOST, "active");
            let cred = sim.add_credential(PROJECT, &registry, "AWS", "stale", "active");
            let env = base_env(&format!("{}{path}", sim.url()));
            (sim, env, cred)
        }
    };
    let worlds = [
        (
            "agent key on /v1",
            environment_key("/v1", KeyKind::Environment).await,
        ),
        (
            "environment endpoint",
            environment_key("/v2-beta/projects/1a5", KeyKind::Project).await,
        ),
        ("account key, all", account_key_rancher().await),
    ];
    for (form, (sim, env, cred)) in worlds {
        sim.set_account_headers(false);
        let result = once(&env).await;
        let output = result.output();
        assert_eq!(result.status.code(), Some(1), "{form}: {output}");
        assert!(output.contains("X-API-Account-"), "{form}: {output}");
        assert!(output.contains(&sim.url()), "{form}: {output}");
        assert_eq!(writes(&sim), Vec::<String>::new(), "{form}");
        let stale = credential(&sim, PROJECT, &cred);
        assert_eq!(stale.secret_value.as_deref(), Some("stale"), "{form}");

        sim.set_account_headers(true);
        let result = once(&env).await;
        assert!(result.status.success(), "{form}: {}", result.output());
        let fresh = credential(&sim, PROJECT, &cred);
        assert_eq!(
            fresh.secret_value.as_deref(),
            Some(moto_password(ACCOUNT).as_str()),
            "{form}"
        );
    }
}
