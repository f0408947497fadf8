//! Kubernetes label selectors (`namespace_selector`), in the API's string
//! syntax (`kubectl get -l`, apimachinery's `labels.Parse`), so that a
//! selector tried with kubectl means the same here:
//!
//! - `key=value`, `key==value`, `key!=value` (an empty value is allowed:
//!   `key=`);
//! - `key in (a,b)`, `key notin (a,b)` (an empty item is the empty value,
//!   so `key in ()` is `key=` as in Kubernetes);
//! - `key` (the label is set), `!key` (it is not);
//! - `,` between requirements: all must hold.
//!
//! `!=` and `notin` hold for a namespace without the label, as in
//! Kubernetes. Keys and values are checked as the API server checks them
//! (`names`); `<`, `>` (numeric comparisons) are refused, as are empty
//! requirements (`a=b,`, `,`). A selector of only blanks selects
//! everything. Parsing returns the plain reason; the caller names the key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::names::{check_label_key, check_label_value};

/// The longest selector accepted.
pub const MAX_SELECTOR: usize = 4096;

/// Requirements that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// One requirement on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub test: Test,
}

/// What a requirement asks of its label's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    Exists,
    Absent,
    Equals(String),
    NotEquals(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.test {
            Test::Exists => value.is_some(),
            Test::Absent => value.is_none(),
            Test::Equals(wanted) => value == Some(wanted),
            Test::NotEquals(unwanted) => value != Some(unwanted),
            Test::In(set) => value.is_some_and(|v| set.contains(v)),
            Test::NotIn(set) => value.is_none_or(|v| !set.contains(v)),
        }
    }
}

impl LabelSelector {
    /// Parses a selector, or says what is wrong and where.
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        if text.len() > MAX_SELECTOR {
            return Err(format!(
                "the selector is {} characters long; at most {MAX_SELECTOR} are allowed",
                text.len()
            ));
        }
        let tokens = lex(text);
        let mut parser = Parser { tokens, at: 0 };
        let mut requirements = Vec::new();
        if parser.peek() == &Token::End {
            return Ok(LabelSelector { requirements });
        }
        loop {
            requirements.push(parser.requirement()?);
            match parser.next() {
                Token::End => return Ok(LabelSelector { requirements }),
                Token::Comma => {}
                other => return Err(parser.unexpected(&other, "',' or the end")),
            }
        }
    }

    /// Whether labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    Open,
    Close,
    Comma,
    Compare(char),
    End,
}

fn special(c: char) -> bool {
    c.is_whitespace() || matches!(c, '!' | '=' | ',' | '(' | ')' | '<' | '>')
}

fn lex(text: &str) -> Vec<(usize, Token)> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let followed_by_equals = chars.peek().is_some_and(|(_, c)| *c == '=');
        let token = match c {
            c if c.is_whitespace() => continue,
            '!' | '=' if followed_by_equals => {
                chars.next();
                if c == '!' {
                    Token::NotEquals
                } else {
                    Token::DoubleEquals
                }
            }
            '!' => Token::Not,
            '=' => Token::Equals,
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '<' | '>' => Token::Compare(c),
            _ => {
                let mut word = c.to_string();
                while let Some((_, c)) = chars.next_if(|(_, c)| !special(*c)) {
                    word.push(c);
                }
                Token::Word(word)
            }
        };
        tokens.push((at, token));
    }
    tokens.push((text.len(), Token::End));
    tokens
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.at).map_or(&Token::End, |(_, t)| t)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.at = (self.at + 1).min(self.tokens.len());
        token
    }

    /// The byte offset of the token last taken.
    fn offset(&self) -> usize {
        self.tokens
            .get(self.at.saturating_sub(1))
            .map_or(0, |(at, _)| *at)
    }

    fn unexpected(&self, found: &Token, expected: &str) -> String {
        let found = match found {
            Token::Word(word) => format!("{:?}", crate::printable::printable(word)),
            Token::End => "the end".into(),
            Token::Compare(c) => {
                return format!(
                    "'{c}' at character {}: numeric comparisons are not supported here",
                    self.offset() + 1
                )
            }
            other => format!("{:?}", token_text(other)),
        };
        format!(
            "expected {expected} at character {}, found {found}",
            self.offset() + 1
        )
    }

    fn key(&mut self) -> Result<String, String> {
        match self.next() {
            Token::Word(key) => {
                check_label_key(&key)?;
                Ok(key)
            }
            other => Err(self.unexpected(&other, "a label key")),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == &Token::Not {
            self.next();
            let key = self.key()?;
            return Ok(Requirement {
                key,
                test: Test::Absent,
            });
        }
        let key = self.key()?;
        let test = match self.peek().clone() {
            Token::End | Token::Comma => Test::Exists,
            Token::Equals | Token::DoubleEquals => {
                self.next();
                Test::Equals(self.value()?)
            }
            Token::NotEquals => {
                self.next();
                Test::NotEquals(self.value()?)
            }
            Token::Word(word) if word == "in" => {
                self.next();
                Test::In(self.set()?)
            }
            Token::Word(word) if word == "notin" => {
                self.next();
                Test::NotIn(self.set()?)
            }
            _ => {
                let other = self.next();
                return Err(self.unexpected(&other, "=, ==, !=, in or notin"));
            }
        };
        Ok(Requirement { key, test })
    }

    /// The value after `=`, `==` or `!=`: a word, or nothing before `,` or
    /// the end.
    fn value(&mut self) -> Result<String, String> {
        match self.peek().clone() {
            Token::End | Token::Comma => Ok(String::new()),
            Token::Word(value) => {
                self.next();
                check_label_value(&value)?;
                Ok(value)
            }
            _ => {
                let other = self.next();
                Err(self.unexpected(&other, "a label value"))
            }
        }
    }

    /// `( item, ... )`, an item being a value or nothing.
    fn set(&mut self) -> Result<BTreeSet<String>, String> {
        match self.next() {
            Token::Open => {}
            other => return Err(self.unexpected(&other, "'('")),
        }
        let mut values = BTreeSet::new();
        loop {
            let value = match self.peek().clone() {
                Token::Word(value) => {
                    self.next();
                    check_label_value(&value)?;
                    value
                }
                Token::Comma | Token::Close => String::new(),
                _ => {
                    let other = self.next();
                    return Err(self.unexpected(&other, "a label value, ',' or ')'"));
                }
            };
            values.insert(value);
            match self.next() {
                Token::Comma => {}
                Token::Close => return Ok(values),
                other => return Err(self.unexpected(&other, "',' or ')'")),
            }
        }
    }
}

fn token_text(token: &Token) -> String {
    match token {
        Token::Word(word) => word.clone(),
        Token::Not => "!".into(),
        Token::Equals => "=".into(),
        Token::DoubleEquals => "==".into(),
        Token::NotEquals => "!=".into(),
        Token::Open => "(".into(),
        Token::Close => ")".into(),
        Token::Comma => ",".into(),
        Token::Compare(c) => c.to_string(),
        Token::End => String::new(),
    }
}

/// The canonical form, which parses back to the same selector.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, requirement) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |values: &BTreeSet<String>| {
            values
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(",")
        };
        let key = &self.key;
        match &self.test {
            Test::Exists => write!(f, "{key}"),
            Test::Absent => write!(f, "!{key}"),
            Test::Equals(value) => write!(f, "{key}={value}"),
            Test::NotEquals(value) => write!(f, "{key}!={value}"),
            Test::In(values) => write!(f, "{key} in ({})", set(values)),
            Test::NotIn(values) => write!(f, "{key} notin ({})", set(values)),
        }
    }
}

#[cfg(test)]
mod tests;
