//! The syntax Kubernetes gives its names, checked as the API server checks
//! it (apimachinery's `validation` package): a Secret's or a
//! ServiceAccount's name is a DNS-1123 subdomain, a label key a qualified
//! name (an optional DNS-1123 subdomain prefix, `/`, and a name of at most
//! 63 characters), a label value at most 63 characters of that name's
//! alphabet. A name the API server would refuse is refused in the
//! configuration instead, where the error can name the file's line.
//!
//! Each check returns the plain reason; the caller names the setting.

/// The longest DNS-1123 subdomain (and so Secret or ServiceAccount name).
pub const MAX_SUBDOMAIN: usize = 253;
/// The longest label value, and the longest name part of a label key.
pub const MAX_LABEL: usize = 63;

/// A DNS-1123 subdomain: lower-case letters, digits, `-` and `.`, at most
/// 253 characters, each `.`-separated part starting and ending with a
/// letter or digit.
pub fn check_subdomain(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.len() > MAX_SUBDOMAIN {
        return Err(format!(
            "it is {} characters long; a Kubernetes name has at most {MAX_SUBDOMAIN}",
            text.len()
        ));
    }
    let part_ok = |part: &str| {
        let bytes = part.as_bytes();
        let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        edge(bytes.first())
            && edge(bytes.last())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    };
    if !text.split('.').all(part_ok) {
        return Err(format!(
            "{:?} is not a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit (e.g. ecr-credentials)",
            crate::printable::printable(text)
        ));
    }
    Ok(())
}

/// A DNS-1123 label (a namespace's name): a subdomain without `.`, at most
/// 63 characters.
pub fn check_dns_label(text: &str) -> Result<(), String> {
    if text.contains('.') || text.len() > MAX_LABEL {
        return Err(format!(
            "{:?} is not a DNS-1123 label: at most {MAX_LABEL} lower-case letters, digits \
             and '-', starting and ending with a letter or digit",
            crate::printable::printable(text)
        ));
    }
    check_subdomain(text)
}

/// Letters, digits, `-`, `_` and `.`, starting and ending with a letter or
/// digit, at most 63 characters: a label value if not empty, and the name
/// part of a label key.
fn check_label_name(text: &str, what: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    if bytes.len() > MAX_LABEL {
        return Err(format!(
            "{what} is {} characters long; at most {MAX_LABEL} are allowed",
            bytes.len()
        ));
    }
    let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    let inner = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !(alnum(bytes.first()) && alnum(bytes.last()) && bytes.iter().all(inner)) {
        return Err(format!(
            "{what} {:?} must be letters, digits, '-', '_' and '.', starting and ending \
             with a letter or digit",
            crate::printable::printable(text)
        ));
    }
    Ok(())
}

/// A label key: `name` or `prefix/name`, the prefix a DNS-1123 subdomain.
pub fn check_label_key(text: &str) -> Result<(), String> {
    let (prefix, name) = match text.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, text),
    };
    if let Some(prefix) = prefix {
        check_subdomain(prefix)
            .map_err(|reason| format!("the prefix of label key {text:?}: {reason}"))?;
    }
    if name.is_empty() {
        return Err(format!(
            "label key {:?} has no name",
            crate::printable::printable(text)
        ));
    }
    check_label_name(name, "the label key's name")
}

/// A label value: empty, or a label name.
pub fn check_label_value(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    check_label_name(text, "the label value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        for good in ["a", "ecr-credentials", "a.b-c.d0", &"a".repeat(253)] {
            assert_eq!(check_subdomain(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "A",
            "-a",
            "a-",
            "a..b",
            "a_b",
            ".a",
            "a/b",
            &"a".repeat(254),
        ] {
            assert!(check_subdomain(bad).is_err(), "{bad}");
        }
        assert!(check_dns_label("a.b").is_err());
        assert!(check_dns_label(&"a".repeat(64)).is_err());
        assert_eq!(check_dns_label("kube-system"), Ok(()));
    }

    #[test]
    fn label_keys_and_values() {
        for good in [
            "app",
            "app.kubernetes.io/managed-by",
            "field.cattle.io/projectId",
            "A_b.c",
        ] {
            assert_eq!(check_label_key(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "Example.com/a",
            "a/b/c",
            "-a",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(check_label_key(bad).is_err(), "{bad}");
        }
        for good in ["", "p-xyz34", "v1.2_3"] {
            assert_eq!(check_label_value(good), Ok(()), "{good}");
        }
        for bad in ["-", "a b", "é", &"a".repeat(64)] {
            assert!(check_label_value(bad).is_err(), "{bad}");
        }
    }
}
