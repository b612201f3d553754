//! What `herald` writes to the terminal: items, status lines, details.
//!
//! Titles, messages and labels come from a server (or an agent relaying
//! one), so anything printed as text is stripped of control characters first:
//! an ESC sequence in a title must not repaint the user's terminal, and a
//! bidi override must not make a line read differently from what it holds.
//! JSON output needs no such care (serde escapes every control character).

use std::borrow::Cow;

use anyhow::anyhow;
use herald_core::inbox::Item;
use serde_json::Value;

/// Whether `c` would steer the terminal rather than be shown.
fn steers(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without control characters; a line break or tab becomes a space,
/// so one item stays one line.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(steers) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .filter_map(|c| match c {
                '\n' | '\r' | '\t' => Some(' '),
                c if steers(c) => None,
                c => Some(c),
            })
            .collect(),
    )
}

/// One history item: a JSON line, or the one-line text form.
pub fn print_item(item: &Item, json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(item)?)?;
    } else {
        let mark = if item.read { ' ' } else { '*' };
        writeln!(
            out,
            "{mark}{:>6}  {}  [{}] {}: {}",
            item.id,
            clean(&item.created_at),
            clean(&item.kind),
            clean(&item.title),
            clean(&item.message)
        )?;
    }
    Ok(())
}

/// What "View Details" points at: the details on stderr, and the event's URL
/// with the opener ([`herald_core::opener`]) when `open_url`.
pub fn details(item: &Item, url: Option<&str>, open_url: bool) {
    eprintln!(
        "details: #{} [{}] {}: {}",
        item.id,
        clean(&item.kind),
        clean(&item.title),
        clean(&item.message)
    );
    let Some(url) = url else { return };
    eprintln!("open: {}", clean(url));
    if !open_url {
        return;
    }
    if let Err(e) = herald_core::opener::open(url) {
        eprintln!("warning: {}", clean(&e.to_string()));
    }
}

/// Prints the changes of a status (the JSON of `herald_ipc::view::StatusView`)
/// as `listen` shows them: the label when it changes, each new warning once,
/// the count of refused events when it grows.
#[derive(Debug, Default)]
pub struct StatusLines {
    last_label: String,
    warned: usize,
    rejected: u64,
}

impl StatusLines {
    /// Shows `status`; an error when it says the user is signed out (then
    /// `listen` ends with it).
    pub fn show(&mut self, status: &Value) -> anyhow::Result<()> {
        let label = clean(status["label"].as_str().unwrap_or("unknown")).into_owned();
        if label != self.last_label {
            let server = status["server"].as_str().unwrap_or("-");
            eprintln!("status: {label} ({})", clean(server));
            self.last_label.clone_from(&label);
        }
        let warnings = status["warnings"].as_array().map_or(&[][..], Vec::as_slice);
        for warning in warnings.iter().skip(self.warned) {
            eprintln!("warning: {}", clean(warning.as_str().unwrap_or_default()));
        }
        self.warned = warnings.len();
        let rejected = status["rejectedEvents"].as_u64().unwrap_or(0);
        if rejected > self.rejected {
            eprintln!("warning: {rejected} malformed event(s) refused so far");
            self.rejected = rejected;
        }
        if status["state"]["kind"] == "signedOut" {
            return Err(anyhow!("{label}: run `herald login` again"));
        }
        Ok(())
    }

    /// Forgets what was shown: a new engine's status is shown in full.
    pub fn reset(&mut self) {
        *self = StatusLines::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("Order 1 shipped"), "Order 1 shipped");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
        assert_eq!(clean("\u{1b}[2J\u{1b}]0;pwned\u{7}hi"), "[2J]0;pwnedhi");
        assert_eq!(clean("two\nlines\tand\r"), "two lines and ");
        assert_eq!(clean("abc\u{202E}fed\u{9b}31m"), "abcfed31m");
    }

    #[test]
    fn signed_out_ends_and_labels_print_once() {
        let mut lines = StatusLines::default();
        let connected = serde_json::json!({
            "label": "Connected", "server": "http://x", "warnings": ["w"],
            "rejectedEvents": 0, "state": {"kind": "connected"},
        });
        assert!(lines.show(&connected).is_ok());
        assert_eq!(lines.warned, 1);
        let out = serde_json::json!({
            "label": "Signed out", "server": "http://x", "warnings": [],
            "rejectedEvents": 0, "state": {"kind": "signedOut", "reason": "notSignedIn"},
        });
        let e = lines.show(&out).expect_err("signed out ends listen");
        assert!(e.to_string().starts_with("Signed out: run"), "{e}");
    }
}
