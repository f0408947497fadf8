//! Text from peers made safe to print and to keep: a Rancher error message
//! or an AWS message can hold newlines (which would forge a log line in the
//! text format) or be megabytes long (which `/healthz` would keep). Every
//! such text passes through [`printable`] before it is logged or stored.

/// The longest peer-derived text kept or printed, in bytes.
pub const MAX_TEXT: usize = 2048;

/// `text` on one line, control characters escaped (`\n`, `\u{1b}`), cut
/// at `MAX_TEXT` bytes on a character boundary.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT));
    for c in text.chars() {
        if out.len() >= MAX_TEXT {
            out.push_str("… (truncated)");
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push(' '),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_and_bounded() {
        assert_eq!(
            printable("bad\nlevel=info msg=forged\u{1b}[31m"),
            "bad\\nlevel=info msg=forged\\u{1b}[31m"
        );
        let long = "é".repeat(MAX_TEXT);
        let kept = printable(&long);
        assert!(
            kept.len() <= MAX_TEXT + "… (truncated)".len() + 1,
            "{}",
            kept.len()
        );
        assert!(kept.ends_with("(truncated)"));
        assert_eq!(printable("plain"), "plain");
    }
}
