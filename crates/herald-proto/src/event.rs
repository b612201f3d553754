//! Event types and the envelope.

use serde::{Deserialize, Serialize};

/// The event types herald-server emits. Each is also the Socket.IO event name.
///
/// Clients must still accept names outside this list (see design §2): an
/// unknown type with a title and a message is shown and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    LoginNotification,
    OrderUpdate,
    NewOrder,
    PaymentUpdate,
    Announcement,
    Notification,
}

impl EventType {
    /// Every type, in the order the self-test sends them.
    pub const ALL: [EventType; 6] = [
        EventType::LoginNotification,
        EventType::OrderUpdate,
        EventType::NewOrder,
        EventType::PaymentUpdate,
        EventType::Announcement,
        EventType::Notification,
    ];

    /// The wire name, which is also the Socket.IO event name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LoginNotification => "login_notification",
            EventType::OrderUpdate => "order_update",
            EventType::NewOrder => "new_order",
            EventType::PaymentUpdate => "payment_update",
            EventType::Announcement => "announcement",
            EventType::Notification => "notification",
        }
    }

    /// The inverse of [`EventType::as_str`]; `None` for names outside the contract.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How loudly a client should present an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Success,
    Warning,
    Critical,
}

impl Severity {
    /// The default severity of each type when the sender gives none.
    pub fn default_for(kind: EventType) -> Severity {
        match kind {
            EventType::LoginNotification => Severity::Critical,
            EventType::PaymentUpdate | EventType::NewOrder => Severity::Success,
            EventType::Announcement => Severity::Warning,
            EventType::OrderUpdate | EventType::Notification => Severity::Info,
        }
    }
}

/// The one envelope of every event, as emitted by herald-server and returned by
/// catch-up. `id` is server-assigned and strictly increasing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Where a login came from; carried in `data.loginInfo` of a `login_notification`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginInfo {
    pub ip: String,
    pub device: String,
    pub location: String,
    /// RFC 3339, UTC.
    pub time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_name() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(EventType::parse("order-update"), None);
    }

    #[test]
    fn envelope_uses_the_wire_field_names() {
        let envelope = Envelope {
            id: 7,
            kind: "order_update".into(),
            title: "Order shipped".into(),
            message: "Order ord_1 shipped".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            url: None,
            severity: Some(Severity::Info),
            data: serde_json::json!({"orderId": "ord_1", "status": "shipped"}),
        };
        let value = serde_json::to_value(&envelope).unwrap_or_default();
        assert_eq!(value["type"], "order_update");
        assert_eq!(value["createdAt"], "2026-01-01T00:00:00Z");
        assert!(value.get("url").is_none(), "absent url is omitted");
        let back: Envelope = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, envelope);
    }
}
