//! What the apiserver does to a body before storing it: defaulting, the
//! per-resource rules (Secrets above all) and the 422s they give
//! (docs/kubernetes-api.md §8 to §11).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::kinds::Resource;
use super::status::KubeError;

const MAX_SECRET_BYTES: usize = 1_048_576;
const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";

/// One validation error: field, message, cause reason.
type FieldError = (String, String, &'static str);

fn err(field: &str, message: String, reason: &'static str) -> FieldError {
    (field.to_string(), message, reason)
}

/// Defaults and validates `object` (a create when `old` is `None`).
pub fn admit(
    resource: Resource,
    mut object: Value,
    old: Option<&Value>,
) -> Result<Value, KubeError> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let errors = match resource {
        Resource::Secrets => secret(&mut object, old)?,
        Resource::ServiceAccounts => service_account(&mut object),
        Resource::Namespaces => namespace(&mut object, old),
        Resource::Leases => lease(&object)?,
    };
    match errors.is_empty() {
        true => Ok(object),
        false => Err(KubeError::invalid(resource, &name, &errors)),
    }
}

/// Merges `stringData` into `data` and checks the data's base64.
fn merge_string_data(object: &mut Value) -> Result<(), KubeError> {
    let string_data = object.as_object_mut().and_then(|o| o.remove("stringData"));
    let mut data = object["data"].as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(string_data)) = string_data {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or("");
            data.insert(key, json!(STANDARD.encode(text)));
        }
    }
    for value in data.values() {
        let text = value.as_str().unwrap_or("");
        if STANDARD.decode(text).is_err() {
            let message = format!("illegal base64 data in Secret data: {text:?}");
            return Err(KubeError::bad_request(message));
        }
    }
    if !data.is_empty() || !object["data"].is_null() {
        object["data"] = Value::Object(data);
    }
    Ok(())
}

fn decoded(data: &Map<String, Value>, key: &str) -> Option<Vec<u8>> {
    STANDARD.decode(data.get(key)?.as_str()?).ok()
}

fn secret(object: &mut Value, old: Option<&Value>) -> Result<Vec<FieldError>, KubeError> {
    merge_string_data(object)?;
    if object["type"].as_str().unwrap_or("").is_empty() {
        object["type"] = json!("Opaque");
    }
    let data = object["data"].as_object().cloned().unwrap_or_default();
    let kind = object["type"].as_str().unwrap_or("").to_string();
    let mut errors = Vec::new();
    for key in data.keys() {
        let ok = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if !ok {
            let message = format!("Invalid value: {key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
            errors.push(err("data", message, "FieldValueInvalid"));
        }
    }
    let size: usize = data
        .keys()
        .filter_map(|k| decoded(&data, k))
        .map(|v| v.len())
        .sum();
    if size > MAX_SECRET_BYTES {
        let message = format!("Too long: may not be more than {MAX_SECRET_BYTES} bytes");
        errors.push(err("data", message, "FieldValueTooLong"));
    }
    if kind == DOCKER_CONFIG_JSON {
        let field = "data[.dockerconfigjson]";
        match decoded(&data, ".dockerconfigjson") {
            None => errors.push(err(field, "Required value".into(), "FieldValueRequired")),
            Some(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(_)) => {}
                Ok(_) => errors.push(err(field, "Invalid value: \"<secret contents redacted>\": json: cannot unmarshal into Go value of type credentialprovider.DockerConfigJSON".into(), "FieldValueInvalid")),
                Err(e) => errors.push(err(field, format!("Invalid value: \"<secret contents redacted>\": {e}"), "FieldValueInvalid")),
            },
        }
    }
    if let Some(old) = old {
        errors.extend(secret_update(object, old));
    }
    Ok(errors)
}

fn secret_update(object: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if object["type"] != old["type"] {
        let message = format!("Invalid value: {}: field is immutable", object["type"]);
        errors.push(err("type", message, "FieldValueInvalid"));
    }
    if old["immutable"] == true {
        if object["data"] != old["data"] {
            let message = "Forbidden: field is immutable when `immutable` is set".to_string();
            errors.push(err("data", message, "FieldValueForbidden"));
        }
        if object["immutable"] != true {
            let message = "Forbidden: field is immutable when `immutable` is set".to_string();
            errors.push(err("immutable", message, "FieldValueForbidden"));
        }
    }
    errors
}

/// `secrets[]` entries are cut to their name; nothing else is checked.
fn service_account(object: &mut Value) -> Vec<FieldError> {
    if let Some(secrets) = object["secrets"].as_array_mut() {
        for entry in secrets.iter_mut() {
            *entry = json!({"name": entry["name"]});
        }
    }
    Vec::new()
}

/// The name label, and status and finalizers that only the system sets.
fn namespace(object: &mut Value, old: Option<&Value>) -> Vec<FieldError> {
    let name = object["metadata"]["name"].clone();
    if !object["metadata"]["labels"].is_object() {
        object["metadata"]["labels"] = json!({});
    }
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    match old {
        Some(old) => {
            object["status"] = old["status"].clone();
            object["spec"] = old["spec"].clone();
            object["metadata"]["deletionTimestamp"] = old["metadata"]["deletionTimestamp"].clone();
            if object["metadata"]["deletionTimestamp"].is_null() {
                object["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("deletionTimestamp"));
            }
        }
        None => {
            object["status"] = json!({"phase": "Active"});
            object["spec"] = json!({"finalizers": ["kubernetes"]});
        }
    }
    Vec::new()
}

/// MicroTime: RFC 3339, UTC, exactly six fractional digits.
fn micro_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits =
        |range: std::ops::Range<usize>| range.into_iter().all(|i| bytes[i].is_ascii_digit());
    bytes.len() == 27
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19] == b'.'
        && digits(20..26)
        && bytes[26] == b'Z'
}

fn lease(object: &Value) -> Result<Vec<FieldError>, KubeError> {
    let spec = &object["spec"];
    for field in ["acquireTime", "renewTime"] {
        if let Some(text) = spec[field].as_str() {
            if !micro_time(text) {
                let message = format!("Lease in version \"v1\" cannot be handled as a Lease: parsing time {text:?} as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse");
                return Err(KubeError::bad_request(message));
            }
        }
    }
    let mut errors = Vec::new();
    if let Some(seconds) = spec["leaseDurationSeconds"].as_i64().filter(|s| *s <= 0) {
        let message = format!("Invalid value: {seconds}: must be greater than 0");
        errors.push(err(
            "spec.leaseDurationSeconds",
            message,
            "FieldValueInvalid",
        ));
    }
    if let Some(transitions) = spec["leaseTransitions"].as_i64().filter(|t| *t < 0) {
        let message = format!("Invalid value: {transitions}: must be greater than or equal to 0");
        errors.push(err("spec.leaseTransitions", message, "FieldValueInvalid"));
    }
    Ok(errors)
}
