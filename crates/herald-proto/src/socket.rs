//! The Socket.IO side of the contract, besides the events themselves.

use serde::{Deserialize, Serialize};

/// The handshake payload: `io(url, { auth: { token } })`.
#[derive(Clone, Serialize, Deserialize)]
pub struct HandshakeAuth {
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for HandshakeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeAuth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why the server refused a Socket.IO connection.
///
/// On the wire the `connect_error` packet is `{message}`; the message starts
/// with the code and a colon, e.g. `"EXPIRED: access token expired"`. A server
/// that can also send `data` (socket.io on Node) sends `{message, data: {code}}`;
/// clients should read `data.code` first and fall back to the message prefix
/// ([`ConnectErrorCode::from_connect_error`] does both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectErrorCode {
    NoToken,
    BadToken,
    Expired,
    /// The account (or this login) has as many sockets open as the server
    /// allows. Not about the token: retry later, with backoff, when one of
    /// the others has closed.
    TooManySockets,
}

impl ConnectErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectErrorCode::NoToken => "NO_TOKEN",
            ConnectErrorCode::BadToken => "BAD_TOKEN",
            ConnectErrorCode::Expired => "EXPIRED",
            ConnectErrorCode::TooManySockets => "TOO_MANY_SOCKETS",
        }
    }

    /// Every code, in the order they were added.
    pub const ALL: [ConnectErrorCode; 4] = [
        Self::NoToken,
        Self::BadToken,
        Self::Expired,
        Self::TooManySockets,
    ];

    /// Whether the refusal is about the token, so that a client should get a
    /// new one before it tries again (retrying the same token is pointless).
    /// Any other refusal is retried with the same token after a backoff.
    pub fn is_auth(self) -> bool {
        match self {
            ConnectErrorCode::NoToken | ConnectErrorCode::BadToken | ConnectErrorCode::Expired => {
                true
            }
            ConnectErrorCode::TooManySockets => false,
        }
    }

    pub fn parse(code: &str) -> Option<ConnectErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// Reads the code from a `connect_error` payload in either form.
    pub fn from_connect_error(payload: &serde_json::Value) -> Option<ConnectErrorCode> {
        if let Some(code) = payload.pointer("/data/code").and_then(|c| c.as_str()) {
            return Self::parse(code);
        }
        let message = payload.get("message")?.as_str()?;
        let (code, _) = message.split_once(':').unwrap_or((message, ""));
        Self::parse(code.trim())
    }
}

impl std::fmt::Display for ConnectErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Socket.IO event names that are not notifications.
pub mod names {
    /// Client → server, with an acknowledgement: the liveness probe.
    pub const PING: &str = "herald_ping";
    /// Server → client: ids another device of the same user marked read.
    pub const READ: &str = "notifications_read";
    /// Server → client, once per connection: the socket has joined its rooms,
    /// so catch-up from now on cannot miss an event that is not sent live.
    pub const READY: &str = "herald_ready";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn code_is_read_from_data_or_message_prefix() {
        let node = json!({"message": "jwt expired", "data": {"code": "EXPIRED"}});
        assert_eq!(
            ConnectErrorCode::from_connect_error(&node),
            Some(ConnectErrorCode::Expired)
        );
        let herald = json!({"message": "BAD_TOKEN: signature mismatch"});
        assert_eq!(
            ConnectErrorCode::from_connect_error(&herald),
            Some(ConnectErrorCode::BadToken)
        );
        let bare = json!({"message": "NO_TOKEN"});
        assert_eq!(
            ConnectErrorCode::from_connect_error(&bare),
            Some(ConnectErrorCode::NoToken)
        );
        let busy = json!({"message": "TOO_MANY_SOCKETS: at most 20 sockets per account"});
        assert_eq!(
            ConnectErrorCode::from_connect_error(&busy),
            Some(ConnectErrorCode::TooManySockets)
        );
        let other = json!({"message": "Invalid namespace"});
        assert_eq!(ConnectErrorCode::from_connect_error(&other), None);
    }

    #[test]
    fn every_code_round_trips_and_only_token_codes_are_auth() {
        for code in ConnectErrorCode::ALL {
            assert_eq!(ConnectErrorCode::parse(code.as_str()), Some(code));
            let wire = serde_json::to_value(code).unwrap_or_default();
            assert_eq!(wire, json!(code.as_str()), "serde and as_str agree");
        }
        assert!(ConnectErrorCode::Expired.is_auth());
        assert!(!ConnectErrorCode::TooManySockets.is_auth());
    }

    #[test]
    fn debug_hides_the_token() {
        let auth = HandshakeAuth {
            token: Some("secret-token".into()),
        };
        assert!(!format!("{auth:?}").contains("secret-token"));
    }
}
