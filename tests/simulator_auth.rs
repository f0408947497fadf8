//! Pins the Rancher simulator's authentication and authorization to the
//! Rancher 1.6 API contract (docs/rancher-api.md §1, §2), through real HTTP:
//! the 401 challenge, the account headers, access control off, duplicate
//! keys; account keys acting in a project named by path, header or query,
//! membership roles deciding who writes, inactive environments. The daemon's
//! tests of keys and environments (tests/failures.rs, tests/environments.rs)
//! are only as good as these rules.

mod support;

use reqwest::Method;
use serde_json::json;

use support::rancher_api::{
    call, get, link, post, put, sim, Key, Resp, ADMIN_KEY, ECR, ENV_KEY, OTHER_PROJECT, PROJECT,
    PROJECT_KEY,
};
use support::rancher_sim::{KeyKind, RancherSim, Role, AUTH_CHALLENGE};

// ---------------------------------------------------------------------------
// §1 Authentication
// ---------------------------------------------------------------------------

#[tokio::test]
async fn missing_or_bad_key_gets_401_with_challenge() {
    let sim = sim().await;
    let none = call(&sim, Method::GET, "/v1/registries", None, None, &[]).await;
    none.assert_error(401, "Unauthorized");
    assert_eq!(none.body["message"], "Unauthorized");
    assert_eq!(none.header("www-authenticate"), Some(AUTH_CHALLENGE));
    assert!(none.header("x-api-account-id").is_none());

    let wrong_secret = get(&sim, "/v1/registries", (ENV_KEY.0, "nope")).await;
    wrong_secret.assert_error(401, "Unauthorized");
    let unknown = get(&sim, "/v1/registries", ("UNKNOWN", "x")).await;
    unknown.assert_error(401, "Unauthorized");

    let bearer = call(
        &sim,
        Method::GET,
        "/v1/registries",
        None,
        None,
        &[("Authorization", "Bearer abc")],
    )
    .await;
    bearer.assert_error(401, "Unauthorized");

    let quiet = call(
        &sim,
        Method::GET,
        "/v1/registries",
        None,
        None,
        &[("X-API-No-Challenge", "true")],
    )
    .await;
    quiet.assert_error(401, "Unauthorized");
    assert!(quiet.header("www-authenticate").is_none());
}

#[tokio::test]
async fn authenticated_responses_carry_account_headers() {
    let sim = sim().await;
    for (key, kind, account) in [
        (ENV_KEY, "environment", PROJECT),
        (PROJECT_KEY, "project", PROJECT),
        (ADMIN_KEY, "admin", "1a1"),
    ] {
        let resp = get(&sim, "/v2-beta", key).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-api-account-kind"), Some(kind));
        assert_eq!(resp.header("x-api-account-id"), Some(account));
        assert!(resp.header("x-api-user-id").is_some());
        assert!(resp.header("x-api-account-name").is_some());
    }
}

#[tokio::test]
async fn access_control_off_runs_unknown_keys_as_admin() {
    let sim = sim().await;
    sim.add_registry(PROJECT, "a.example.com", "active");
    sim.add_registry(OTHER_PROJECT, "b.example.com", "active");
    sim.set_access_control(false);

    let unknown = get(&sim, "/v1/registries", ("UNKNOWN", "whatever")).await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.header("x-api-account-kind"), Some("admin"));
    assert_eq!(unknown.ids().len(), 2, "admin lists every environment");

    let anonymous = call(&sim, Method::GET, "/v1/registries", None, None, &[]).await;
    assert_eq!(anonymous.status, 200);

    // A valid key still acts as itself.
    let env = get(&sim, "/v1/registries", ENV_KEY).await;
    assert_eq!(env.header("x-api-account-kind"), Some("environment"));
    assert_eq!(env.ids().len(), 1);

    let enforced = call(
        &sim,
        Method::GET,
        "/v1/registries",
        Some(("UNKNOWN", "whatever")),
        None,
        &[("X-ENFORCE-AUTHENTICATION", "true")],
    )
    .await;
    enforced.assert_error(401, "Unauthorized");
}

#[tokio::test]
async fn duplicate_access_keys_give_409_multiple_keys() {
    let sim = sim().await;
    sim.add_key(ENV_KEY.0, "another", KeyKind::Environment, Some(PROJECT));
    get(&sim, "/v1", ENV_KEY)
        .await
        .assert_error(409, "MultipleKeys");
}

// ---------------------------------------------------------------------------
// §2 Account keys and many environments
// ---------------------------------------------------------------------------

const USER: &str = "1a20";
const USER_KEY: Key = ("USERKEY0000000000020", "user-secret");
const ADMIN_USER: &str = "1a21";
const ADMIN_USER_KEY: Key = ("ADMINKEY000000000021", "admin-user-secret");

/// Environments of every kind for one user: owner of 1a5, member of 1a7,
/// restricted in 1a9, readonly in 1a11, no member of 1a13; member of the
/// inactive 1a15, owner of the inactive 1a17 and of the removed 1a19. The
/// admin user is only a readonly member of 1a7.
async fn environments() -> RancherSim {
    let sim = RancherSim::start().await;
    for (id, name, orchestration, state) in [
        ("1a5", "Default", "cattle", "active"),
        ("1a7", "k8s", "kubernetes", "active"),
        ("1a9", "win", "windows", "active"),
        ("1a11", "audit", "cattle", "active"),
        ("1a13", "other team", "cattle", "active"),
        ("1a15", "paused", "cattle", "inactive"),
        ("1a17", "paused, mine", "swarm", "inactive"),
        ("1a19", "gone", "mesos", "removed"),
    ] {
        sim.add_project_with(id, name, orchestration, state);
    }
    for (project, role) in [
        ("1a5", Role::Owner),
        ("1a7", Role::Readonly),
        ("1a7", Role::Member), // several memberships: the most privileged wins
        ("1a9", Role::Restricted),
        ("1a11", Role::Readonly),
        ("1a15", Role::Member),
        ("1a17", Role::Owner),
        ("1a19", Role::Owner),
    ] {
        sim.add_member(project, USER, role);
    }
    sim.add_member("1a7", ADMIN_USER, Role::Readonly);
    sim.add_key(USER_KEY.0, USER_KEY.1, KeyKind::User, Some(USER));
    sim.add_key(
        ADMIN_USER_KEY.0,
        ADMIN_USER_KEY.1,
        KeyKind::Admin,
        Some(ADMIN_USER),
    );
    sim
}

async fn get_in(sim: &RancherSim, url: &str, key: Key, project: &str) -> Resp {
    let header = [("X-API-Project-Id", project)];
    call(sim, Method::GET, url, Some(key), None, &header).await
}

#[tokio::test]
async fn account_keys_name_their_kind_and_the_account_acted_as() {
    let sim = environments().await;
    let unscoped = get(&sim, "/v2-beta", USER_KEY).await;
    assert_eq!(unscoped.status, 200);
    assert_eq!(unscoped.header("x-api-account-kind"), Some("user"));
    assert_eq!(unscoped.header("x-api-account-id"), Some(USER));
    assert_eq!(unscoped.header("x-api-user-id"), Some(USER));

    let by_path = get(&sim, "/v2-beta/projects/1a7/registries", USER_KEY).await;
    assert_eq!(by_path.status, 200);
    assert_eq!(by_path.header("x-api-account-kind"), Some("user"));
    assert_eq!(by_path.header("x-api-account-id"), Some("1a7"));
    assert_eq!(by_path.header("x-api-user-id"), Some(USER));
    let by_header = get_in(&sim, "/v2-beta/registries", USER_KEY, "1a9").await;
    assert_eq!(by_header.header("x-api-account-id"), Some("1a9"));

    let admin = get(&sim, "/v2-beta/projects/1a13/registries", ADMIN_USER_KEY).await;
    assert_eq!(admin.header("x-api-account-kind"), Some("admin"));
    assert_eq!(admin.header("x-api-account-id"), Some("1a13"));
    assert_eq!(admin.header("x-api-user-id"), Some(ADMIN_USER));
}

#[tokio::test]
async fn projects_list_member_environments_and_all_for_admins() {
    let sim = environments().await;
    let mine = ["1a5", "1a7", "1a9", "1a11", "1a17"];
    for path in [
        "/v2-beta/projects",
        "/v1/projects",
        "/v2-beta/projects?all=true",
    ] {
        let listed = get(&sim, path, USER_KEY).await;
        assert_eq!(
            listed.ids(),
            mine,
            "{path}: members, inactive only to owners"
        );
    }
    let listed = get(&sim, "/v2-beta/projects", USER_KEY).await;
    let k8s = &listed.body["data"][1];
    assert_eq!(k8s["type"], "project");
    assert_eq!(k8s["kind"], "project");
    assert_eq!(k8s["name"], "k8s");
    assert_eq!(k8s["orchestration"], "kubernetes");
    assert_eq!(k8s["state"], "active");
    let field = |id: &str, name: &str| {
        let project = listed.body["data"].as_array().unwrap().iter();
        let mut project = project.filter(|p| p["id"] == id);
        project.next().unwrap()[name].clone()
    };
    assert_eq!(field("1a9", "orchestration"), "windows");
    assert_eq!(field("1a17", "orchestration"), "swarm");
    assert_eq!(field("1a17", "state"), "inactive");

    let by_name = get(&sim, "/v2-beta/projects?name=k8s", USER_KEY).await;
    assert_eq!(by_name.ids(), ["1a7"]);
    let inactive = get(&sim, "/v2-beta/projects?state=inactive", USER_KEY).await;
    assert_eq!(inactive.ids(), ["1a17"]);
    let by_id = get(&sim, "/v2-beta/projects?id=1a9", USER_KEY).await;
    assert_eq!(by_id.ids(), ["1a9"]);

    // Pages follow pagination.next like any collection.
    let mut pages = Vec::new();
    let mut next = format!("{}/v2-beta/projects?limit=2", sim.url());
    loop {
        let page = get(&sim, &next, USER_KEY).await;
        pages.push(page.ids());
        match page.body["pagination"]["next"].as_str() {
            Some(url) => next = url.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, [&mine[..2], &mine[2..4], &mine[4..]]);

    // An admin lists its memberships, or with `all` every project not removed.
    let admin = get(&sim, "/v2-beta/projects", ADMIN_USER_KEY).await;
    assert_eq!(admin.ids(), ["1a7"]);
    let all = get(&sim, "/v2-beta/projects?all=true", ADMIN_USER_KEY).await;
    let every = ["1a5", "1a7", "1a9", "1a11", "1a13", "1a15", "1a17"];
    assert_eq!(all.ids(), every);
    let with_removed = get(
        &sim,
        "/v2-beta/projects?all=true&_removed=true",
        ADMIN_USER_KEY,
    )
    .await;
    assert_eq!(with_removed.ids().last().map(String::as_str), Some("1a19"));

    // One project by id: only if listed to the key (an admin sees any).
    get(&sim, "/v2-beta/projects/1a13", USER_KEY)
        .await
        .assert_error(404, "Not Found");
    let other = get(&sim, "/v2-beta/projects/1a13", ADMIN_USER_KEY).await;
    assert_eq!(other.body["name"], "other team");
}

#[tokio::test]
async fn account_keys_act_in_a_project_named_by_path_header_or_query() {
    let sim = environments().await;
    let k8s = sim.add_registry("1a7", ECR, "active");
    let other = sim.add_registry("1a13", ECR, "active");

    let by_path = get(&sim, "/v2-beta/projects/1a7/registries", USER_KEY).await;
    assert_eq!(by_path.ids(), [k8s.as_str()]);
    assert_eq!(
        link(&by_path.body["data"][0], "self"),
        format!("{}/v2-beta/projects/1a7/registries/{k8s}", sim.url())
    );
    let by_header = get_in(&sim, "/v2-beta/registries", USER_KEY, "1a7").await;
    assert_eq!(by_header.ids(), [k8s.as_str()]);
    let by_query = get(&sim, "/v1/registries?projectId=1a7", USER_KEY).await;
    assert_eq!(by_query.ids(), [k8s.as_str()]);

    // Unscoped, a user sees its own account's objects (none), an admin all.
    assert!(get(&sim, "/v2-beta/registries", USER_KEY)
        .await
        .ids()
        .is_empty());
    assert_eq!(
        get(&sim, "/v2-beta/registries", ADMIN_USER_KEY).await.ids(),
        [k8s.as_str(), other.as_str()]
    );

    // Not a member, an inactive or a removed project: 403, however named.
    for project in ["1a13", "1a15", "1a17", "1a19", "1a99"] {
        get(
            &sim,
            &format!("/v2-beta/projects/{project}/registries"),
            USER_KEY,
        )
        .await
        .assert_error(403, "Forbidden");
        get_in(&sim, "/v2-beta/registries", USER_KEY, project)
            .await
            .assert_error(403, "Forbidden");
        get(
            &sim,
            &format!("/v2-beta/registries?projectId={project}"),
            USER_KEY,
        )
        .await
        .assert_error(403, "Forbidden");
    }
    // An admin may act in any active project, member or not.
    let admin = get(&sim, "/v2-beta/projects/1a13/registries", ADMIN_USER_KEY).await;
    assert_eq!(admin.ids(), [other.as_str()]);
    get(&sim, "/v2-beta/projects/1a15/registries", ADMIN_USER_KEY)
        .await
        .assert_error(403, "Forbidden");
    get_in(&sim, "/v2-beta/registries", USER_KEY, "bogus")
        .await
        .assert_error(400, "InvalidFormat");
}

#[tokio::test]
async fn roles_decide_who_writes_registries_and_credentials() {
    let sim = environments().await;
    sim.set_activation_delay(0);
    let writers = [
        ("1a5", USER_KEY),
        ("1a7", USER_KEY),
        ("1a9", USER_KEY),
        ("1a13", ADMIN_USER_KEY), // an admin acts as owner, member or not
        ("1a7", ADMIN_USER_KEY),  // even where it is a readonly member
    ];
    for (n, (project, key)) in writers.into_iter().enumerate() {
        let base = format!("/v2-beta/projects/{project}");
        let schema = get(&sim, &format!("{base}/schemas/registrycredential"), key).await;
        assert_eq!(
            schema.body["resourceMethods"],
            json!(["GET", "PUT", "DELETE"])
        );
        let address = format!("r{n}.example.com");
        let registry = post(
            &sim,
            &format!("{base}/registries"),
            key,
            json!({"serverAddress": address}),
        )
        .await;
        assert_eq!(registry.status, 201, "{project}: {}", registry.body);
        let body =
            json!({"registryId": registry.body["id"], "publicValue": "AWS", "secretValue": "old"});
        let credential = post(&sim, &format!("{base}/registrycredentials"), key, body).await;
        assert_eq!(credential.status, 201, "{project}: {}", credential.body);
        let url = link(&credential.body, "self");
        let updated = put(&sim, &url, key, json!({"secretValue": "new"})).await;
        assert_eq!(updated.status, 200, "{project}: {}", updated.body);
        let id = credential.body["id"].as_str().unwrap();
        assert_eq!(
            sim.credential(id).unwrap().secret_value.as_deref(),
            Some("new")
        );
        let deactivated = post(&sim, &format!("{url}/?action=deactivate"), key, json!({})).await;
        assert_eq!(deactivated.status, 202, "{project}");
    }

    // readonly: reads work, the schema offers no writes, and writes get 403.
    let registry = sim.add_registry("1a11", ECR, "active");
    let credential = sim.add_credential("1a11", &registry, "AWS", "old", "active");
    let base = "/v2-beta/projects/1a11";
    let listed = get(&sim, &format!("{base}/registrycredentials"), USER_KEY).await;
    assert_eq!(listed.ids(), [credential.as_str()]);
    let schema = get(
        &sim,
        &format!("{base}/schemas/registrycredential"),
        USER_KEY,
    )
    .await;
    assert_eq!(schema.body["resourceMethods"], json!(["GET"]));
    assert_eq!(schema.body["collectionMethods"], json!(["GET"]));
    assert_eq!(
        schema.body["resourceFields"]["secretValue"]["update"],
        false
    );
    let url = format!("{base}/registrycredentials/{credential}");
    put(&sim, &url, USER_KEY, json!({"secretValue": "new"}))
        .await
        .assert_error(403, "Forbidden");
    post(
        &sim,
        &format!("{base}/registries"),
        USER_KEY,
        json!({"serverAddress": "quay.io"}),
    )
    .await
    .assert_error(403, "Forbidden");
    let body = json!({"registryId": registry, "secretValue": "x"});
    post(&sim, &format!("{base}/registrycredentials"), USER_KEY, body)
        .await
        .assert_error(403, "Forbidden");
    post(
        &sim,
        &format!("{url}/?action=deactivate"),
        USER_KEY,
        json!({}),
    )
    .await
    .assert_error(403, "Forbidden");
    let stored = sim.credential(&credential).unwrap();
    assert_eq!(
        (stored.secret_value.as_deref(), stored.state.as_str()),
        (Some("old"), "active")
    );
    assert_eq!(sim.registries("1a11").len(), 1);
}

#[tokio::test]
async fn unscoped_account_keys_see_read_only_registries() {
    let sim = environments().await;
    let registry = sim.add_registry("1a5", ECR, "active");
    let credential = sim.add_credential("1a5", &registry, "AWS", "old", "active");
    for key in [USER_KEY, ADMIN_USER_KEY] {
        let schemas = get(&sim, "/v2-beta/schemas", key).await;
        let data = schemas.body["data"].as_array().unwrap();
        for id in ["registry", "registryCredential"] {
            let schema = data.iter().find(|s| s["id"] == id).unwrap();
            assert_eq!(schema["resourceMethods"], json!(["GET"]), "{id}");
            assert_eq!(schema["collectionMethods"], json!(["GET"]), "{id}");
        }
        let fields = &data.iter().find(|s| s["id"] == "registry").unwrap()["resourceFields"];
        assert_eq!(fields["serverAddress"]["create"], false);
    }
    // The admin sees the credential unscoped but may not write it there.
    let listed = get(&sim, "/v2-beta/registrycredentials", ADMIN_USER_KEY).await;
    assert_eq!(listed.ids(), [credential.as_str()]);
    let url = link(&listed.body["data"][0], "self");
    put(&sim, &url, ADMIN_USER_KEY, json!({"secretValue": "new"}))
        .await
        .assert_error(405, "Method not allowed");
    post(
        &sim,
        "/v2-beta/registries",
        ADMIN_USER_KEY,
        json!({"serverAddress": "quay.io"}),
    )
    .await
    .assert_error(405, "Method not allowed");
    post(
        &sim,
        "/v2-beta/registries",
        USER_KEY,
        json!({"serverAddress": "quay.io"}),
    )
    .await
    .assert_error(405, "Method not allowed");
    let stored = sim.credential(&credential).unwrap();
    assert_eq!(stored.secret_value.as_deref(), Some("old"));
    assert_eq!(sim.registries("1a5").len(), 1);
}

#[tokio::test]
async fn environment_keys_of_an_inactive_environment_are_refused() {
    let sim = environments().await;
    sim.add_key(ENV_KEY.0, ENV_KEY.1, KeyKind::Environment, Some("1a15"));
    sim.add_key(PROJECT_KEY.0, PROJECT_KEY.1, KeyKind::Project, Some("1a15"));
    for key in [ENV_KEY, PROJECT_KEY] {
        get(&sim, "/v2-beta", key)
            .await
            .assert_error(401, "Unauthorized");
    }
}
