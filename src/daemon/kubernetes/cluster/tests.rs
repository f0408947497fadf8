//! Tests of what is sent: the Secret written over nothing or over ours,
//! and what a namespace listing is reduced to.

use std::time::{Duration, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::daemon::kubernetes::pull_secret::{Login, MANAGED_BY, MANAGED_BY_LABEL};
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
    assert_eq!(secret.metadata.name.as_deref(), Some("ecr-credentials"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("team-a"));
    assert_eq!(
        secret.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    assert_eq!(
        secret.metadata.labels,
        Some(map(&[(MANAGED_BY_LABEL, MANAGED_BY)]))
    );
    assert_eq!(
        secret.metadata.annotations,
        Some(map(&[(EXPIRES_AT_ANNOTATION, "2027-01-15T08:00:00Z")]))
    );
    let data = secret.data.as_ref().unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), [".dockerconfigjson"]);
    assert_eq!(
        data[".dockerconfigjson"].0,
        wanted.config_json().expose().as_bytes()
    );
    assert_eq!(secret.metadata.resource_version, None);
    assert_eq!(secret.string_data, None);
}

#[test]
fn over_ours_others_labels_stay_and_the_version_guards() {
    let found = Secret {
        metadata: ObjectMeta {
            name: Some("ecr-credentials".into()),
            namespace: Some("team-a".into()),
            resource_version: Some("41".into()),
            labels: Some(map(&[(MANAGED_BY_LABEL, MANAGED_BY), ("team", "a")])),
            annotations: Some(map(&[
                (EXPIRES_AT_ANNOTATION, "2020-01-01T00:00:00Z"),
                ("note", "kept"),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.into()),
        data: Some(BTreeMap::from([
            (DATA_KEY.to_string(), ByteString(b"{}".to_vec())),
            ("extra".to_string(), ByteString(b"x".to_vec())),
        ])),
        ..Secret::default()
    };
    // No expiry this time: the old annotation goes, the other stays.
    let secret = secret_to_write(&wanted(None), "team-a", "ecr-credentials", Some(&found));
    assert_eq!(secret.metadata.resource_version.as_deref(), Some("41"));
    assert_eq!(
        secret.metadata.labels,
        Some(map(&[(MANAGED_BY_LABEL, MANAGED_BY), ("team", "a")]))
    );
    assert_eq!(secret.metadata.annotations, Some(map(&[("note", "kept")])));
    let keys: Vec<&String> = secret.data.as_ref().unwrap().keys().collect();
    assert_eq!(keys, [DATA_KEY], "the data is replaced whole");
    // And what was sent judges as up to date when read back.
    assert_eq!(
        wanted(None).judge(Some(&existing(&secret))),
        crate::daemon::kubernetes::pull_secret::SecretAction::UpToDate
    );
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
