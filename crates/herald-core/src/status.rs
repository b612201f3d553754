//! What the engine shows the world: one [`Status`], published on a watch.

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::link::Cause;

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
    /// Waiting to retry. `reason` is the library's words, for logs and
    /// diagnostics; [`Status::reason`] says it for a person.
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
    /// Why the last attempt failed, while retrying (see [`Status::reason`]).
    pub cause: Option<Cause>,
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
            cause: None,
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

    /// The one line a person sees for this status, wherever it is shown
    /// (the tray, the page, the CLI), e.g. "Connected to example.com".
    pub fn label(&self) -> String {
        let host = self.host().unwrap_or_else(|| "the server".to_owned());
        match &self.state {
            ConnectionState::SignedOut { reason } => match reason {
                SignOutReason::NotSignedIn => "Signed out".into(),
                SignOutReason::SessionExpired => {
                    "Signed out: the session expired; sign in again".into()
                }
                SignOutReason::NoCredentials => "Signed out: no stored credentials".into(),
            },
            ConnectionState::Connected => format!("Connected to {host}"),
            ConnectionState::Connecting if self.failed_attempts == 0 => {
                format!("Connecting to {host}…")
            }
            ConnectionState::Connecting | ConnectionState::Backoff { .. } => {
                // Worded as the icon shows it: a blip is reconnecting, an
                // outage offline.
                if self.cause == Some(Cause::TooManySockets) {
                    // The server answers; it has no place for this account
                    // now. "Cannot be reached" would send the user to check
                    // the network.
                    format!("Waiting: {host} has too many connections for this account")
                } else if self.presence() == Presence::Offline {
                    format!("Offline: {host} cannot be reached")
                } else {
                    format!("Reconnecting to {host}…")
                }
            }
            ConnectionState::AuthFailed { .. } => format!("Signing in to {host} again…"),
            ConnectionState::Paused => "Paused".into(),
            ConnectionState::Stopped => "Stopped".into(),
        }
    }

    /// Why the link is down, for a person ("the server refused the
    /// connection"), while it is retrying; `None` otherwise.
    pub fn reason(&self) -> Option<&'static str> {
        match self.state {
            ConnectionState::Backoff { .. } | ConnectionState::Connecting => {
                self.cause.map(Cause::sentence)
            }
            _ => None,
        }
    }

    /// The server's host as a person knows it, e.g. "notify.example.com".
    pub fn host(&self) -> Option<String> {
        self.server.as_deref().and_then(url_host)
    }

    /// Adds a warning once.
    pub fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }
}

/// The host of a server URL, with its port when that is not the scheme's
/// default: "https://notify.example.com/x" → "notify.example.com". Without a
/// scheme, http is assumed. Credentials in the URL are never part of it.
pub fn url_host(server: &str) -> Option<String> {
    let server = server.trim();
    let url = url::Url::parse(server)
        .ok()
        .filter(url::Url::has_host)
        .or_else(|| url::Url::parse(&format!("http://{server}")).ok())?;
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
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

    fn at_server(state: ConnectionState, failed_attempts: u32) -> Status {
        let mut status = with(state, failed_attempts);
        status.server = Some("https://example.com".into());
        status
    }

    fn backoff(reason: &str) -> ConnectionState {
        ConnectionState::Backoff {
            reason: reason.into(),
        }
    }

    #[test]
    fn every_state_has_its_label_in_user_words() {
        let label = |state, failed| at_server(state, failed).label();
        assert_eq!(
            label(ConnectionState::Connected, 0),
            "Connected to example.com"
        );
        assert_eq!(
            label(ConnectionState::Connecting, 0),
            "Connecting to example.com…"
        );
        assert_eq!(
            label(ConnectionState::Connecting, 1),
            "Reconnecting to example.com…"
        );
        assert_eq!(label(backoff("refused"), 1), "Reconnecting to example.com…");
        assert_eq!(
            label(backoff("refused"), OFFLINE_AFTER),
            "Offline: example.com cannot be reached"
        );
        let mut full = at_server(backoff("TOO_MANY_SOCKETS"), OFFLINE_AFTER);
        full.cause = Some(Cause::TooManySockets);
        assert_eq!(
            full.label(),
            "Waiting: example.com has too many connections for this account"
        );
        assert_eq!(
            label(
                ConnectionState::AuthFailed {
                    message: "EXPIRED: access token expired".into()
                },
                0
            ),
            "Signing in to example.com again…"
        );
        assert_eq!(label(ConnectionState::Paused, 0), "Paused");
        assert_eq!(label(ConnectionState::Stopped, 0), "Stopped");
        let signed_out = |reason| Status::signed_out(reason).label();
        assert_eq!(signed_out(SignOutReason::NotSignedIn), "Signed out");
        assert_eq!(
            signed_out(SignOutReason::SessionExpired),
            "Signed out: the session expired; sign in again"
        );
        assert_eq!(
            signed_out(SignOutReason::NoCredentials),
            "Signed out: no stored credentials"
        );
    }

    #[test]
    fn an_outage_from_an_engineio_error_reads_in_plain_words() {
        let reported = "EngineIO Error";
        let mut status = at_server(backoff(reported), OFFLINE_AFTER + 2);
        status.cause = Some(Cause::of_reported(reported));
        assert_eq!(status.label(), "Offline: example.com cannot be reached");
        assert_eq!(status.reason(), Some("the connection dropped"));
        assert!(!status.label().contains("EngineIO"));
        // The same state without the host or the attempts: still no library text.
        let alone = Status {
            state: status.state.clone(),
            ..Status::signed_out(SignOutReason::NotSignedIn)
        }
        .label();
        assert_eq!(alone, "Reconnecting to the server…");
        assert!(!alone.contains("EngineIO"), "{alone}");
    }

    #[test]
    fn the_reason_is_told_only_while_retrying() {
        let mut status = at_server(backoff("cannot connect: EngineIO Error"), 1);
        status.cause = Some(Cause::Refused);
        assert_eq!(status.reason(), Some("the server refused the connection"));
        status.state = ConnectionState::Connecting;
        assert_eq!(status.reason(), Some("the server refused the connection"));
        status.state = ConnectionState::Paused;
        assert_eq!(status.reason(), None);
        assert_eq!(at_server(backoff("x"), 1).reason(), None, "no cause known");
    }

    #[test]
    fn the_host_is_what_a_person_knows_the_server_by() {
        let host = |s| url_host(s);
        assert_eq!(
            host("https://notify.example.com"),
            Some("notify.example.com".into())
        );
        assert_eq!(
            host("https://notify.example.com:443/x/"),
            Some("notify.example.com".into())
        );
        assert_eq!(host("http://127.0.0.1:3000"), Some("127.0.0.1:3000".into()));
        assert_eq!(host("localhost:3000"), Some("localhost:3000".into()));
        assert_eq!(
            host("https://me:secret@example.com"),
            Some("example.com".into())
        );
        assert_eq!(host(""), None);
        assert_eq!(
            with(ConnectionState::Connected, 0).label(),
            "Connected to the server",
            "no server known"
        );
    }
}
