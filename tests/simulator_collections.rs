//! Pins the Rancher simulator's collections and resources to the Rancher 1.6
//! API contract (docs/rancher-api.md §3, §4), through real HTTP: pages of
//! 100 with offset markers, the clamped limit, the collection's shape,
//! filters, sort and order, removed objects, an admin's unscoped lists, and
//! each resource rendered with every field, link and action. The daemon's
//! registry and credential look-ups read exactly these lists.

mod support;

use reqwest::Method;
use serde_json::{json, Value};

use support::rancher_api::{call, get, link, sim, ADMIN_KEY, ECR, ENV_KEY, OTHER_PROJECT, PROJECT};

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
