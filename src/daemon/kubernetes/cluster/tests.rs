//! Tests of what is sent: the Secret written over nothing or over ours,
//! and what a namespace listing is reduced to.

use std::time::{Duration, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::daemon::kubernetes::pull_secret::{Login, SecretAction, MANAGED_BY, MANAGED_BY_LABEL};
use crate::registry_host::RegistryHost;
use crate::secret::Secret as Password;

fn wanted(expiry: Option<u64>) -> PullSecret {
    let host = RegistryHost::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
    let password = Password::new("token-value");
    PullSecret::render(&[Login {
        host: &host,
        username: "AWS",
        password: &password,
        expires_at: expiry.map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
    }])
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_new_secret_is_exactly_what_the_kubelet_reads() {
    let wanted = wanted(Some(1_800_000_000));
    let secret = secret_to_write(&wanted, "team-a", "ecr-credentials", None);
    let data = BASE64.encode(wanted.config_json().expose());
    assert_eq!(
        secret,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "ecr-credentials",
                "namespace": "team-a",
                "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                "annotations": {EXPIRES_AT_ANNOTATION: "2027-01-15T08:00:00Z"},
            },
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": data},
        })
    );
    // Read back, it is up to date.
    assert_eq!(
        wanted.judge(Some(&existing(&secret))),
        SecretAction::UpToDate
    );
}

#[test]
fn over_ours_others_labels_stay_and_the_version_guards() {
    let found = json!({
        "metadata": {
            "name": "ecr-credentials",
            "namespace": "team-a",
            "resourceVersion": "41",
            "uid": "u-1",
            "managedFields": [{"manager": "rancher-ecr-credentials"}],
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, "team": "a"},
            "annotations": {EXPIRES_AT_ANNOTATION: "2020-01-01T00:00:00Z", "note": "kept"},
        },
        "type": SECRET_TYPE,
        "data": {DATA_KEY: "e30=", "extra": "eA=="},
    });
    assert_eq!(
        existing(&found).data,
        BTreeMap::from([
            (DATA_KEY.to_string(), b"{}".to_vec()),
            ("extra".to_string(), b"x".to_vec())
        ])
    );
    // No expiry this time: the old annotation goes, the other stays.
    let wanted = wanted(None);
    assert_eq!(wanted.judge(Some(&existing(&found))), SecretAction::Update);
    let secret = secret_to_write(&wanted, "team-a", "ecr-credentials", Some(&found));
    let metadata = &secret["metadata"];
    assert_eq!(metadata["resourceVersion"], "41");
    assert_eq!(metadata["uid"], "u-1");
    assert!(metadata.get("managedFields").is_none());
    assert_eq!(
        metadata["labels"],
        json!({MANAGED_BY_LABEL: MANAGED_BY, "team": "a"})
    );
    assert_eq!(metadata["annotations"], json!({"note": "kept"}));
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, [DATA_KEY], "the data is replaced whole");
    assert_eq!(
        wanted.judge(Some(&existing(&secret))),
        SecretAction::UpToDate
    );
    // Without any annotation left, there is no annotations key at all.
    let bare = json!({"metadata": {"name": "ecr-credentials", "annotations": {EXPIRES_AT_ANNOTATION: "x"}}});
    let secret = secret_to_write(&wanted, "team-a", "ecr-credentials", Some(&bare));
    assert!(secret["metadata"].get("annotations").is_none(), "{secret}");
}

#[test]
fn odd_secrets_are_read_without_failing() {
    let odd = json!({"metadata": {"labels": {"n": 1}}, "data": {DATA_KEY: "not base64!"}});
    let read = existing(&odd);
    assert!(read.labels.is_empty());
    assert_eq!(read.secret_type, None);
    assert_eq!(read.data[DATA_KEY], Vec::<u8>::new());
    assert_eq!(existing(&json!(null)).data.len(), 0);
}

#[test]
fn a_namespace_being_deleted_is_seen_as_such() {
    let namespace = |deleting: bool| ObjectMeta {
        name: Some("team-a".into()),
        labels: Some(map(&[("tier", "front")])),
        deletion_timestamp: deleting.then(|| Time(Default::default())),
        ..ObjectMeta::default()
    };
    let active = ObservedNamespace::from_metadata(&namespace(false)).unwrap();
    assert_eq!(active.name, "team-a");
    assert_eq!(active.labels, map(&[("tier", "front")]));
    assert!(!active.terminating);
    assert!(
        ObservedNamespace::from_metadata(&namespace(true))
            .unwrap()
            .terminating
    );
    assert_eq!(
        ObservedNamespace::from_metadata(&ObjectMeta::default()),
        None
    );
}

#[test]
fn continue_tokens_are_escaped() {
    let encoded: String = form_encode("eyJ2Ijoi+/=&x").collect();
    assert_eq!(encoded, "eyJ2Ijoi%2B%2F%3D%26x");
}
