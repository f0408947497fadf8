//! The three classic patch formats (docs/kubernetes-api.md §7):
//! JSON patch (RFC 6902, every failure including a failed `test` is a 422),
//! JSON merge patch (RFC 7386) and strategic merge patch, whose lists are
//! replaced whole unless the type tags them mergeable: among our resources
//! only `ServiceAccount.secrets` (merged by `name`); `imagePullSecrets` is
//! atomic, so a strategic patch replaces it whole.

use serde_json::{Map, Value};

use super::kinds::Resource;
use super::status::KubeError;

/// The error every failed JSON patch operation gives.
pub fn json_patch_failed() -> KubeError {
    KubeError::new(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    )
}

/// `/a/b~1c` → `["a", "b/c"]`.
fn pointer(path: &str) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    let rest = path.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

fn parent_of<'a>(doc: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut current = doc;
    for part in path {
        current = match current {
            Value::Object(map) => map.get_mut(part)?,
            Value::Array(list) => list.get_mut(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Option<()> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Some(());
    };
    match parent_of(doc, parent)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(list) if last == "-" => list.push(value),
        Value::Array(list) => {
            let index = last.parse::<usize>().ok().filter(|i| *i <= list.len())?;
            list.insert(index, value);
        }
        _ => return None,
    }
    Some(())
}

fn remove(doc: &mut Value, path: &[String]) -> Option<Value> {
    let (last, parent) = path.split_last()?;
    match parent_of(doc, parent)? {
        Value::Object(map) => map.remove(last),
        Value::Array(list) => {
            let index = last.parse::<usize>().ok().filter(|i| *i < list.len())?;
            Some(list.remove(index))
        }
        _ => None,
    }
}

fn get(doc: &Value, path: &[String]) -> Option<Value> {
    let mut doc = doc.clone();
    parent_of(&mut doc, path).cloned()
}

fn operation(doc: &mut Value, op: &Value) -> Option<()> {
    let path = pointer(op["path"].as_str()?)?;
    let from = || pointer(op["from"].as_str()?);
    match op["op"].as_str()? {
        "add" => add(doc, &path, op.get("value")?.clone()),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            remove(doc, &path)?;
            add(doc, &path, op.get("value")?.clone())
        }
        "move" => {
            let value = remove(doc, &from()?)?;
            add(doc, &path, value)
        }
        "copy" => {
            let value = get(doc, &from()?)?;
            add(doc, &path, value)
        }
        "test" => (get(doc, &path)? == *op.get("value")?).then_some(()),
        _ => None,
    }
}

/// RFC 6902 over `doc`; all or nothing.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, KubeError> {
    let ops = patch.as_array().ok_or_else(json_patch_failed)?;
    if ops.len() > 10_000 {
        let message = "The allowed maximum operations in a JSON patch is 10000, got 10001";
        return Err(KubeError::new(413, "RequestEntityTooLarge", message));
    }
    let mut result = doc.clone();
    for op in ops {
        operation(&mut result, op).ok_or_else(json_patch_failed)?;
    }
    Ok(result)
}

/// RFC 7386: objects merge key by key, `null` deletes, the rest replaces.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut result = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            result.remove(key);
        } else {
            let merged = merge_patch(result.get(key).unwrap_or(&Value::Null), value);
            result.insert(key.clone(), merged);
        }
    }
    Value::Object(result)
}

/// The merge key of a list at `path` of `resource`, if it is mergeable.
fn merge_key(resource: Resource, path: &[&str]) -> Option<&'static str> {
    match (resource, path) {
        (Resource::ServiceAccounts, ["secrets"]) => Some("name"),
        _ => None,
    }
}

/// Merges list `patch` into `target` by `key`; `$patch: delete` entries remove.
fn merge_list(target: &Value, patch: &[Value], key: &str) -> Value {
    let mut result: Vec<Value> = target.as_array().cloned().unwrap_or_default();
    for entry in patch {
        let id = &entry[key];
        let position = result.iter().position(|e| e[key] == *id);
        match (entry["$patch"].as_str(), position) {
            (Some("delete"), Some(i)) => drop(result.remove(i)),
            (Some("delete"), None) => {}
            (_, Some(i)) => result[i] = merge_patch(&result[i], entry),
            (_, None) => result.push(entry.clone()),
        }
    }
    Value::Array(result)
}

fn strategic_at(
    resource: Resource,
    target: &Value,
    patch: &Value,
    path: &mut Vec<String>,
) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        replaced.remove("$patch");
        return Value::Object(replaced);
    }
    let mut result = target.as_object().cloned().unwrap_or_default();
    for (key, value) in patch {
        if key.starts_with("$setElementOrder/") || key.starts_with("$retainKeys") {
            continue;
        }
        path.push(key.clone());
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        let current = result.get(key).cloned().unwrap_or(Value::Null);
        match (value, merge_key(resource, &parts)) {
            (Value::Null, _) => drop(result.remove(key)),
            (Value::Array(list), Some(merge_key)) => {
                result.insert(key.clone(), merge_list(&current, list, merge_key));
            }
            (Value::Object(_), _) => {
                result.insert(key.clone(), strategic_at(resource, &current, value, path));
            }
            _ => drop(result.insert(key.clone(), value.clone())),
        }
        path.pop();
    }
    Value::Object(result)
}

/// Strategic merge patch as the type tags of `resource` dictate.
pub fn strategic(resource: Resource, target: &Value, patch: &Value) -> Value {
    strategic_at(resource, target, patch, &mut Vec::new())
}
