//! Where a mistake in the configuration file is: byte offsets from serde's
//! `Spanned` values turned into lines, the key an error is about, and the
//! one error type of the file, `FILE:LINE: KEY: reason`. The line is that of
//! the key, of the table for a missing key, of the second one for a
//! duplicate.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

/// A mistake in the file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigFileError {
    pub path: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    /// The key, qualified by its table (`source.region`); empty for errors
    /// of the file as a whole.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Turns byte ranges of one file into [`ConfigFileError`]s.
#[derive(Debug)]
pub struct Positions {
    path: PathBuf,
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl Positions {
    pub fn new(path: &Path, text: &str) -> Positions {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Positions {
            path: path.to_path_buf(),
            starts,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }

    /// An error at `span`, about `key` (qualified: `target.url`).
    pub fn at(&self, span: Range<usize>, key: &str, reason: String) -> ConfigFileError {
        ConfigFileError {
            path: self.path.clone(),
            line: self.line(span.start),
            key: key.to_string(),
            reason,
        }
    }

    /// An error of the file as a whole (it could not be read, say).
    pub fn whole(&self, reason: String) -> ConfigFileError {
        ConfigFileError {
            path: self.path.clone(),
            line: 0,
            key: String::new(),
            reason,
        }
    }

    /// A required string key, or an error at its table's line.
    pub fn required<'v>(
        &self,
        value: &'v Option<Spanned<String>>,
        table: Range<usize>,
        key: &str,
    ) -> Result<&'v Spanned<String>, ConfigFileError> {
        match value {
            Some(value) if !value.get_ref().trim().is_empty() => Ok(value),
            Some(value) => Err(self.at(value.span(), key, "it is empty".into())),
            None => Err(self.at(table, key, "this key is required".into())),
        }
    }
}

/// The error serde and the TOML parser report, at its place.
pub(super) fn toml_error(
    positions: &Positions,
    text: &str,
    err: &toml::de::Error,
) -> ConfigFileError {
    let span = err.span().unwrap_or(0..0);
    let (named, reason) = explain_toml_error(err.message());
    positions.at(span.clone(), &key_at(text, span.start, named), reason)
}

/// serde's messages name a missing or unknown field in backquotes; pull the
/// key out so the error leads with it, and keep the rest.
fn explain_toml_error(message: &str) -> (Option<String>, String) {
    let message = message.trim();
    for lead in ["unknown field `", "missing field `"] {
        if let Some(rest) = message.strip_prefix(lead) {
            if let Some((key, _)) = rest.split_once('`') {
                let reason = if lead.starts_with("unknown") {
                    format!(
                        "unknown key{}",
                        rest.split_once(", expected")
                            .map(|(_, expected)| format!(" (expected{expected})"))
                            .unwrap_or_default()
                    )
                } else {
                    "this key is required".to_string()
                };
                return (Some(key.to_string()), reason);
            }
        }
    }
    (None, without_values(&message.replace('\n', " ")))
}

/// serde quotes the offending value, in backquotes (`invalid type: integer
/// `12345`, expected a string`) or, for a string, in double quotes with
/// Rust escapes (`invalid type: string "x", expected a sequence`); the
/// value may be a secret written in the wrong place, so it is left out:
/// the key and the line say where.
fn without_values(message: &str) -> String {
    if !message.starts_with("invalid") {
        return message.to_string();
    }
    let mut kept = String::new();
    let mut parts = message.split('`');
    while let Some(outside) = parts.next() {
        kept.push_str(outside.trim_end());
        if parts.next().is_none() {
            break;
        }
    }
    let kept = without_quoted_string(&kept);
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `message` without the Rust-escaped `"…"` after `string `.
fn without_quoted_string(message: &str) -> String {
    let Some(at) = message.find("string \"") else {
        return message.to_string();
    };
    let open = at + "string ".len();
    let mut escaped = false;
    for (offset, c) in message[open + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let close = open + 1 + offset;
                return format!("{}{}", &message[..open].trim_end(), &message[close + 1..]);
            }
            _ => {}
        }
    }
    message[..open].trim_end().to_string()
}

/// The key an error at `offset` is about, qualified by its table
/// (`target.auto_create`): `named` if serde named it, else the key written
/// on that line. Empty when the error is not at a key (a table header).
fn key_at(text: &str, offset: usize, named: Option<String>) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |at| at + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let header = |line: &str| {
        let line = line.trim();
        line.starts_with('[').then(|| {
            line.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        })
    };
    if header(line).is_some() {
        return named.unwrap_or_default();
    }
    let key = named.or_else(|| {
        line.split_once('=')
            .map(|(key, _)| key.trim().trim_matches('"').to_string())
            .filter(|key| !key.is_empty())
    });
    let Some(key) = key else {
        return String::new();
    };
    let table = text[..line_start].lines().rev().find_map(header);
    match table {
        Some(table) if !table.is_empty() => format!("{table}.{key}"),
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_on_their_line() {
        let text = "[[source]]\nname = 1\n[target] # x\n\"quoted\" = 2\n";
        assert_eq!(key_at(text, 13, None), "source.name");
        assert_eq!(key_at(text, 0, None), "");
        assert_eq!(key_at(text, 0, Some("sources".into())), "sources");
        assert_eq!(key_at(text, text.len() - 3, None), "target.quoted");
        assert_eq!(key_at("a = 1", 2, None), "a");
    }

    #[test]
    fn values_are_not_echoed() {
        let (named, reason) =
            explain_toml_error("invalid type: integer `12345`, expected a string");
        assert_eq!(named, None);
        assert_eq!(reason, "invalid type: integer, expected a string");
        for (message, kept) in [
            (
                "invalid type: string \"S3cr3t\", expected a sequence",
                "invalid type: string, expected a sequence",
            ),
            (
                r#"invalid type: string "a\"b, expected c", expected a boolean"#,
                "invalid type: string, expected a boolean",
            ),
            ("invalid type: string \"unclosed", "invalid type: string"),
        ] {
            assert_eq!(explain_toml_error(message), (None, kept.to_string()));
        }
    }

    #[test]
    fn line_index() {
        let index = Positions::new(Path::new("f"), "a\nbc\n\nd");
        assert_eq!(
            [0, 1, 2, 4, 5, 6].map(|at| index.line(at)),
            [1, 1, 2, 2, 3, 4]
        );
    }
}
