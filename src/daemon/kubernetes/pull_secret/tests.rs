//! Tests of the pull Secret: its exact contents, and the judgement of one
//! found in a namespace.

use std::time::{Duration, UNIX_EPOCH};

use super::*;

const TOKEN: &str = "eyJwYXlsb2FkIjoiVG9wU2VjcmV0In0=";

fn host(text: &str) -> RegistryHost {
    RegistryHost::parse(text).unwrap()
}

fn rendered() -> PullSecret {
    let eu = host("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/");
    let us = host("123456789012.dkr.ecr.us-east-1.amazonaws.com");
    let password = Secret::new(TOKEN);
    let other = Secret::new("second");
    let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
    PullSecret::render(&[
        Login {
            host: &eu,
            username: "AWS",
            password: &password,
            expires_at: at(1_700_000_000),
        },
        Login {
            host: &us,
            username: "AWS",
            password: &other,
            expires_at: at(1_600_000_000),
        },
        Login {
            host: &eu,
            username: "AWS",
            password: &other,
            expires_at: None,
        },
    ])
}

fn existing(secret: &PullSecret) -> ExistingSecret {
    ExistingSecret {
        labels: secret.labels.clone(),
        annotations: secret.annotations.clone(),
        secret_type: Some(SECRET_TYPE.into()),
        data: BTreeMap::from([(
            DATA_KEY.to_string(),
            secret.config_json().expose().as_bytes().to_vec(),
        )]),
    }
}

#[test]
fn the_contents_are_exactly_the_logins() {
    let secret = rendered();
    let json: Value = serde_json::from_str(secret.config_json().expose()).unwrap();
    let basic = |password: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"))
    };
    assert_eq!(
        json,
        json!({"auths": {
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com": {
                "username": "AWS", "password": TOKEN, "auth": basic(TOKEN),
            },
            "123456789012.dkr.ecr.us-east-1.amazonaws.com": {
                "username": "AWS", "password": "second", "auth": basic("second"),
            },
        }})
    );
    assert_eq!(secret.hosts.len(), 2);
    assert_eq!(
        secret.labels,
        BTreeMap::from([(MANAGED_BY_LABEL.into(), MANAGED_BY.into())])
    );
    assert_eq!(
        secret.annotations,
        BTreeMap::from([(
            EXPIRES_AT_ANNOTATION.into(),
            "2020-09-13T12:26:40Z".to_string()
        )])
    );
    let empty = PullSecret::render(&[]);
    assert_eq!(empty.config_json().expose(), r#"{"auths":{}}"#);
    assert!(empty.annotations.is_empty() && empty.expires_at.is_none());
}

#[test]
fn no_debug_shows_a_token() {
    let secret = rendered();
    let shown = format!("{secret:?} {:?}", existing(&secret));
    assert!(
        !shown.contains(TOKEN) && !shown.contains("second"),
        "{shown}"
    );
    assert!(!shown.contains(&basic_of_token()), "{shown}");
    assert!(shown.contains(DATA_KEY), "{shown}");
}

fn basic_of_token() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("AWS:{TOKEN}"))
}

#[test]
fn ours_up_to_date_writes_nothing() {
    let secret = rendered();
    assert_eq!(secret.judge(None), SecretAction::Create);
    let mut found = existing(&secret);
    assert_eq!(secret.judge(Some(&found)), SecretAction::UpToDate);
    // Another writer's key order and whitespace, others' labels: still ours, still the same.
    let value: Value = serde_json::from_str(secret.config_json().expose()).unwrap();
    found
        .data
        .insert(DATA_KEY.into(), serde_json::to_vec_pretty(&value).unwrap());
    found.labels.insert("team".into(), "a".into());
    found.annotations.insert("note".into(), "kept".into());
    assert_eq!(secret.judge(Some(&found)), SecretAction::UpToDate);
}

#[test]
fn ours_with_other_contents_is_updated_or_recreated() {
    let secret = rendered();
    let mut stale = existing(&secret);
    stale
        .data
        .insert(DATA_KEY.into(), b"{\"auths\":{}}".to_vec());
    assert_eq!(secret.judge(Some(&stale)), SecretAction::Update);
    let mut extra_key = existing(&secret);
    extra_key.data.insert("other".into(), b"x".to_vec());
    assert_eq!(secret.judge(Some(&extra_key)), SecretAction::Update);
    let mut garbage = existing(&secret);
    garbage.data.insert(DATA_KEY.into(), b"not json".to_vec());
    assert_eq!(secret.judge(Some(&garbage)), SecretAction::Update);
    let mut new_expiry = existing(&secret);
    new_expiry.annotations.clear();
    assert_eq!(secret.judge(Some(&new_expiry)), SecretAction::Update);
    let mut opaque = existing(&secret);
    opaque.secret_type = None;
    assert_eq!(secret.judge(Some(&opaque)), SecretAction::Recreate);
}

#[test]
fn a_secret_without_our_label_is_foreign() {
    let secret = rendered();
    let mut unlabelled = existing(&secret);
    unlabelled.labels.clear();
    assert_eq!(
        secret.judge(Some(&unlabelled)),
        SecretAction::Foreign { managed_by: None }
    );
    let mut helm = existing(&secret);
    helm.labels.insert(MANAGED_BY_LABEL.into(), "Helm\n".into());
    assert_eq!(
        secret.judge(Some(&helm)),
        SecretAction::Foreign {
            managed_by: Some("Helm\\n".into())
        }
    );
    let conflict = SecretConflict::new("team-a", "ecr-credentials", None);
    assert_eq!(
        conflict.to_string(),
        "Secret team-a/ecr-credentials exists and is not managed by rancher-ecr-credentials \
         (it has no label app.kubernetes.io/managed-by=rancher-ecr-credentials): it is left \
         as it is; delete it, or set the target's secret_name to another name"
    );
    let conflict = SecretConflict::new("team-a", "x", Some("Helm"));
    assert!(conflict
        .to_string()
        .contains("its label app.kubernetes.io/managed-by is \"Helm\""));
}
