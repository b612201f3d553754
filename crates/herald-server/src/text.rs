//! Text that goes into headers, logs and one-line fields.

/// Drops control characters (so a header value cannot smuggle line breaks
/// into an email or a log), folds runs of whitespace, and caps the length.
pub(crate) fn one_line(text: &str, max_chars: usize) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .join(" ")
        .chars()
        .take(max_chars)
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_control_characters_cannot_survive() {
        assert_eq!(
            one_line("Alice\r\nBcc: evil@example.com", 100),
            "Alice Bcc: evil@example.com"
        );
        assert_eq!(one_line("  a \t\u{0} b  ", 100), "a b");
        assert_eq!(one_line("abcdef", 3), "abc");
    }
}
