//! What nodes say to each other over Redis pub/sub: JSON, one message per
//! stored batch and one per revoked session.
//!
//! A message names the node that sent it, so a node can skip its own (it
//! has handed those to its relay already). Nothing in a message is trusted
//! beyond its shape: a node that cannot parse one logs it and goes on, and
//! its clients lose nothing, because the relay fills any gap from the
//! database.

use herald_proto::Envelope;
use serde::{Deserialize, Serialize};

use crate::store::event::Audience;

/// The channel stored events are published on.
pub const EVENTS: &str = "herald:events";
/// The channel revoked sessions are published on.
pub const SESSIONS: &str = "herald:sessions";

/// Who an event is for, as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WireAudience {
    User(u64),
    Admins,
    All,
}

impl From<Audience> for WireAudience {
    fn from(audience: Audience) -> WireAudience {
        match audience {
            Audience::User(id) => WireAudience::User(id),
            Audience::Admins => WireAudience::Admins,
            Audience::All => WireAudience::All,
        }
    }
}

impl From<WireAudience> for Audience {
    fn from(audience: WireAudience) -> Audience {
        match audience {
            WireAudience::User(id) => Audience::User(id),
            WireAudience::Admins => Audience::Admins,
            WireAudience::All => Audience::All,
        }
    }
}

/// One stored event and its audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    pub audience: WireAudience,
    pub envelope: Envelope,
}

/// A batch one node stored, in id order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsMessage {
    pub node: String,
    pub events: Vec<WireEvent>,
}

/// A session that was signed out or revoked: every node closes its sockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMessage {
    pub node: String,
    pub session: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_keep_the_audience() {
        let message = EventsMessage {
            node: "n1".into(),
            events: vec![WireEvent {
                audience: Audience::User(7).into(),
                envelope: Envelope {
                    id: 42,
                    kind: "order_update".into(),
                    title: "t".into(),
                    message: "m".into(),
                    created_at: "2026-01-01T00:00:00.000Z".into(),
                    url: None,
                    severity: None,
                    data: serde_json::json!({"orderId": 1}),
                },
            }],
        };
        let text = serde_json::to_string(&message).expect("serialises");
        assert!(text.contains(r#""audience":{"user":7}"#), "{text}");
        let back: EventsMessage = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, message);
        assert_eq!(Audience::from(back.events[0].audience), Audience::User(7));
    }
}
