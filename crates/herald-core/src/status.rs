//! What the engine shows the world: one [`Status`], published on a watch.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why nobody is signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SignOutReason {
    /// Never signed in, or signed out by the user.
    NotSignedIn,
    /// The token expired and could not be renewed (a seed server has no
    /// refresh, or the server refused it): sign in again.
    SessionExpired,
    /// The keyring holds no token, or cannot be read.
    NoCredentials,
}

/// The connection, as the tray and the UI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ConnectionState {
    SignedOut {
        reason: SignOutReason,
    },
    Connecting,
    Connected,
    /// Waiting to retry.
    Backoff {
        reason: String,
    },
    /// The server refused the credentials; renewing them.
    AuthFailed {
        message: String,
    },
    Paused,
    Stopped,
}

impl ConnectionState {
    /// One short English line, e.g. for the CLI and a tray tooltip.
    pub fn label(&self) -> String {
        match self {
            ConnectionState::SignedOut {
                reason: SignOutReason::SessionExpired,
            } => "Signed out: the session expired, sign in again".into(),
            ConnectionState::SignedOut {
                reason: SignOutReason::NoCredentials,
            } => "Signed out: no stored credentials".into(),
            ConnectionState::SignedOut { .. } => "Signed out".into(),
            ConnectionState::Connecting => "Connecting".into(),
            ConnectionState::Connected => "Connected".into(),
            ConnectionState::Backoff { reason } => format!("Offline ({reason}); reconnecting"),
            ConnectionState::AuthFailed { message } => format!("Signing in again ({message})"),
            ConnectionState::Paused => "Paused".into(),
            ConnectionState::Stopped => "Stopped".into(),
        }
    }
}

/// Failed attempts in a row after which the link counts as offline rather
/// than reconnecting. With the backoff schedule that is a few seconds of
/// trying: a blip shows "connecting", an outage "offline".
pub const OFFLINE_AFTER: u32 = 3;

/// What a tray icon shows: four states, however the link got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Presence {
    Connected,
    Connecting,
    Offline,
    SignedOut,
}

/// Whether the server can send what was missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CatchUpSupport {
    Unknown,
    Available,
    /// The seed's servers: events while offline are lost on their side.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub state: ConnectionState,
    pub server: Option<String>,
    pub user: Option<String>,
    pub connected_since: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Connections made after the first one.
    pub reconnects: u64,
    /// Connect attempts that failed in a row (0 while connected).
    pub failed_attempts: u32,
    pub catch_up: CatchUpSupport,
    pub unread: u64,
    /// Events refused as malformed, counted.
    pub rejected_events: u64,
    /// Problems that do not stop Herald, e.g. no notification daemon.
    pub warnings: Vec<String>,
}

impl Status {
    /// Starts signed out for `reason`.
    pub fn signed_out(reason: SignOutReason) -> Status {
        Status {
            state: ConnectionState::SignedOut { reason },
            server: None,
            user: None,
            connected_since: None,
            last_event_at: None,
            next_retry_at: None,
            reconnects: 0,
            failed_attempts: 0,
            catch_up: CatchUpSupport::Unknown,
            unread: 0,
            rejected_events: 0,
            warnings: Vec::new(),
        }
    }

    /// The coarse state a tray icon shows.
    pub fn presence(&self) -> Presence {
        match &self.state {
            ConnectionState::SignedOut { .. } => Presence::SignedOut,
            ConnectionState::Connected => Presence::Connected,
            ConnectionState::Backoff { .. } if self.failed_attempts >= OFFLINE_AFTER => {
                Presence::Offline
            }
            ConnectionState::Connecting
            | ConnectionState::Backoff { .. }
            | ConnectionState::AuthFailed { .. } => Presence::Connecting,
            ConnectionState::Paused | ConnectionState::Stopped => Presence::Offline,
        }
    }

    /// Adds a warning once.
    pub fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(state: ConnectionState, failed_attempts: u32) -> Status {
        let mut status = Status::signed_out(SignOutReason::NotSignedIn);
        status.state = state;
        status.failed_attempts = failed_attempts;
        status
    }

    #[test]
    fn a_blip_is_connecting_and_an_outage_is_offline() {
        let backoff = || ConnectionState::Backoff {
            reason: "refused".into(),
        };
        assert_eq!(with(backoff(), 1).presence(), Presence::Connecting);
        assert_eq!(
            with(backoff(), OFFLINE_AFTER - 1).presence(),
            Presence::Connecting
        );
        assert_eq!(with(backoff(), OFFLINE_AFTER).presence(), Presence::Offline);
        assert_eq!(
            with(ConnectionState::Connected, 0).presence(),
            Presence::Connected
        );
        assert_eq!(
            with(ConnectionState::Stopped, 0).presence(),
            Presence::Offline
        );
        assert_eq!(
            Status::signed_out(SignOutReason::SessionExpired).presence(),
            Presence::SignedOut
        );
    }
}
