//! Tests of the Rancher 1.6 API simulator itself (`tests/support/rancher_sim/`).
//!
//! They pin the contract written down in docs/rancher-api.md (`§n` are its
//! sections) through real HTTP, so that the simulator, which the daemon's
//! integration tests rely on, cannot silently drift from it.

mod support;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

use support::rancher_sim::{KeyKind, RancherSim, Role, AUTH_CHALLENGE, RANCHER_VERSION};

const PROJECT: &str = "1a5";
const OTHER_PROJECT: &str = "1a7";
const ENV_KEY: Key = ("ENVKEY00000000000005", "env-secret-5");
const OTHER_ENV_KEY: Key = ("ENVKEY00000000000007", "env-secret-7");
const PROJECT_KEY: Key = ("PROJKEY0000000000005", "project-secret-5");
const ADMIN_KEY: Key = ("ADMINKEY000000000001", "admin-secret");
const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

type Key = (&'static str, &'static str);

/// A simulator with projects 1a5 and 1a7 and one key of each kind.
async fn sim() -> RancherSim {
    let sim = RancherSim::start().await;
    sim.add_project(PROJECT);
    sim.add_project(OTHER_PROJECT);
    sim.add_key(ENV_KEY.0, ENV_KEY.1, KeyKind::Environment, Some(PROJECT));
    sim.add_key(
        OTHER_ENV_KEY.0,
        OTHER_ENV_KEY.1,
        KeyKind::Environment,
        Some(OTHER_PROJECT),
    );
    sim.add_key(
        PROJECT_KEY.0,
        PROJECT_KEY.1,
        KeyKind::Project,
        Some(PROJECT),
    );
    sim.add_key(ADMIN_KEY.0, ADMIN_KEY.1, KeyKind::Admin, None);
    sim
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn ids(&self) -> Vec<String> {
        self.body["data"]
            .as_array()
            .expect("collection data")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    }

    #[track_caller]
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["type"], "error", "{}", self.body);
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
    }
}

/// Sends a request; `url` is absolute or a path on the simulator.
async fn call(
    sim: &RancherSim,
    method: Method,
    url: &str,
    key: Option<Key>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Resp {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", sim.url())
    };
    let mut req = support::http().request(method, url);
    if let Some((access, secret)) = key {
        req = req.basic_auth(access, Some(secret));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("request to simulator");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

async fn get(sim: &RancherSim, url: &str, key: Key) -> Resp {
    call(sim, Method::GET, url, Some(key), None, &[]).await
}

async fn post(sim: &RancherSim, url: &str, key: Key, body: Value) -> Resp {
    call(sim, Method::POST, url, Some(key), Some(body), &[]).await
}

async fn put(sim: &RancherSim, url: &str, key: Key, body: Value) -> Resp {
    call(sim, Method::PUT, url, Some(key), Some(body), &[]).await
}

fn link(resource: &Value, name: &str) -> String {
    resource["links"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no link {name} in {resource}"))
        .to_string()
}

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
// §2 URL layout, headers, discovery
// ---------------------------------------------------------------------------

#[tokio::test]
async fn schemas_header_on_both_url_forms_and_on_errors() {
    let sim = sim().await;
    let base = sim.url();

    let root = get(&sim, "/v1", ENV_KEY).await;
    assert_eq!(root.status, 200);
    assert_eq!(
        root.header("x-api-schemas"),
        Some(format!("{base}/v1/schemas").as_str())
    );
    assert_eq!(root.header("x-rancher-version"), Some(RANCHER_VERSION));
    assert_eq!(
        root.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let scoped = get(&sim, "/v2-beta/projects/1a5/registries", ENV_KEY).await;
    assert_eq!(scoped.status, 200);
    assert_eq!(
        scoped.header("x-api-schemas"),
        Some(format!("{base}/v2-beta/projects/1a5/schemas").as_str())
    );
    assert_eq!(
        scoped.body["links"]["self"],
        format!("{base}/v2-beta/projects/1a5/registries")
    );

    // Errors carry it too: 404, 401 and 403.
    let missing = get(&sim, "/v2-beta/projects/1a5/registries/1sp999", ENV_KEY).await;
    missing.assert_error(404, "Not Found");
    assert_eq!(
        missing.header("x-api-schemas"),
        Some(format!("{base}/v2-beta/projects/1a5/schemas").as_str())
    );
    let unauth = call(&sim, Method::GET, "/v2-beta/registries", None, None, &[]).await;
    assert_eq!(
        unauth.header("x-api-schemas"),
        Some(format!("{base}/v2-beta/schemas").as_str())
    );
    assert_eq!(unauth.header("x-rancher-version"), Some(RANCHER_VERSION));
    let forbidden = get(&sim, "/v1/projects/1a7/registries", ENV_KEY).await;
    assert_eq!(
        forbidden.header("x-api-schemas"),
        Some(format!("{base}/v1/projects/1a7/schemas").as_str())
    );
}

#[tokio::test]
async fn error_body_has_the_documented_shape() {
    let sim = sim().await;
    let resp = get(&sim, "/v1/registries/1sp404", ENV_KEY).await;
    let mut keys: Vec<&str> = resp
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["actions", "baseType", "code", "detail", "id", "links", "message", "status", "type"]
    );
    assert_eq!(resp.body["baseType"], "error");
    assert_eq!(resp.body["links"], json!({}));
    assert_eq!(resp.body["actions"], json!({}));
    assert!(resp.body["detail"].is_null());
    assert!(!resp.body["id"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn project_resource_at_projects_pid() {
    let sim = sim().await;
    let base = sim.url();
    for path in [
        "/v2-beta/projects/1a5",
        "/v2-beta/projects/1a5/",
        "/v2-beta//projects/1a5",
    ] {
        let resp = get(&sim, path, ENV_KEY).await;
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.body["type"], "project");
        assert_eq!(resp.body["id"], PROJECT);
        assert_eq!(resp.body["baseType"], "account");
        // Not an API root: no project prefix on the schemas header.
        assert_eq!(
            resp.header("x-api-schemas"),
            Some(format!("{base}/v2-beta/schemas").as_str())
        );
        assert_eq!(
            link(&resp.body, "self"),
            format!("{base}/v2-beta/projects/1a5")
        );
    }
    // Another project is simply not visible to this key.
    get(&sim, "/v2-beta/projects/1a7", ENV_KEY)
        .await
        .assert_error(404, "Not Found");
    assert_eq!(
        get(&sim, "/v2-beta/projects/1a7", ADMIN_KEY).await.status,
        200
    );
    let projects = get(&sim, "/v1/projects", ENV_KEY).await;
    assert_eq!(projects.ids(), [PROJECT]);
    // An admin that is no member lists every project only with `all` (§2).
    assert!(get(&sim, "/v1/projects", ADMIN_KEY).await.ids().is_empty());
    assert_eq!(
        get(&sim, "/v1/projects?all=true", ADMIN_KEY).await.ids(),
        [PROJECT, OTHER_PROJECT]
    );
}

#[tokio::test]
async fn version_roots_and_root_collection() {
    let sim = sim().await;
    let base = sim.url();
    let v1 = get(&sim, "/v1/", ENV_KEY).await;
    assert_eq!(v1.body["id"], "v1");
    assert_eq!(v1.body["type"], "apiVersion");
    assert_eq!(v1.body["actions"], json!({}));
    assert_eq!(v1.body["links"]["self"], format!("{base}/v1"));
    assert_eq!(v1.body["links"]["schemas"], format!("{base}/v1/schemas"));
    assert_eq!(
        v1.body["links"]["registries"],
        format!("{base}/v1/registries")
    );
    assert_eq!(
        v1.body["links"]["registryCredentials"],
        format!("{base}/v1/registrycredentials")
    );
    assert_eq!(v1.body["links"]["projects"], format!("{base}/v1/projects"));

    let v2 = get(&sim, "/v2-beta", ENV_KEY).await;
    assert_eq!(v2.body["id"], "v2-beta");

    let root = get(&sim, "/", ENV_KEY).await;
    assert_eq!(root.status, 200);
    assert_eq!(root.body["type"], "collection");
    assert_eq!(root.body["resourceType"], "apiVersion");
    assert_eq!(root.body["links"]["latest"], format!("{base}/v2-beta"));
    assert_eq!(root.ids(), ["v1", "v2-beta"]);
}

#[tokio::test]
async fn non_api_paths_are_plain_404() {
    let sim = sim().await;
    for path in ["/v3/registries", "/env/1a5/infra", "/V1/registries"] {
        let resp = get(&sim, path, ENV_KEY).await;
        assert_eq!(resp.status, 404, "{path}");
        assert!(resp.header("x-api-schemas").is_none(), "{path}");
    }
}

#[tokio::test]
async fn schemas_serve_links_methods_and_fields() {
    let sim = sim().await;
    let base = sim.url();
    let all = get(&sim, "/v2-beta/projects/1a5/schemas", ENV_KEY).await;
    assert_eq!(all.body["type"], "collection");
    assert_eq!(all.body["resourceType"], "schema");
    let ids = all.ids();
    for id in [
        "registry",
        "registryCredential",
        "project",
        "schema",
        "apiVersion",
        "error",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} in {ids:?}");
    }
    let data = all.body["data"].as_array().unwrap();
    let cred = data
        .iter()
        .find(|s| s["id"] == "registryCredential")
        .unwrap();
    assert_eq!(
        link(cred, "self"),
        format!("{base}/v2-beta/projects/1a5/schemas/registrycredential")
    );
    assert_eq!(
        link(cred, "collection"),
        format!("{base}/v2-beta/projects/1a5/registrycredentials")
    );
    assert_eq!(cred["pluralName"], "registryCredentials");
    assert_eq!(cred["resourceMethods"], json!(["GET", "PUT", "DELETE"]));
    assert_eq!(cred["collectionMethods"], json!(["GET", "POST"]));
    let fields = &cred["resourceFields"];
    assert_eq!(fields["registryId"]["type"], "reference[registry]");
    assert_eq!(fields["registryId"]["required"], true);
    assert_eq!(fields["registryId"]["update"], false);
    assert_eq!(fields["secretValue"]["type"], "password");
    assert_eq!(fields["secretValue"]["readOnCreateOnly"], true);
    assert_eq!(fields["publicValue"]["update"], true);
    assert_eq!(
        cred["resourceActions"]["deactivate"]["output"],
        "credential"
    );
    assert!(cred["collectionFilters"]["registryId"]["modifiers"].is_array());

    let registry = get(&sim, "/v1/schemas/Registries", ENV_KEY).await;
    assert_eq!(registry.status, 200);
    assert_eq!(registry.body["id"], "registry");
    assert_eq!(
        link(&registry.body, "collection"),
        format!("{base}/v1/registries")
    );
    let address = &registry.body["resourceFields"]["serverAddress"];
    assert_eq!(address["required"], true);
    assert_eq!(address["nullable"], false);
    assert_eq!(address["minLength"], 1);
    assert_eq!(address["create"], true);
    assert_eq!(address["update"], false);
    assert!(registry.body["collectionFilters"]["serverAddress"].is_null());
    assert!(registry.body["collectionFilters"]["name"].is_object());

    get(&sim, "/v1/schemas/nothing", ENV_KEY)
        .await
        .assert_error(404, "Not Found");
}

#[tokio::test]
async fn type_names_are_case_insensitive_singular_or_plural() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");
    sim.add_credential(PROJECT, &registry, "AWS", "s", "active");
    for path in [
        "/v1/registries",
        "/v1/registry",
        "/v1/Registries",
        "/v1//registries/",
    ] {
        let resp = get(&sim, path, ENV_KEY).await;
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.body["resourceType"], "registry");
        assert_eq!(resp.ids(), [registry.as_str()]);
    }
    for path in [
        "/v1/registrycredentials",
        "/v1/registryCredential",
        "/v1/RegistryCredentials",
    ] {
        let resp = get(&sim, path, ENV_KEY).await;
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.body["resourceType"], "registryCredential");
    }
    get(&sim, "/v1/containers", ENV_KEY)
        .await
        .assert_error(404, "Not Found");
}

#[tokio::test]
async fn forbidden_for_another_project() {
    let sim = sim().await;
    let other = sim.add_registry(OTHER_PROJECT, ECR, "active");
    get(&sim, "/v2-beta/projects/1a7/registries", ENV_KEY)
        .await
        .assert_error(403, "Forbidden");
    get(&sim, "/v1/projects/1a7/registries", PROJECT_KEY)
        .await
        .assert_error(403, "Forbidden");
    get(&sim, "/v1/registries?projectId=1a7", ENV_KEY)
        .await
        .assert_error(403, "Forbidden");
    call(
        &sim,
        Method::GET,
        "/v1/registries",
        Some(ENV_KEY),
        None,
        &[("X-API-Project-Id", "1a7")],
    )
    .await
    .assert_error(403, "Forbidden");
    get(&sim, "/v1/projects/1a99/registries", ADMIN_KEY)
        .await
        .assert_error(403, "Forbidden");
    get(&sim, "/v1/registries?projectId=garbage", ENV_KEY)
        .await
        .assert_error(400, "InvalidFormat");

    // Unscoped access to another project's object is just not found.
    get(&sim, &format!("/v1/registries/{other}"), ENV_KEY)
        .await
        .assert_error(404, "Not Found");
    // Own project via header or query works, and adds no sub-context.
    let own = get(&sim, "/v1/registries?projectId=1a5", ENV_KEY).await;
    assert_eq!(own.status, 200);
    assert_eq!(
        own.body["links"]["self"],
        format!("{}/v1/registries", sim.url())
    );
    // Admin may go anywhere and is confined to the selected project.
    let admin = get(&sim, "/v1/projects/1a7/registries", ADMIN_KEY).await;
    assert_eq!(admin.ids(), [other.as_str()]);
    let admin_header = call(
        &sim,
        Method::GET,
        "/v1/registries",
        Some(ADMIN_KEY),
        None,
        &[("X-API-Project-Id", "1a5")],
    )
    .await;
    assert!(admin_header.ids().is_empty());
}

// ---------------------------------------------------------------------------
// §3 / §4 Collections
// ---------------------------------------------------------------------------

#[tokio::test]
async fn pagination_pages_by_100_with_offset_markers() {
    let sim = sim().await;
    let ids: Vec<String> = (0..250)
        .map(|n| sim.add_registry(PROJECT, &format!("r{n}.example.com"), "active"))
        .collect();
    let base = sim.url();

    let first = get(&sim, "/v1/registries", ENV_KEY).await;
    assert_eq!(first.ids(), ids[..100]);
    let pagination = &first.body["pagination"];
    assert_eq!(pagination["limit"], 100);
    assert_eq!(pagination["partial"], true);
    assert!(pagination["total"].is_null());
    assert!(pagination["first"].is_null());
    assert!(pagination["previous"].is_null());
    assert_eq!(
        pagination["next"],
        format!("{base}/v1/registries?marker=m100")
    );

    let second = get(&sim, pagination["next"].as_str().unwrap(), ENV_KEY).await;
    assert_eq!(second.ids(), ids[100..200]);
    assert_eq!(
        second.body["pagination"]["next"],
        format!("{base}/v1/registries?marker=m200")
    );
    let third = get(
        &sim,
        second.body["pagination"]["next"].as_str().unwrap(),
        ENV_KEY,
    )
    .await;
    assert_eq!(third.ids(), ids[200..]);
    assert!(third.body["pagination"]["next"].is_null());
    assert_eq!(third.body["pagination"]["partial"], false);

    // The query is kept, minus the old marker.
    let filtered = get(
        &sim,
        "/v1/registries?state=active&limit=10&marker=m20",
        ENV_KEY,
    )
    .await;
    assert_eq!(filtered.ids(), ids[20..30]);
    assert_eq!(
        filtered.body["pagination"]["next"],
        format!("{base}/v1/registries?state=active&limit=10&marker=m30")
    );
    // Other marker formats mean offset 0.
    assert_eq!(
        get(&sim, "/v1/registries?marker=x5", ENV_KEY).await.ids(),
        ids[..100]
    );
}

#[tokio::test]
async fn limit_is_clamped() {
    let sim = sim().await;
    for n in 0..120 {
        sim.add_registry(PROJECT, &format!("r{n}.example.com"), "active");
    }
    for (query, limit, count) in [
        ("limit=0", 3000, 120),
        ("limit=-4", 3000, 120),
        ("limit=5000", 3000, 120),
        ("limit=abc", 100, 100),
        ("limit=7", 7, 7),
    ] {
        let resp = get(&sim, &format!("/v1/registries?{query}"), ENV_KEY).await;
        assert_eq!(resp.body["pagination"]["limit"], limit, "{query}");
        assert_eq!(resp.ids().len(), count, "{query}");
    }
}

#[tokio::test]
async fn collection_has_the_full_shape() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");
    sim.add_credential(PROJECT, &registry, "AWS", "s", "active");
    let url = format!("/v2-beta/projects/1a5/registrycredentials?registryId={registry}");
    let resp = get(&sim, &url, ENV_KEY).await;
    let body = &resp.body;
    for key in [
        "type",
        "resourceType",
        "links",
        "createTypes",
        "actions",
        "createDefaults",
        "data",
        "sortLinks",
        "pagination",
        "sort",
        "filters",
    ] {
        assert!(body.get(key).is_some(), "{key} missing in {body}");
    }
    assert_eq!(body["type"], "collection");
    assert_eq!(body["createTypes"], json!({}));
    assert!(body["sort"].is_null());
    assert_eq!(
        body["filters"]["registryId"],
        json!([{"modifier": "eq", "value": registry.trim_start_matches("1sp")}])
    );
    assert!(body["filters"]["name"].is_null());
    assert!(body["filters"].get("removeTime").is_some());
    assert_eq!(
        body["sortLinks"]["name"],
        format!(
            "{}/v2-beta/projects/1a5/registrycredentials?registryId={registry}&sort=name",
            sim.url()
        )
    );
}

#[tokio::test]
async fn filters_follow_collection_filters() {
    let sim = sim().await;
    let a = sim.add_registry(PROJECT, ECR, "active");
    let b = sim.add_registry(PROJECT, "index.docker.io", "inactive");
    let c = sim.add_registry(PROJECT, "quay.io", "active");

    // serverAddress is not a collection filter: silently ignored.
    let ignored = get(
        &sim,
        &format!("/v1/registries?serverAddress={ECR}"),
        ENV_KEY,
    )
    .await;
    assert_eq!(ignored.ids(), [a.clone(), b.clone(), c.clone()]);
    assert!(ignored.body["filters"].get("serverAddress").is_none());

    let active = get(&sim, "/v1/registries?state=active", ENV_KEY).await;
    assert_eq!(active.ids(), [a.clone(), c.clone()]);
    let not_active = get(&sim, "/v1/registries?state_ne=active", ENV_KEY).await;
    assert_eq!(not_active.ids(), [b.as_str()]);
    let prefix = get(&sim, "/v1/registries?kind_prefix=reg", ENV_KEY).await;
    assert_eq!(prefix.ids().len(), 3);
    let null_name = get(&sim, "/v1/registries?name_null=true", ENV_KEY).await;
    assert_eq!(null_name.ids().len(), 3);
    let named = get(&sim, "/v1/registries?name_notnull=true", ENV_KEY).await;
    assert!(named.ids().is_empty());
    // Repeated keys AND: nothing is both active and inactive.
    let both = get(&sim, "/v1/registries?state=active&state=inactive", ENV_KEY).await;
    assert!(both.ids().is_empty());
    // Harmless legacy filter.
    assert_eq!(
        get(&sim, "/v1/registries?removed_null=true", ENV_KEY)
            .await
            .ids()
            .len(),
        3
    );
    // A client cannot escape its project with accountId.
    sim.add_registry(OTHER_PROJECT, "x.example.com", "active");
    assert!(get(&sim, "/v1/registries?accountId=1a7", ENV_KEY)
        .await
        .ids()
        .is_empty());

    // Reference filters parse the formatted id.
    let cred = sim.add_credential(PROJECT, &a, "AWS", "s", "active");
    sim.add_credential(PROJECT, &c, "AWS", "s", "active");
    let by_ref = get(
        &sim,
        &format!("/v1/registrycredentials?registryId={a}"),
        ENV_KEY,
    )
    .await;
    assert_eq!(by_ref.ids(), [cred.as_str()]);
    let numeric = a.trim_start_matches("1sp");
    let plain = get(
        &sim,
        &format!("/v1/registrycredentials?registryId={numeric}"),
        ENV_KEY,
    )
    .await;
    assert!(plain.ids().is_empty(), "plain numbers match nothing");
    let sub = get(&sim, &format!("/v1/registries/{a}/credentials"), ENV_KEY).await;
    assert_eq!(sub.ids(), [cred]);
}

#[tokio::test]
async fn sort_and_order() {
    let sim = sim().await;
    let a = sim.add_registry(PROJECT, "a.example.com", "inactive");
    let b = sim.add_registry(PROJECT, "b.example.com", "active");
    let c = sim.add_registry(PROJECT, "c.example.com", "active");
    let desc = get(&sim, "/v1/registries?order=desc", ENV_KEY).await;
    assert_eq!(desc.ids(), [c.clone(), b.clone(), a.clone()]);
    let by_state = get(&sim, "/v1/registries?sort=state", ENV_KEY).await;
    assert_eq!(by_state.ids(), [b.clone(), c.clone(), a.clone()]);
    assert_eq!(by_state.body["sort"]["name"], "state");
    assert_eq!(by_state.body["sort"]["order"], "asc");
    assert_eq!(
        by_state.body["sort"]["reverse"],
        format!("{}/v1/registries?sort=state&order=desc", sim.url())
    );
    // Sorting on a non-filter is ignored.
    let ignored = get(&sim, "/v1/registries?sort=serverAddress", ENV_KEY).await;
    assert_eq!(ignored.ids(), [a, b, c]);
    assert!(ignored.body["sort"].is_null());
}

#[tokio::test]
async fn removed_objects_are_hidden_from_lists_but_not_from_get() {
    let sim = sim().await;
    let kept = sim.add_registry(PROJECT, "kept.example.com", "active");
    let gone = sim.add_registry(PROJECT, ECR, "inactive");
    sim.remove_registry(&gone);

    assert_eq!(
        get(&sim, "/v1/registries", ENV_KEY).await.ids(),
        [kept.as_str()]
    );
    let shown = get(&sim, "/v1/registries?_removed=true", ENV_KEY).await;
    assert_eq!(shown.ids(), [kept, gone.clone()]);

    let by_id = get(&sim, &format!("/v1/registries/{gone}"), ENV_KEY).await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.body["state"], "removed");
    assert!(by_id.body["removed"].is_string());
    assert!(by_id.body["removedTS"].is_number());
    assert_eq!(
        by_id.body["actions"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["purge"]
    );

    let snapshot = sim.registries(PROJECT);
    assert_eq!(snapshot.len(), 2);
    assert!(snapshot[1].removed);
}

#[tokio::test]
async fn admin_unscoped_lists_every_project() {
    let sim = sim().await;
    let a = sim.add_registry(PROJECT, ECR, "active");
    let b = sim.add_registry(OTHER_PROJECT, ECR, "active");
    assert_eq!(
        get(&sim, "/v1/registries", ADMIN_KEY).await.ids(),
        [a.clone(), b]
    );
    assert_eq!(get(&sim, "/v1/registries", ENV_KEY).await.ids(), [a]);
}

// ---------------------------------------------------------------------------
// §3 Resources
// ---------------------------------------------------------------------------

#[tokio::test]
async fn resources_render_every_field_links_and_actions() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "s3cr3t", "active");
    let base = sim.url();

    let resp = get(
        &sim,
        &format!("/v2-beta/projects/1a5/registries/{registry}"),
        ENV_KEY,
    )
    .await;
    let r = &resp.body;
    let self_url = format!("{base}/v2-beta/projects/1a5/registries/{registry}");
    assert_eq!(r["type"], "registry");
    assert_eq!(r["baseType"], "storagePool");
    assert_eq!(r["kind"], "registry");
    assert_eq!(r["accountId"], PROJECT);
    assert_eq!(r["serverAddress"], ECR);
    assert_eq!(r["transitioning"], "no");
    assert!(r["createdTS"].is_number());
    assert!(r["created"].as_str().unwrap().ends_with('Z'));
    for null_field in [
        "name",
        "description",
        "blockDevicePath",
        "driverName",
        "externalId",
        "removed",
        "volumeCapabilities",
        "transitioningMessage",
    ] {
        assert!(
            r.get(null_field).is_some_and(Value::is_null),
            "{null_field}"
        );
    }
    assert_eq!(link(r, "self"), self_url);
    assert_eq!(link(r, "credentials"), format!("{self_url}/credentials"));
    assert_eq!(
        r["actions"],
        json!({"update": format!("{self_url}/?action=update"), "deactivate": format!("{self_url}/?action=deactivate")})
    );

    let c = get(&sim, &format!("/v1/registrycredentials/{cred}"), ENV_KEY)
        .await
        .body;
    assert_eq!(c["type"], "registryCredential");
    assert_eq!(c["baseType"], "credential");
    assert_eq!(c["registryId"], registry);
    assert_eq!(c["publicValue"], "AWS");
    assert!(
        c.get("secretValue").is_some_and(Value::is_null),
        "write-only"
    );
    assert!(c.get("email").is_none(), "no email for an environment key");
    assert_eq!(
        link(&c, "self"),
        format!("{base}/v1/registrycredentials/{cred}")
    );
    let via_link = get(&sim, &link(&c, "registry"), ENV_KEY).await;
    assert_eq!(via_link.body["id"], registry);

    let forwarded = call(
        &sim,
        Method::GET,
        &format!("/v1/registries/{registry}"),
        Some(ENV_KEY),
        None,
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "rancher.example.com"),
        ],
    )
    .await;
    assert_eq!(
        link(&forwarded.body, "self"),
        format!("https://rancher.example.com/v1/registries/{registry}")
    );
    assert_eq!(
        forwarded.header("x-api-schemas"),
        Some("https://rancher.example.com/v1/schemas")
    );
}

// ---------------------------------------------------------------------------
// §5 Writes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_starts_registering_then_becomes_active() {
    let sim = sim().await;
    let created = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ECR}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["state"], "registering");
    assert_eq!(created.body["transitioning"], "yes");
    assert_eq!(created.body["transitioningMessage"], "In Progress");
    let url = link(&created.body, "self");

    // Default delay 1: the next request still sees registering, the one after active.
    assert_eq!(get(&sim, &url, ENV_KEY).await.body["state"], "registering");
    let active = get(&sim, &url, ENV_KEY).await.body;
    assert_eq!(active["state"], "active");
    assert_eq!(active["transitioning"], "no");

    sim.set_activation_delay(0);
    let quick = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": "quay.io"}),
    )
    .await;
    assert_eq!(quick.body["state"], "registering");
    assert_eq!(
        get(&sim, &link(&quick.body, "self"), ENV_KEY).await.body["state"],
        "active"
    );

    sim.set_activation_delay(3);
    let slow = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": "gcr.io"}),
    )
    .await;
    let slow_url = link(&slow.body, "self");
    for _ in 0..3 {
        assert_eq!(
            get(&sim, &slow_url, ENV_KEY).await.body["state"],
            "registering"
        );
    }
    assert_eq!(get(&sim, &slow_url, ENV_KEY).await.body["state"], "active");
    assert_eq!(sim.registries(PROJECT).len(), 3);
}

#[tokio::test]
async fn create_validates_and_drops_unknown_fields() {
    let sim = sim().await;
    let missing = post(&sim, "/v1/registries", ENV_KEY, json!({"name": "x"})).await;
    missing.assert_error(422, "MissingRequired");
    assert_eq!(missing.body["fieldName"], "serverAddress");
    assert!(missing.body["message"].is_null());
    let null = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": null}),
    )
    .await;
    null.assert_error(422, "MissingRequired");
    let empty = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ""}),
    )
    .await;
    empty.assert_error(422, "MinLengthExceeded");
    assert_eq!(empty.body["fieldName"], "serverAddress");

    let garbage = call(
        &sim,
        Method::POST,
        "/v1/registries",
        Some(ENV_KEY),
        None,
        &[("Content-Type", "text/plain")],
    )
    .await;
    garbage.assert_error(422, "MissingRequired"); // empty body is an empty object
    let resp = support::http()
        .post(format!("{}/v1/registries", sim.url()))
        .basic_auth(ENV_KEY.0, Some(ENV_KEY.1))
        .header("Content-Type", "text/plain")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "InvalidBodyContent");

    // Whatever the Content-Type, JSON is parsed; unknown keys are dropped.
    let resp = support::http()
        .post(format!("{}/v1/registries", sim.url()))
        .basic_auth(ENV_KEY.0, Some(ENV_KEY.1))
        .header("Content-Type", "text/plain")
        .body(json!({"serverAddress": ECR, "links": null, "actions": null, "type": "x", "kind": "y", "state": "active"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "registry");
    assert_eq!(body["kind"], "registry");
    assert_eq!(body["state"], "registering");
    let registry = body["id"].as_str().unwrap().to_string();

    // registryId must reference a visible, non-removed registry of the caller.
    let bad_refs = [
        json!({"publicValue": "AWS"}),
        json!({"registryId": "1sp999"}),
        json!({"registryId": registry.trim_start_matches("1sp")}),
    ];
    for body in bad_refs {
        let resp = post(&sim, "/v1/registrycredentials", ENV_KEY, body.clone()).await;
        let code = if body.get("registryId").is_none() {
            "MissingRequired"
        } else {
            "InvalidReference"
        };
        resp.assert_error(422, code);
        assert_eq!(resp.body["fieldName"], "registryId");
    }
    let other = sim.add_registry(OTHER_PROJECT, ECR, "active");
    post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": other}),
    )
    .await
    .assert_error(422, "InvalidReference");
    let removed = sim.add_registry(PROJECT, "removed.example.com", "inactive");
    sim.remove_registry(&removed);
    post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": removed}),
    )
    .await
    .assert_error(422, "InvalidReference");
    // A registering registry is fine.
    let ok = post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": registry, "publicValue": "AWS", "secretValue": "tok"}),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test]
async fn duplicate_server_address_is_rejected() {
    let sim = sim().await;
    assert_eq!(
        post(
            &sim,
            "/v1/registries",
            ENV_KEY,
            json!({"serverAddress": ECR})
        )
        .await
        .status,
        201
    );
    let dup = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ECR.to_uppercase()}),
    )
    .await;
    dup.assert_error(400, "ServerAddressUsed");
    assert_eq!(dup.body["message"], "ServerAddressUsed");
    // Different strings and other projects are fine.
    let https = post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": format!("https://{ECR}")}),
    )
    .await;
    assert_eq!(https.status, 201);
    let other = post(
        &sim,
        "/v1/registries",
        OTHER_ENV_KEY,
        json!({"serverAddress": ECR}),
    )
    .await;
    assert_eq!(other.status, 201);
    assert_eq!(other.body["accountId"], OTHER_PROJECT);
    // After removal the address is free again.
    let gone = sim.add_registry(PROJECT, "quay.io", "inactive");
    sim.remove_registry(&gone);
    assert_eq!(
        post(
            &sim,
            "/v1/registries",
            ENV_KEY,
            json!({"serverAddress": "quay.io"})
        )
        .await
        .status,
        201
    );
    assert_eq!(sim.registries(PROJECT).len(), 4);
}

#[tokio::test]
async fn email_exists_only_on_v1_with_a_project_key() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");

    let schema = get(&sim, "/v1/schemas/registrycredential", PROJECT_KEY)
        .await
        .body;
    let email = &schema["resourceFields"]["email"];
    assert_eq!(email["required"], true);
    assert_eq!(email["nullable"], false);
    assert_eq!(email["minLength"], 1);
    for (path, key) in [
        ("/v1", ENV_KEY),
        ("/v2-beta", PROJECT_KEY),
        ("/v2-beta", ENV_KEY),
    ] {
        let schema = get(&sim, &format!("{path}/schemas/registrycredential"), key)
            .await
            .body;
        assert!(schema["resourceFields"].get("email").is_none(), "{path}");
    }

    let no_email = json!({"registryId": registry, "publicValue": "AWS", "secretValue": "t"});
    let missing = post(
        &sim,
        "/v1/projects/1a5/registrycredentials",
        PROJECT_KEY,
        no_email.clone(),
    )
    .await;
    missing.assert_error(422, "MissingRequired");
    assert_eq!(missing.body["fieldName"], "email");
    let mut with_email = no_email.clone();
    with_email["email"] = json!("not-really@required.anymore");
    let created = post(
        &sim,
        "/v1/projects/1a5/registrycredentials",
        PROJECT_KEY,
        with_email.clone(),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["email"], "not-really@required.anymore");

    // Environment key on /v1, project key on /v2-beta: not required, and dropped.
    let env = post(&sim, "/v1/registrycredentials", ENV_KEY, no_email.clone()).await;
    assert_eq!(env.status, 201);
    assert!(env.body.get("email").is_none());
    let v2 = post(
        &sim,
        "/v2-beta/registrycredentials",
        PROJECT_KEY,
        with_email,
    )
    .await;
    assert_eq!(v2.status, 201);
    assert!(v2.body.get("email").is_none());
    let emails: Vec<Option<String>> = sim
        .credentials(PROJECT)
        .into_iter()
        .map(|c| c.email)
        .collect();
    assert_eq!(
        emails,
        [Some("not-really@required.anymore".to_string()), None, None]
    );

    // On v1 + project key, email may not be blanked or nulled by PUT.
    let url = link(&created.body, "self");
    put(&sim, &url, PROJECT_KEY, json!({"email": ""}))
        .await
        .assert_error(422, "MinLengthExceeded");
    put(&sim, &url, PROJECT_KEY, json!({"email": null}))
        .await
        .assert_error(422, "NotNullable");
    assert_eq!(
        put(&sim, &url, PROJECT_KEY, json!({"publicValue": "AWS"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn put_is_partial_and_secret_value_is_write_only() {
    let sim = sim().await;
    sim.set_activation_delay(0);
    let registry = sim.add_registry(PROJECT, ECR, "active");
    let created = post(
        &sim,
        "/v1/registrycredentials",
        ENV_KEY,
        json!({"registryId": registry, "publicValue": "AWS", "secretValue": "first", "name": "ecr"}),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.body["secretValue"], "first",
        "POST echoes the secret"
    );
    let url = link(&created.body, "self");
    assert!(get(&sim, &url, ENV_KEY).await.body["secretValue"].is_null());
    let listed = get(&sim, "/v1/registrycredentials", ENV_KEY).await;
    assert!(listed.body["data"][0]["secretValue"].is_null());

    // The go-rancher update body: links/actions null, non-updatable keys ignored.
    let other = sim.add_registry(PROJECT, "quay.io", "active");
    let updated = put(
        &sim,
        &url,
        ENV_KEY,
        json!({"links": null, "actions": null, "email": "x@y", "publicValue": "AWS", "secretValue": "second", "registryId": other, "state": "inactive"}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert!(updated.body["secretValue"].is_null());
    assert_eq!(updated.body["registryId"], registry);
    assert_eq!(updated.body["name"], "ecr", "absent keys keep their value");
    assert_eq!(updated.body["state"], "active");
    let stored = sim
        .credential(created.body["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored.secret_value.as_deref(), Some("second"));
    assert_eq!(stored.email, None, "email dropped for an environment key");

    // serverAddress cannot be changed.
    let reg_url = format!("/v1/registries/{registry}");
    let resp = put(
        &sim,
        &reg_url,
        ENV_KEY,
        json!({"serverAddress": "evil.io", "name": "n"}),
    )
    .await;
    assert_eq!(resp.body["serverAddress"], ECR);
    assert_eq!(resp.body["name"], "n");

    // Updating while inactive is fine.
    let inactive = sim.add_credential(PROJECT, &registry, "AWS", "old", "inactive");
    let resp = put(
        &sim,
        &format!("/v1/registrycredentials/{inactive}"),
        ENV_KEY,
        json!({"secretValue": "new"}),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["state"], "inactive");
    assert_eq!(
        sim.credential(&inactive).unwrap().secret_value.as_deref(),
        Some("new")
    );

    put(&sim, &url, ENV_KEY, json!({"secretValue": {"nested": 1}}))
        .await
        .assert_error(422, "InvalidFormat");
}

#[tokio::test]
async fn actions_delete_and_purge() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");
    let cred = sim.add_credential(PROJECT, &registry, "AWS", "s", "active");
    let url = format!("{}/v1/registries/{registry}", sim.url());

    call(&sim, Method::DELETE, &url, Some(ENV_KEY), None, &[])
        .await
        .assert_error(405, "Method not allowed");
    post(&sim, &format!("{url}/?action=activate"), ENV_KEY, json!({}))
        .await
        .assert_error(422, "ActionNotAvailable");
    let unknown = post(&sim, &format!("{url}/?action=explode"), ENV_KEY, json!({})).await;
    unknown.assert_error(422, "InvalidAction");
    assert_eq!(unknown.body["fieldName"], "action");

    let deactivating = post(
        &sim,
        &format!("{url}/?action=deactivate"),
        ENV_KEY,
        json!({}),
    )
    .await;
    assert_eq!(deactivating.status, 202);
    assert_eq!(deactivating.body["state"], "deactivating");
    assert_eq!(deactivating.body["transitioning"], "yes");
    let inactive = get(&sim, &url, ENV_KEY).await.body;
    assert_eq!(inactive["state"], "inactive");
    let mut actions: Vec<&String> = inactive["actions"].as_object().unwrap().keys().collect();
    actions.sort();
    assert_eq!(actions, ["activate", "remove", "update"]);

    let deleted = call(&sim, Method::DELETE, &url, Some(ENV_KEY), None, &[]).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["state"], "removing");
    let removed = get(&sim, &url, ENV_KEY).await.body;
    assert_eq!(removed["state"], "removed");
    assert!(removed["removed"].is_string());
    assert!(get(&sim, "/v1/registries", ENV_KEY).await.ids().is_empty());
    assert_eq!(
        sim.credential(&cred).unwrap().state,
        "active",
        "remove keeps credentials"
    );

    let purging = post(&sim, &format!("{url}/?action=purge"), ENV_KEY, json!({})).await;
    assert_eq!(purging.status, 202);
    assert_eq!(purging.body["state"], "purging");
    assert_eq!(get(&sim, &url, ENV_KEY).await.body["state"], "purged");
    assert_eq!(
        sim.credential(&cred).unwrap().state,
        "removed",
        "purge removes credentials"
    );

    // Credential action responses echo the secret (POST).
    let other = sim.add_registry(PROJECT, "quay.io", "active");
    let cred = sim.add_credential(PROJECT, &other, "AWS", "tok", "active");
    let resp = post(
        &sim,
        &format!("/v1/registrycredentials/{cred}/?action=deactivate"),
        ENV_KEY,
        json!({}),
    )
    .await;
    assert_eq!(resp.status, 202);
    assert_eq!(resp.body["secretValue"], "tok");
}

#[tokio::test]
async fn unsupported_methods_and_unknown_objects() {
    let sim = sim().await;
    let registry = sim.add_registry(PROJECT, ECR, "active");
    let url = format!("/v1/registries/{registry}");
    post(&sim, &url, ENV_KEY, json!({}))
        .await
        .assert_error(405, "Method not allowed");
    call(
        &sim,
        Method::PATCH,
        &url,
        Some(ENV_KEY),
        Some(json!({})),
        &[],
    )
    .await
    .assert_error(405, "Method not allowed");
    call(
        &sim,
        Method::PUT,
        "/v1/registries",
        Some(ENV_KEY),
        Some(json!({})),
        &[],
    )
    .await
    .assert_error(405, "Method not allowed");
    post(&sim, "/v1/schemas", ENV_KEY, json!({}))
        .await
        .assert_error(405, "Method not allowed");
    for path in [
        "/v1/registries/1sp999",
        "/v1/registries/bogus",
        "/v1/registries/1sp1/nothing",
    ] {
        get(&sim, path, ENV_KEY)
            .await
            .assert_error(404, "Not Found");
    }
    put(&sim, "/v1/registries/1sp999", ENV_KEY, json!({}))
        .await
        .assert_error(404, "Not Found");
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

// ---------------------------------------------------------------------------
// Test controls
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fail_next_answers_errors_before_auth() {
    let sim = sim().await;
    sim.fail_next(2, 503);
    for _ in 0..2 {
        let resp = call(&sim, Method::GET, "/v1", None, None, &[]).await;
        resp.assert_error(503, "Service Unavailable");
        assert!(resp.header("x-api-schemas").is_some());
    }
    assert_eq!(get(&sim, "/v1", ENV_KEY).await.status, 200);

    sim.fail_next(1, 500);
    get(&sim, "/v1/registries", ENV_KEY)
        .await
        .assert_error(500, "Internal Server Error");
    assert_eq!(get(&sim, "/v1/registries", ENV_KEY).await.status, 200);
}

#[tokio::test]
async fn latency_delays_every_request() {
    let sim = sim().await;
    get(&sim, "/v1", ENV_KEY).await;
    let served = sim.request_count();
    sim.set_latency(Duration::from_secs(3600));
    let slow = support::http()
        .get(format!("{}/v1", sim.url()))
        .basic_auth(ENV_KEY.0, Some(ENV_KEY.1))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(
        slow.is_err_and(|err| err.is_timeout()),
        "an hour's latency answers late"
    );
    assert_eq!(
        sim.request_count(),
        served,
        "a waiting request is not served yet"
    );
    sim.set_latency(Duration::from_millis(1));
    assert_eq!(get(&sim, "/v1", ENV_KEY).await.status, 200);
    assert_eq!(sim.request_count(), served + 1);
}

/// Whether a GET is answered before `wait` runs out.
async fn answered_within(
    sim: &RancherSim,
    url: &str,
    key: Key,
    project: &str,
    wait: Duration,
) -> bool {
    let mut request = support::http()
        .get(format!("{}{url}", sim.url()))
        .basic_auth(key.0, Some(key.1))
        .timeout(wait);
    if !project.is_empty() {
        request = request.header("X-API-Project-Id", project);
    }
    match request.send().await {
        Ok(response) => response.status().is_success(),
        Err(err) if err.is_timeout() => false,
        Err(err) => panic!("{url}: {err}"),
    }
}

#[tokio::test]
async fn project_latency_delays_only_that_projects_requests() {
    let sim = sim().await;
    sim.set_project_latency(PROJECT, Duration::from_secs(3600));
    let (never, ample) = (Duration::from_millis(200), Duration::from_secs(60));
    for (url, key, header) in [
        ("/v2-beta/projects/1a5/registries", ENV_KEY, ""),
        ("/v2-beta/registries", ADMIN_KEY, PROJECT),
    ] {
        let answered = answered_within(&sim, url, key, header, never).await;
        assert!(
            !answered,
            "{url} {header}: scoped to {PROJECT}, so an hour late"
        );
    }
    for (url, key, header) in [
        ("/v2-beta/projects/1a7/registries", OTHER_ENV_KEY, ""),
        ("/v2-beta/registries", ADMIN_KEY, OTHER_PROJECT),
        ("/v2-beta/registries", ADMIN_KEY, ""),
        // The project resource itself is not scoped to it (§2).
        ("/v2-beta/projects/1a5", ADMIN_KEY, ""),
    ] {
        let answered = answered_within(&sim, url, key, header, ample).await;
        assert!(answered, "{url} {header}: not scoped to {PROJECT}");
    }
    assert_eq!(sim.request_count(), 4, "the slow ones are not served yet");

    // A short latency: other projects' requests are answered one after
    // another while the slow one waits, and the log says which were in
    // flight together.
    sim.set_project_latency(PROJECT, Duration::from_secs(1));
    sim.clear_requests();
    let slow_done = std::cell::Cell::new(false);
    let slow = async {
        let slow = get(&sim, "/v2-beta/projects/1a5/registries", ENV_KEY).await;
        slow_done.set(true);
        slow
    };
    let fast = async {
        while !slow_done.get() {
            get(&sim, "/v2-beta/projects/1a7/registries", OTHER_ENV_KEY).await;
        }
    };
    let (slow, ()) = tokio::join!(slow, fast);
    assert_eq!(slow.status, 200);
    get(&sim, "/v2-beta/projects/1a7/registries", OTHER_ENV_KEY).await;
    let requests = sim.requests();
    let (slow, fast): (Vec<_>, Vec<_>) = requests[..requests.len() - 1]
        .iter()
        .partition(|r| r.path_and_query.contains("/1a5/"));
    let after = requests.last().unwrap();
    let timeline: Vec<(&str, u64, u64)> = (requests.iter())
        .map(|r| (r.path_and_query.as_str(), r.arrived, r.answered))
        .collect();
    assert_eq!(slow.len(), 1, "{timeline:?}");
    assert!(fast.iter().any(|f| f.overlaps(slow[0])), "{timeline:?}");
    assert!(
        fast.windows(2).all(|pair| !pair[0].overlaps(pair[1])),
        "one after another: {timeline:?}"
    );
    assert!(!after.overlaps(slow[0]), "{timeline:?}");
    sim.set_latency(Duration::from_secs(3600));
    assert!(
        answered_within(&sim, "/v2-beta/projects/1a5/registries", ENV_KEY, "", ample).await,
        "the project's own latency wins over the global one"
    );
}

#[tokio::test]
async fn requests_are_recorded() {
    let sim = sim().await;
    get(&sim, "/v1/registries?limit=5", ENV_KEY).await;
    post(
        &sim,
        "/v1/registries",
        ENV_KEY,
        json!({"serverAddress": ECR}),
    )
    .await;
    let requests = sim.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(sim.request_count(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path_and_query, "/v1/registries?limit=5");
    assert_eq!(requests[0].status, 200);
    assert!(requests[0]
        .header("Authorization")
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].status, 201);
    let body: Value = serde_json::from_str(&requests[1].body).unwrap();
    assert_eq!(body["serverAddress"], ECR);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}
