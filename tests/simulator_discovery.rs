//! Pins the Rancher simulator's URL layout and discovery to the Rancher 1.6
//! API contract (docs/rancher-api.md §2), through real HTTP: both URL forms
//! and the X-API-Schemas header, the version roots, the project resource,
//! schemas with their links, methods and fields, type names in any case and
//! number, the error body, 403 for another project. The daemon finds its
//! endpoints this way, so a drift here would hide a discovery bug.

mod support;

use reqwest::Method;
use serde_json::json;

use support::rancher_api::{
    call, get, link, sim, ADMIN_KEY, ECR, ENV_KEY, OTHER_PROJECT, PROJECT, PROJECT_KEY,
};
use support::rancher_sim::RANCHER_VERSION;

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
