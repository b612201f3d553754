//! Decoding of server events into [`Incoming`] items, leniently.
//!
//! herald-server sends the full envelope. The seed's Node stack sends smaller
//! shapes (`order_update` is only `{orderId, status}`), so missing titles and
//! messages are written from the data. Anything that is not an object, or has
//! no text at all, is refused with a [`DecodeError`] that the engine counts.

use herald_proto::{EventType, Severity};
use serde_json::{Map, Value};

/// Longest title kept; longer ones are cut with an ellipsis.
pub const MAX_TITLE: usize = 200;
/// Longest message kept.
pub const MAX_MESSAGE: usize = 2000;

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
    /// Whether the title or message was cut to fit.
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
    let Some(object) = payload.as_object() else {
        return Err(DecodeError::NotAnObject {
            event: event.to_owned(),
        });
    };
    let kind = text(object, "type").unwrap_or_else(|| event.to_owned());
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
    let known = EventType::parse(&kind);
    let (default_title, default_message) = known.map(|k| describe(k, &data)).unwrap_or_default();
    let title = text(object, "title").or(default_title);
    let message = text(object, "message").or(default_message);
    if title.is_none() && message.is_none() {
        return Err(DecodeError::NoText {
            event: event.to_owned(),
        });
    }
    let (title, cut_title) = clean(
        &title.unwrap_or_else(|| kind.replace('_', " ")),
        MAX_TITLE,
        false,
    );
    let (message, cut_message) = clean(&message.unwrap_or_default(), MAX_MESSAGE, true);
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
        url: text(object, "url"),
        severity,
        created_at: text(object, "createdAt")
            .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
            .unwrap_or_else(|| {
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
        data,
        read: object.get("read").and_then(Value::as_bool).unwrap_or(false),
        truncated: cut_title || cut_message,
    })
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
}
