//! Tests of the ServiceAccount patch: each patch is applied by a small
//! RFC 6902 applier (the API server's part), so what it does is checked,
//! as well as how it reads, including that it fails once the list changed.

use serde_json::{json, Value};

use super::*;

/// Applies the operations `change_for` makes (`test`, `add`) to `doc`, as
/// RFC 6902 says, or fails as the API server would (422).
fn apply(doc: &Value, patch: &Value) -> Result<Value, String> {
    let mut doc = doc.clone();
    for op in patch.as_array().ok_or("a patch is a list")? {
        let path = op["path"].as_str().ok_or("no path")?;
        let (parent, last) = path.rsplit_once('/').ok_or("a path starts with /")?;
        let target = if parent.is_empty() {
            Some(&mut doc)
        } else {
            doc.pointer_mut(parent)
        };
        let target = target.ok_or(format!("{parent} does not exist"))?;
        match op["op"].as_str() {
            Some("test") => match target.get(last) {
                Some(found) if found == &op["value"] => {}
                _ => return Err(format!("test of {path} failed")),
            },
            Some("add") => match (target, last) {
                (Value::Array(list), "-") => list.push(op["value"].clone()),
                (Value::Object(map), member) => {
                    map.insert(member.to_string(), op["value"].clone());
                }
                _ => return Err(format!("cannot add at {path}")),
            },
            other => return Err(format!("unexpected op {other:?}")),
        }
    }
    Ok(doc)
}

fn account(pull_secrets: Option<Value>) -> Value {
    let mut account = json!({"metadata": {"name": "default", "resourceVersion": "41"}});
    if let Some(list) = pull_secrets {
        account["imagePullSecrets"] = list;
    }
    account
}

/// The patch for `account`, applied to it.
fn patched(account: &Value) -> Value {
    let change = change_for(account.get("imagePullSecrets"), "41", "ecr").unwrap();
    let PullSecretsChange::Patch(patch) = change else {
        panic!("expected a patch for {account}");
    };
    apply(account, &patch).unwrap_or_else(|err| panic!("{err}: {patch}"))
}

#[test]
fn every_shape_of_the_field_gets_our_entry_once() {
    for (before, after) in [
        (None, json!([{"name": "ecr"}])),
        (Some(Value::Null), json!([{"name": "ecr"}])),
        (Some(json!([])), json!([{"name": "ecr"}])),
        (
            Some(json!([{"name": "other"}, {"name": "x", "extra": 1}])),
            json!([{"name": "other"}, {"name": "x", "extra": 1}, {"name": "ecr"}]),
        ),
    ] {
        let account = account(before.clone());
        let result = patched(&account);
        assert_eq!(result["imagePullSecrets"], after, "{before:?}");
        assert_eq!(result["metadata"], account["metadata"]);
        let again = change_for(result.get("imagePullSecrets"), "42", "ecr").unwrap();
        assert_eq!(again, PullSecretsChange::UpToDate, "{before:?}");
    }
}

#[test]
fn the_patch_reads_as_documented() {
    let change = change_for(Some(&json!([{"name": "a"}])), "7", "ecr").unwrap();
    assert_eq!(
        change,
        PullSecretsChange::Patch(json!([
            {"op": "test", "path": "/imagePullSecrets", "value": [{"name": "a"}]},
            {"op": "add", "path": "/imagePullSecrets/-", "value": {"name": "ecr"}},
        ]))
    );
    let change = change_for(None, "7", "ecr").unwrap();
    assert_eq!(
        change,
        PullSecretsChange::Patch(json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "add", "path": "/imagePullSecrets", "value": [{"name": "ecr"}]},
        ]))
    );
}

#[test]
fn a_patch_decided_on_a_stale_read_fails() {
    for (read, now) in [
        (None, account(Some(json!([{"name": "theirs"}])))),
        (Some(json!([])), account(Some(json!([{"name": "theirs"}])))),
        (Some(json!([{"name": "a"}])), account(Some(json!([])))),
        (Some(json!([{"name": "a"}])), account(None)),
        (Some(Value::Null), account(Some(json!([{"name": "b"}])))),
    ] {
        let PullSecretsChange::Patch(patch) = change_for(read.as_ref(), "41", "ecr").unwrap()
        else {
            panic!("a patch");
        };
        let mut now = now;
        now["metadata"]["resourceVersion"] = json!("42");
        assert!(apply(&now, &patch).is_err(), "{read:?} then {now}");
    }
}

#[test]
fn present_entries_and_odd_shapes() {
    let list = json!([{"name": "a"}, "odd", {"name": "ecr"}]);
    assert_eq!(
        change_for(Some(&list), "1", "ecr"),
        Ok(PullSecretsChange::UpToDate)
    );
    let err = change_for(Some(&json!({"name": "ecr"})), "1", "ecr").unwrap_err();
    assert_eq!(
        err.to_string(),
        "its imagePullSecrets is an object, not a list: left as it is"
    );
    assert!(change_for(Some(&json!("ecr")), "1", "ecr").is_err());
    assert!(retryable(409) && retryable(422) && !retryable(500) && !retryable(404));
}
