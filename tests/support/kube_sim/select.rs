//! Label and field selectors, with the grammar and the errors of
//! docs/kubernetes-api.md §4: `!=` and `notin` also match objects
//! without the label; field selectors know only a few fields per resource.

use serde_json::Value;

use super::kinds::Resource;
use super::status::KubeError;

#[derive(Debug, PartialEq)]
enum Op {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    Absent,
    Gt,
    Lt,
}

#[derive(Debug)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed `labelSelector`; empty matches everything.
#[derive(Debug, Default)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits at commas outside parentheses.
fn split_top(text: &str) -> Vec<String> {
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

fn valid_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

fn parse_set(key: &str, rest: &str, op: Op) -> Option<Requirement> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    values.iter().all(|v| valid_value(v)).then(|| Requirement {
        key: key.to_string(),
        op,
        values,
    })
}

fn parse_requirement(text: &str) -> Option<Requirement> {
    if let Some(key) = text.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key).then(|| Requirement {
            key: key.into(),
            op: Op::Absent,
            values: vec![],
        });
    }
    for (token, op) in [(" notin ", Op::NotIn), (" in ", Op::In)] {
        if let Some((key, rest)) = text.split_once(token) {
            return parse_set(key.trim(), rest, op).filter(|r| valid_key(&r.key));
        }
    }
    for (token, op) in [
        ("!=", Op::NotEq),
        ("==", Op::Eq),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ] {
        if let Some((key, value)) = text.split_once(token) {
            let (key, value) = (key.trim(), value.trim());
            let numeric = !matches!(op, Op::Gt | Op::Lt) || value.parse::<i64>().is_ok();
            let ok = valid_key(key) && valid_value(value) && numeric;
            return ok.then(|| Requirement {
                key: key.into(),
                op,
                values: vec![value.into()],
            });
        }
    }
    valid_key(text).then(|| Requirement {
        key: text.into(),
        op: Op::Exists,
        values: vec![],
    })
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, KubeError> {
        if text.trim().is_empty() {
            return Ok(LabelSelector::default());
        }
        let requirements = split_top(text)
            .iter()
            .map(|part| {
                parse_requirement(part).ok_or_else(|| {
                    KubeError::bad_request(format!("unable to parse requirement: {part:?}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LabelSelector(requirements))
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.0.iter().all(|r| {
            let value = labels.get(&r.key).and_then(Value::as_str);
            let number = || value.and_then(|v| v.parse::<i64>().ok());
            let bound = || r.values.first().and_then(|v| v.parse::<i64>().ok());
            match r.op {
                Op::Eq | Op::In => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                Op::NotEq | Op::NotIn => value.is_none_or(|v| r.values.iter().all(|x| x != v)),
                Op::Exists => value.is_some(),
                Op::Absent => value.is_none(),
                Op::Gt => number().zip(bound()).is_some_and(|(n, b)| n > b),
                Op::Lt => number().zip(bound()).is_some_and(|(n, b)| n < b),
            }
        })
    }
}

/// A parsed `fieldSelector`: (field, equal?, value) terms, all must hold.
#[derive(Debug, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// The fields `resource` can be selected on.
fn known_fields(resource: Resource) -> &'static [&'static str] {
    match resource {
        Resource::Secrets => &["metadata.name", "metadata.namespace", "type"],
        Resource::Namespaces => &["metadata.name", "status.phase"],
        Resource::ServiceAccounts | Resource::Leases => &["metadata.name", "metadata.namespace"],
    }
}

fn unsupported(resource: Resource, field: &str) -> KubeError {
    match resource {
        Resource::ServiceAccounts | Resource::Leases => KubeError::bad_request(format!(
            "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        )),
        _ => KubeError::bad_request(format!("field label not supported: {field}")),
    }
}

impl FieldSelector {
    pub fn parse(resource: Resource, text: &str) -> Result<FieldSelector, KubeError> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                let message = format!("invalid selector: '{text}'; can't understand '{part}'");
                return Err(KubeError::bad_request(message));
            };
            if !known_fields(resource).contains(&field.trim()) {
                return Err(unsupported(resource, field.trim()));
            }
            terms.push((field.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// The name a `metadata.name=` term pins, for RBAC's resourceNames.
    pub fn name(&self) -> Option<&str> {
        let term = self
            .0
            .iter()
            .find(|(f, equal, _)| f == "metadata.name" && *equal)?;
        Some(&term.2)
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = match field.as_str() {
                "metadata.name" => &object["metadata"]["name"],
                "metadata.namespace" => &object["metadata"]["namespace"],
                "status.phase" => &object["status"]["phase"],
                _ => &object["type"],
            };
            (actual.as_str().unwrap_or("") == value) == *equal
        })
    }
}

/// Both selectors of a list or watch request.
#[derive(Debug, Default)]
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}
