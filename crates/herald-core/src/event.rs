//! Decoding of server events into [`Incoming`] items, leniently.
//!
//! herald-server sends the full envelope. The seed's Node stack sends smaller
//! shapes (`order_update` is only `{orderId, status}`), so missing titles and
//! messages are written from the data. Anything that is not an object, or has
//! no text at all, is refused with a [`DecodeError`] that the engine counts.
//!
//! Every field has a cap, so a hostile or broken server cannot fill the
//! inbox, the toasts or the logs with megabytes per event. An event over a
//! cap is still kept (an event must never be lost for one oversized field):
//! text is cut, a field that cannot be cut meaningfully (a link, the data) is
//! dropped, and [`Incoming::truncated`] says so.

use herald_proto::{EventType, Severity};
use serde_json::{Map, Value};

/// Longest title kept, in characters; longer ones are cut with an ellipsis.
pub const MAX_TITLE: usize = 200;
/// Longest message kept, in characters.
pub const MAX_MESSAGE: usize = 2000;
/// Longest type kept, in bytes; a longer one is cut. The contract's longest
/// is 18 (`login_notification`); 64 leaves room for other servers' names
/// while keeping a hostile one short in rule lookups, summaries and logs.
pub const MAX_KIND: usize = 64;
/// Longest link kept, in bytes: herald-server's own cap on an event's `url`.
/// A longer one is dropped, not cut: a cut link leads somewhere else.
pub const MAX_URL: usize = 2048;
/// Longest `createdAt` looked at, in bytes. RFC 3339 with nanoseconds and an
/// offset is 35; a longer one (chrono reads any number of fraction digits)
/// is treated like an unreadable one: the time it arrived is used instead.
pub const MAX_CREATED_AT: usize = 64;
/// Largest `data` kept, in bytes of compact JSON: herald-server refuses an
/// event body over 64 KiB, so its events always fit; larger data is dropped
/// (replaced by `{}`), since a cut JSON value means nothing.
pub const MAX_DATA: usize = 64 * 1024;

/// An event as received, before it has an inbox id.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The server's id; `None` from a server that assigns none (the seed).
    pub server_id: Option<u64>,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub url: Option<String>,
    pub severity: Severity,
    /// RFC 3339.
    pub created_at: String,
    pub data: Value,
    /// Read on another device (catch-up items carry it; live events are unread).
    pub read: bool,
    /// Whether a field was cut or dropped to fit its cap (`MAX_*`).
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the {event} payload is not a JSON object")]
    NotAnObject { event: String },
    #[error("the {event} payload has neither a title nor a message")]
    NoText { event: String },
}

/// Keys of the envelope itself; the rest of a seed-style payload is its data.
const ENVELOPE_KEYS: &[&str] = &[
    "id",
    "type",
    "title",
    "message",
    "createdAt",
    "url",
    "severity",
    "data",
    "read",
];

/// Decodes one Socket.IO event (or catch-up item) named `event`.
pub fn decode(event: &str, payload: &Value) -> Result<Incoming, DecodeError> {
    // The name goes into errors and logs: it is capped like a type.
    let name = || cut_bytes(event, MAX_KIND).to_owned();
    let Some(object) = payload.as_object() else {
        return Err(DecodeError::NotAnObject { event: name() });
    };
    let (kind, cut_kind) = clean_kind(&text(object, "type").unwrap_or_else(|| event.to_owned()));
    let data = match object.get("data") {
        Some(Value::Object(data)) => Value::Object(data.clone()),
        _ => Value::Object(
            object
                .iter()
                .filter(|(k, _)| !ENVELOPE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    };
    let (data, cut_data) = if fits(&data, MAX_DATA) {
        (data, false)
    } else {
        (Value::Object(Map::new()), true)
    };
    let known = EventType::parse(&kind);
    let (default_title, default_message) = known.map(|k| describe(k, &data)).unwrap_or_default();
    let title = text(object, "title").or(default_title);
    let message = text(object, "message").or(default_message);
    if title.is_none() && message.is_none() {
        return Err(DecodeError::NoText { event: name() });
    }
    let (title, cut_title) = clean(
        &title.unwrap_or_else(|| kind.replace('_', " ")),
        MAX_TITLE,
        false,
    );
    let (message, cut_message) = clean(&message.unwrap_or_default(), MAX_MESSAGE, true);
    let (url, cut_url) = link(text(object, "url"));
    let severity = object
        .get("severity")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .or_else(|| known.map(Severity::default_for))
        .unwrap_or(Severity::Info);
    Ok(Incoming {
        server_id: id(object.get("id")),
        kind,
        title,
        message,
        url,
        severity,
        created_at: text(object, "createdAt")
            .filter(|t| t.len() <= MAX_CREATED_AT)
            .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
            .unwrap_or_else(|| {
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
        data,
        read: object.get("read").and_then(Value::as_bool).unwrap_or(false),
        truncated: cut_kind || cut_title || cut_message || cut_url || cut_data,
    })
}

/// The type with control characters blanked (it can reach a summary toast)
/// and cut to [`MAX_KIND`] bytes; whether it was cut.
fn clean_kind(kind: &str) -> (String, bool) {
    let cut = cut_bytes(kind, MAX_KIND);
    let cleaned = cut
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    (cleaned, cut.len() < kind.len())
}

/// The link, if it is one Herald could ever open: at most [`MAX_URL`] bytes,
/// no control characters, and http(s) or relative (the opener resolves a
/// relative link against the server's origin, which the seed's servers rely
/// on). Whether it was dropped for its length.
fn link(url: Option<String>) -> (Option<String>, bool) {
    let Some(url) = url else {
        return (None, false);
    };
    if url.len() > MAX_URL {
        return (None, true);
    }
    let web = match url::Url::parse(&url) {
        Ok(absolute) => matches!(absolute.scheme(), "http" | "https"),
        Err(url::ParseError::RelativeUrlWithoutBase) => true,
        Err(_) => false,
    };
    let ok = web && !url.chars().any(char::is_control);
    (ok.then_some(url), false)
}

/// Whether `value` is at most `max` bytes as compact JSON; the writing stops
/// at the cap, so a huge value costs no copy.
fn fits(value: &Value, max: usize) -> bool {
    struct Budget(usize);
    impl std::io::Write for Budget {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self
                .0
                .checked_sub(buf.len())
                .ok_or_else(|| std::io::Error::other("over the cap"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Budget(max), value).is_ok()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character.
fn cut_bytes(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn id(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn field(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A title and message for the seed's terse shapes.
fn describe(kind: EventType, data: &Value) -> (Option<String>, Option<String>) {
    let order = field(data, "orderId");
    match kind {
        EventType::OrderUpdate => (
            Some("Order update".into()),
            order.map(|o| match field(data, "status") {
                Some(status) => format!("Order {o} {status}"),
                None => format!("Order {o} updated"),
            }),
        ),
        EventType::NewOrder => (
            Some("New order".into()),
            order.map(|o| match (field(data, "customer"), field(data, "total")) {
                (Some(c), Some(t)) => format!("Order {o} from {c}: {t}"),
                (Some(c), None) => format!("Order {o} from {c}"),
                _ => format!("Order {o}"),
            }),
        ),
        EventType::PaymentUpdate => (
            Some(match field(data, "status") {
                Some(status) => format!("Payment {status}"),
                None => "Payment update".into(),
            }),
            order.map(|o| match field(data, "amount") {
                Some(amount) => format!("{amount} for order {o}"),
                None => format!("For order {o}"),
            }),
        ),
        EventType::LoginNotification => (
            Some("New login detected".into()),
            data.pointer("/loginInfo/location")
                .and_then(Value::as_str)
                .map(|l| format!("Login from {l}")),
        ),
        EventType::Announcement | EventType::Notification => (None, None),
    }
}

/// Strips control characters (keeping newlines in messages) and cuts to `max` chars.
fn clean(s: &str, max: usize, keep_newlines: bool) -> (String, bool) {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c == '\n' && keep_newlines {
                c
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    if cleaned.chars().count() <= max {
        return (cleaned, false);
    }
    let mut cut: String = cleaned.chars().take(max - 1).collect();
    cut.push('…');
    (cut, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_full_envelope_decodes_as_is() {
        let payload = json!({"id": 42, "type": "order_update", "title": "Order update",
            "message": "Order ord_1 shipped", "createdAt": "2026-01-01T00:00:00Z",
            "severity": "info", "data": {"orderId": "ord_1", "status": "shipped"}});
        let item = decode("order_update", &payload).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.server_id, Some(42));
        assert_eq!(item.message, "Order ord_1 shipped");
        assert_eq!(item.created_at, "2026-01-01T00:00:00Z");
        assert_eq!(item.data["status"], "shipped");
        assert!(!item.truncated);
    }

    #[test]
    fn the_seeds_terse_shapes_get_sensible_text() {
        let item = decode(
            "order_update",
            &json!({"orderId": "ord_1", "status": "shipped"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (item.title.as_str(), item.message.as_str()),
            ("Order update", "Order ord_1 shipped")
        );
        assert_eq!(item.server_id, None);
        assert_eq!(item.data, json!({"orderId": "ord_1", "status": "shipped"}));

        let login = json!({"type": "login_notification", "title": "🔐 New Login Detected",
            "message": "Login from New York, US", "loginInfo": {"ip": "1.2.3.4"}});
        let item = decode("login_notification", &login).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.severity, Severity::Critical);
        assert_eq!(item.data["loginInfo"]["ip"], "1.2.3.4");

        let payment = json!({"orderId": 7, "amount": 12.5, "status": "failed"});
        let item = decode("payment_update", &payment).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (item.title.as_str(), item.message.as_str()),
            ("Payment failed", "12.5 for order 7")
        );
    }

    #[test]
    fn unknown_types_with_text_are_kept_and_others_refused() {
        let item = decode(
            "shipment_delayed",
            &json!({"title": "Late", "message": "2 days"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.kind, "shipment_delayed");
        assert_eq!(item.severity, Severity::Info);
        assert!(matches!(
            decode("x", &json!({"foo": 1})),
            Err(DecodeError::NoText { .. })
        ));
        assert!(matches!(
            decode("x", &json!("just a string")),
            Err(DecodeError::NotAnObject { .. })
        ));
        assert!(matches!(
            decode("x", &json!([1, 2])),
            Err(DecodeError::NotAnObject { .. })
        ));
    }

    #[test]
    fn oversized_and_control_laden_text_is_cut_and_cleaned() {
        let payload = json!({"title": "x".repeat(10_000), "message": "a\u{0}b\nc\u{1b}[31m"});
        let item = decode("notification", &payload).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.title.chars().count(), MAX_TITLE);
        assert!(item.title.ends_with('…'));
        assert!(item.truncated);
        assert_eq!(item.message, "a b\nc [31m");
    }

    #[test]
    fn string_ids_and_bad_dates_are_handled() {
        let item = decode(
            "notification",
            &json!({"id": "17", "title": "t", "createdAt": "yesterday"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.server_id, Some(17));
        assert!(chrono::DateTime::parse_from_rfc3339(&item.created_at).is_ok());
    }

    #[test]
    fn a_long_type_is_cut_on_a_character_and_blanked_of_controls() {
        let item = decode("x", &json!({"type": "€".repeat(100), "title": "t"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(item.kind.len() <= MAX_KIND, "{}", item.kind.len());
        assert_eq!(item.kind, "€".repeat(MAX_KIND / 3));
        assert!(item.truncated);
        // The event name stands in for a missing type, and is capped too.
        let name = format!("a\u{7}{}", "b".repeat(500));
        let item = decode(&name, &json!({"title": "t"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.kind.len(), MAX_KIND);
        assert!(item.kind.starts_with("a b"), "{:?}", item.kind);
        let Err(DecodeError::NoText { event }) = decode(&name, &json!({})) else {
            panic!("an event without text is refused");
        };
        assert!(event.len() <= MAX_KIND);
        let fine = decode("x", &json!({"type": "a".repeat(MAX_KIND), "title": "t"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!fine.truncated);
    }

    #[test]
    fn a_link_too_long_is_dropped_and_the_event_kept() {
        let at_cap = format!("https://example.com/{}", "a".repeat(MAX_URL - 20));
        assert_eq!(at_cap.len(), MAX_URL);
        let item =
            decode("x", &json!({"title": "t", "url": at_cap})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.url.as_deref(), Some(at_cap.as_str()));
        assert!(!item.truncated);
        let over = format!("{at_cap}a");
        let item =
            decode("x", &json!({"title": "t", "url": over})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((item.url, item.truncated), (None, true));
        assert_eq!(item.title, "t");
    }

    #[test]
    fn only_web_and_relative_links_are_kept() {
        let url_of = |url: &str| {
            decode("x", &json!({"title": "t", "url": url}))
                .unwrap_or_else(|e| panic!("{e}"))
                .url
        };
        for kept in [
            "https://example.com/a",
            "http://127.0.0.1:3000/x",
            "/orders/1",
            "orders/1?x=1",
        ] {
            assert_eq!(url_of(kept).as_deref(), Some(kept));
        }
        for dropped in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,x",
            "https://example.com/a\u{0}b",
            "/a\nb",
            "http://[::1",
        ] {
            assert_eq!(url_of(dropped), None, "{dropped:?}");
        }
    }

    #[test]
    fn an_overlong_timestamp_is_replaced_by_the_arrival_time() {
        // chrono reads it (any number of fraction digits), the cap does not.
        let long = format!("2020-01-01T00:00:00.{}Z", "0".repeat(MAX_CREATED_AT));
        assert!(chrono::DateTime::parse_from_rfc3339(&long).is_ok());
        let item = decode("x", &json!({"title": "t", "createdAt": long}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(item.created_at.len() <= MAX_CREATED_AT);
        assert!(!item.created_at.starts_with("2020"), "{}", item.created_at);
        let nanos = "2020-01-01T00:00:00.123456789+05:30";
        let item = decode("x", &json!({"title": "t", "createdAt": nanos}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.created_at, nanos);
    }

    #[test]
    fn data_over_the_cap_is_dropped_and_the_event_kept() {
        let big = json!({"title": "t", "data": {"blob": "x".repeat(MAX_DATA)}});
        let item = decode("notification", &big).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.data, json!({}));
        assert!(item.truncated);
        assert_eq!(item.title, "t");
        // A seed-style payload's data is the rest of the object: capped too.
        let seed = json!({"orderId": "o1", "status": "shipped", "notes": "x".repeat(MAX_DATA)});
        let item = decode("order_update", &seed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((item.data, item.truncated), (json!({}), true));
        assert_eq!(item.title, "Order update");
        // Just under the cap stays whole: `{"blob":"…"}` is 11 bytes more.
        let blob = "x".repeat(MAX_DATA - 11);
        let item = decode(
            "notification",
            &json!({"title": "t", "data": {"blob": blob}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            item.data["blob"].as_str().map(str::len),
            Some(MAX_DATA - 11)
        );
        assert!(!item.truncated);
    }
}
