//! Namespace name patterns (`namespaces`, `exclude_namespaces`), in the
//! shell's glob syntax, cut to what a namespace name can hold:
//!
//! - `*` any run of characters, the empty one too;
//! - `?` any one character;
//! - `[abc]`, `[a-z0-9]` one of a set (ranges by `-`; a `-` first or last
//!   is itself), `[!a-z]` one character not in it;
//! - anything else is itself, and must be what a namespace name holds
//!   (lower-case letters, digits, `-`).
//!
//! There is no escape: no namespace name holds `*`, `?`, `[` or `]`. A
//! pattern that could match no namespace (an upper-case letter, a `.`, an
//! unclosed `[`, more than 63 fixed characters) is a mistake in the
//! configuration, refused with the reason, never a pattern that silently
//! serves nothing.

use std::fmt;

/// The longest pattern accepted.
pub const MAX_PATTERN: usize = 253;

/// A parsed namespace pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(u8),
    AnyOne,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Token {
    fn matches(&self, byte: u8) -> bool {
        match self {
            Token::Literal(literal) => *literal == byte,
            Token::AnyOne => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                ranges
                    .iter()
                    .any(|(low, high)| (*low..=*high).contains(&byte))
                    != *negated
            }
        }
    }
}

/// A character a namespace name may hold.
fn in_alphabet(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn outside_alphabet(c: char) -> String {
    format!(
        "{:?} cannot be in a namespace name (lower-case letters, digits and '-'); \
         patterns take * ? and [...]",
        crate::printable::printable(&c.to_string())
    )
}

impl Glob {
    /// Parses a pattern, or says why it can match no namespace.
    pub fn parse(text: &str) -> Result<Glob, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the pattern is empty".into());
        }
        if text.len() > MAX_PATTERN {
            return Err(format!(
                "the pattern is {} characters long; at most {MAX_PATTERN} are allowed",
                text.len()
            ));
        }
        let mut tokens = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' if tokens.last() == Some(&Token::AnyRun) => continue,
                '*' => Token::AnyRun,
                '?' => Token::AnyOne,
                '[' => class(&mut chars)?,
                c if in_alphabet(c) => Token::Literal(c as u8),
                c => return Err(outside_alphabet(c)),
            });
        }
        let fixed = tokens.iter().filter(|t| **t != Token::AnyRun).count();
        if fixed > super::names::MAX_LABEL {
            return Err(format!(
                "the pattern needs {fixed} characters, but a namespace name has at most {}",
                super::names::MAX_LABEL
            ));
        }
        Ok(Glob {
            text: text.to_string(),
            tokens,
        })
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.as_bytes();
        let (mut at, mut next) = (0, 0);
        // The last `*` seen, and where in the name its run would end next.
        let mut star: Option<(usize, usize)> = None;
        while at < name.len() {
            match self.tokens.get(next) {
                Some(Token::AnyRun) => {
                    star = Some((next, at));
                    next += 1;
                }
                Some(token) if token.matches(name[at]) => {
                    next += 1;
                    at += 1;
                }
                _ => match star {
                    Some((star_token, run_end)) => {
                        next = star_token + 1;
                        at = run_end + 1;
                        star = Some((star_token, run_end + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[next..].iter().all(|t| *t == Token::AnyRun)
    }

    /// The pattern as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The rest of a `[...]` after its `[`.
fn class(chars: &mut std::str::Chars<'_>) -> Result<Token, String> {
    let mut body: Vec<char> = Vec::new();
    loop {
        match chars.next() {
            Some(']') => break,
            Some(c) => body.push(c),
            None => return Err("a '[' is not closed by ']'".into()),
        }
    }
    let negated = body.first() == Some(&'!');
    let body = if negated { &body[1..] } else { &body[..] };
    if body.is_empty() {
        return Err("a [...] is empty: it would match nothing".into());
    }
    if let Some(c) = body.iter().copied().find(|c| !in_alphabet(*c)) {
        return Err(outside_alphabet(c));
    }
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let low = body[at] as u8;
        if at + 2 < body.len() && body[at + 1] == '-' {
            let high = body[at + 2] as u8;
            if high < low {
                return Err(format!(
                    "the range {}-{} in [...] is backwards",
                    low as char, high as char
                ));
            }
            ranges.push((low, high));
            at += 3;
        } else {
            ranges.push((low, low));
            at += 1;
        }
    }
    Ok(Token::Class { negated, ranges })
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(text: &str) -> Glob {
        Glob::parse(text).unwrap()
    }

    #[test]
    fn stars_and_marks() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "teams", false),
            ("*-prod", "eu-prod", true),
            ("*-prod", "eu-prod-x", false),
            ("a*b*c", "aXbYbd", false),
            ("a*b*c", "abbbc", true),
            ("a*b*c", "ab", false),
            ("?", "a", true),
            ("?", "", false),
            ("??-*", "eu-west", true),
            ("kube-system", "kube-system", true),
            ("kube-system", "kube-systems", false),
            ("**a", "a", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(glob(pattern).matches(name), expected, "{pattern} {name}");
        }
    }

    #[test]
    fn classes() {
        let cases = [
            ("team-[ab]", "team-a", true),
            ("team-[ab]", "team-c", false),
            ("[a-c]*", "cats", true),
            ("[a-c]*", "dogs", false),
            ("[!a-c]*", "dogs", true),
            ("[!a-c]*", "cats", false),
            ("x[-z]", "x-", true),
            ("x[z-]", "x-", true),
            ("x[0-9a-f]", "x7", true),
            ("[!]", "!", false),
        ];
        for (pattern, name, expected) in cases {
            if pattern == "[!]" {
                assert!(Glob::parse(pattern).is_err());
                continue;
            }
            assert_eq!(glob(pattern).matches(name), expected, "{pattern} {name}");
        }
    }

    #[test]
    fn patterns_that_match_nothing_are_refused() {
        for (bad, says) in [
            ("", "empty"),
            ("  ", "empty"),
            ("Prod", "\"P\""),
            ("a.b", "\".\""),
            ("a/b", "\"/\""),
            ("[ab", "not closed"),
            ("[]", "empty"),
            ("[z-a]", "backwards"),
            ("[A-Z]", "\"A\""),
            ("a]", "\"]\""),
            (&"a".repeat(64), "at most 63"),
            (&"*".repeat(254), "at most 253"),
        ] {
            let err = Glob::parse(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(glob(" team-* ").as_str(), "team-*");
        assert_eq!(glob(&format!("{}*", "a".repeat(63))).to_string().len(), 64);
    }
}
