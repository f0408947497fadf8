//! Server-side apply, to the extent docs/kubernetes-api.md §7
//! describes it: field ownership per manager (leaf fields; every list is
//! one atomic field, `imagePullSecrets` included), conflicts with other
//! managers as 409s naming them, `force` taking ownership, and fields a
//! manager applied before but no longer applies removed. Other writes
//! record the fields they changed under their `fieldManager`.
//! `metadata.managedFields` is not rendered.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::status::{cause, KubeError};

/// A field's path from the object root.
pub type Path = Vec<String>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: &'static str,
}

/// Who owns each field of one object.
pub type Owners = BTreeMap<Path, Owner>;

/// Fields that belong to the system, never to a manager.
fn system_field(path: &[String]) -> bool {
    let first = path.first().map(String::as_str);
    let meta = path.get(1).map(String::as_str);
    matches!(first, Some("apiVersion" | "kind" | "status"))
        || (first == Some("metadata")
            && matches!(
                meta,
                Some("name" | "namespace" | "uid" | "resourceVersion" | "creationTimestamp")
                    | Some("managedFields" | "deletionTimestamp" | "generation")
            ))
}

/// Every leaf field of `value` with its value (lists are leaves).
pub fn leaves(value: &Value) -> BTreeMap<Path, Value> {
    fn walk(value: &Value, path: &mut Path, out: &mut BTreeMap<Path, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    path.push(key.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ if system_field(path) || path.is_empty() => {}
            _ => {
                out.insert(path.clone(), value.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// `.metadata.labels.team`, as conflict messages show a field.
pub fn dotted(path: &[String]) -> String {
    path.iter().map(|p| format!(".{p}")).collect()
}

/// Records the fields a non-apply write by `manager` changed.
pub fn record_update(owners: &mut Owners, manager: &str, old: Option<&Value>, new: &Value) {
    let before = old.map(leaves).unwrap_or_default();
    let after = leaves(new);
    owners.retain(|path, _| after.contains_key(path));
    for (path, value) in after {
        if before.get(&path) != Some(&value) {
            let owner = Owner {
                manager: manager.to_string(),
                operation: "Update",
            };
            owners.insert(path, owner);
        }
    }
}

/// The 409 of an apply that would take fields other managers own.
fn conflict_error(conflicts: &[(Owner, Path)]) -> KubeError {
    let describe = |owner: &Owner| match owner.operation {
        "Update" => format!("\"{}\" using v1", owner.manager),
        _ => format!("\"{}\"", owner.manager),
    };
    let message = match conflicts {
        [(owner, path)] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            describe(owner),
            dotted(path)
        ),
        _ => {
            let lines: Vec<String> = conflicts
                .iter()
                .map(|(owner, path)| {
                    format!("conflicts with {}:\n- {}", describe(owner), dotted(path))
                })
                .collect();
            format!(
                "Apply failed with {} conflicts: {}",
                conflicts.len(),
                lines.join("\n")
            )
        }
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(owner, path)| {
            let text = format!("conflict with {}", describe(owner));
            cause("FieldManagerConflict", &text, &dotted(path))
        })
        .collect();
    KubeError {
        details: json!({"causes": causes}),
        ..KubeError::new(409, "Conflict", message)
    }
}

fn set(object: &mut Value, path: &[String], value: Value) {
    let mut current = object;
    for part in &path[..path.len() - 1] {
        if !current[part.as_str()].is_object() {
            current[part.as_str()] = json!({});
        }
        current = &mut current[part.as_str()];
    }
    current[path[path.len() - 1].as_str()] = value;
}

fn unset(object: &mut Value, path: &[String]) {
    let mut current = object;
    for part in &path[..path.len() - 1] {
        current = &mut current[part.as_str()];
    }
    if let Some(map) = current.as_object_mut() {
        map.remove(&path[path.len() - 1]);
    }
}

/// Applies `config` for `manager` over `current` (an empty object when the
/// object is new); returns the result or the conflicts' 409.
pub fn apply(
    owners: &mut Owners,
    manager: &str,
    force: bool,
    current: &Value,
    config: &Value,
) -> Result<Value, KubeError> {
    let applied = leaves(config);
    let present = leaves(current);
    let conflicts: Vec<(Owner, Path)> = applied
        .iter()
        .filter_map(|(path, value)| {
            let owner = owners.get(path).filter(|o| o.manager != manager)?;
            (present.get(path) != Some(value)).then(|| (owner.clone(), path.clone()))
        })
        .collect();
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    let mut result = current.clone();
    let dropped: Vec<Path> = owners
        .iter()
        .filter(|(path, o)| {
            o.manager == manager && o.operation == "Apply" && !applied.contains_key(*path)
        })
        .map(|(path, _)| path.clone())
        .collect();
    for path in &dropped {
        unset(&mut result, path);
        owners.remove(path);
    }
    for (path, value) in applied {
        set(&mut result, &path, value);
        let owner = Owner {
            manager: manager.to_string(),
            operation: "Apply",
        };
        owners.insert(path, owner);
    }
    for field in ["apiVersion", "kind"] {
        result[field] = config[field].clone();
    }
    Ok(result)
}
