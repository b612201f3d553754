//! The protocol on the agent's socket: JSON lines, one frame a line.
//!
//! ```text
//! client → agent   {"v":1,"id":7,"call":"history","args":{...},"account":"default"}
//! agent → client   {"id":7,"ok":<value>}
//!                  {"id":7,"error":{"kind":"notSignedIn","message":"not signed in"}}
//!                  {"push":"status","data":<Status>}          (after `subscribe`)
//! ```
//!
//! Every request names the protocol version (`v`), so an agent and a
//! front-end of different releases find out at the first line, not by
//! misreading each other. A frame the agent cannot use (not JSON, an unknown
//! version, a line over [`MAX_REQUEST_LINE`]) is answered with an error whose
//! `id` is `null`, and the connection is closed: a peer that speaks garbage
//! cannot be trusted to find the next frame boundary.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest request line the agent reads: requests are small (a sign-in
/// with a password, a settings page). 64 KiB leaves room and bounds memory.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// The longest line a client reads: a history page of large items.
pub const MAX_REPLY_LINE: usize = 16 * 1024 * 1024;

/// The account every request addresses today. Requests carry an account id so
/// that an agent serving several accounts needs no new protocol version.
pub const DEFAULT_ACCOUNT: &str = "default";

macro_rules! calls {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, window: $window:literal; )*) => {
        /// Every call the agent answers. The names here are the only spelling:
        /// the window's Tauri commands, its capability and the page use the
        /// same strings (see `WINDOW_COMMANDS`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Call {
            $( $(#[$doc])* $variant, )*
        }

        impl Call {
            pub const ALL: &'static [Call] = &[$(Call::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Call::$variant => $name,)* }
            }

            pub fn parse(name: &str) -> Option<Call> {
                match name { $($name => Some(Call::$variant),)* _ => None }
            }

            /// Whether the window's page may invoke it (as a Tauri command of
            /// the same name).
            pub fn for_window(self) -> bool {
                match self { $(Call::$variant => $window,)* }
            }
        }
    };
}

calls! {
    /// `{}` → `{version, pid, account}`: who is answering.
    Hello = "hello", window: false;
    /// `{open?: bool}` → Status; then `status`, `inbox` (and with `open`,
    /// `open`) pushes follow.
    Subscribe = "subscribe", window: false;
    Status = "status", window: true;
    SignIn = "sign_in", window: true;
    SignOut = "sign_out", window: true;
    History = "history", window: true;
    Item = "item", window: true;
    MarkRead = "mark_read", window: true;
    MarkAllRead = "mark_all_read", window: true;
    DeleteItems = "delete_items", window: true;
    OpenLink = "open_link", window: true;
    Settings = "settings", window: true;
    SaveSettings = "save_settings", window: true;
    Pause = "pause", window: true;
    ReconnectNow = "reconnect_now", window: true;
    Doctor = "doctor", window: true;
    SendTest = "send_test", window: true;
    Defaults = "defaults", window: true;
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The window's commands, in the order `Call` lists them.
pub fn window_commands() -> Vec<&'static str> {
    Call::ALL
        .iter()
        .filter(|c| c.for_window())
        .map(|c| c.as_str())
        .collect()
}

/// One request, as a client sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    pub id: u64,
    pub call: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// The error of a call, or of a frame: `kind` is stable for code, `message`
/// is a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    pub kind: String,
    pub message: String,
}

impl WireError {
    pub fn new(kind: &str, message: impl Into<String>) -> WireError {
        WireError {
            kind: kind.to_owned(),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> WireError {
        WireError::new(kind::INVALID, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> WireError {
        WireError::new(kind::INTERNAL, message.to_string())
    }
}

/// The error kinds the IPC adds to the controller's (`ControllerError::kind`).
pub mod kind {
    pub const INVALID: &str = "invalid";
    pub const INTERNAL: &str = "internal";
    /// Not JSON, or not a request.
    pub const BAD_FRAME: &str = "badFrame";
    /// A protocol version this agent does not speak.
    pub const UNSUPPORTED_VERSION: &str = "unsupportedVersion";
    /// A line longer than the agent reads.
    pub const TOO_LARGE: &str = "tooLarge";
    pub const UNKNOWN_CALL: &str = "unknownCall";
    pub const UNKNOWN_ACCOUNT: &str = "unknownAccount";
    /// The peer is another user.
    pub const FORBIDDEN: &str = "forbidden";
    /// Too many connections or requests at once.
    pub const BUSY: &str = "busy";
    /// The client side: no agent answers (not running, or it went away).
    pub const AGENT_UNAVAILABLE: &str = "agentUnavailable";
}

/// What the agent writes: a reply to a request, or a push.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outgoing {
    Ok { id: u64, ok: Value },
    Err { id: Option<u64>, error: WireError },
    Push { push: &'static str, data: Value },
}

/// The push names.
pub mod push {
    pub const STATUS: &str = "status";
    pub const INBOX: &str = "inbox";
    pub const OPEN: &str = "open";
}

/// A request line, checked in the order that gives the clearest error.
pub fn parse_request(line: &str) -> Result<Request, (Option<u64>, WireError)> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        (
            None,
            WireError::new(
                kind::BAD_FRAME,
                format!("a request is one JSON object per line; this line is not JSON ({e})"),
            ),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err((
            None,
            WireError::new(kind::BAD_FRAME, "a request is a JSON object"),
        ));
    };
    let id = object.get("id").and_then(Value::as_u64);
    match object.get("v").and_then(Value::as_u64) {
        None => {
            return Err((
                id,
                WireError::new(
                    kind::BAD_FRAME,
                    format!("a request names its protocol version (\"v\": {VERSION})"),
                ),
            ));
        }
        Some(v) if v != u64::from(VERSION) => {
            return Err((
                id,
                WireError::new(
                    kind::UNSUPPORTED_VERSION,
                    format!(
                        "this Herald agent speaks protocol version {VERSION}, not {v}; \
                         use a Herald of the same release"
                    ),
                ),
            ));
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| {
        (
            id,
            WireError::new(
                kind::BAD_FRAME,
                format!("not a request: {e} (expected {{v, id, call, args?}})"),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips() {
        let line = r#"{"v":1,"id":3,"call":"history","args":{"query":{}}}"#;
        let request = parse_request(line).expect("a request");
        assert_eq!(request.id, 3);
        assert_eq!(Call::parse(&request.call), Some(Call::History));
        assert_eq!(request.account, None);
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        let (_, e) = parse_request("hello").expect_err("garbage");
        assert_eq!(e.kind, kind::BAD_FRAME);
        assert!(e.message.contains("not JSON"), "{e}");
        let (id, e) = parse_request(r#"{"v":9,"id":4,"call":"status"}"#).expect_err("v9");
        assert_eq!((id, e.kind.as_str()), (Some(4), kind::UNSUPPORTED_VERSION));
        assert!(e.message.contains("version 1, not 9"), "{e}");
        let (_, e) = parse_request(r#"{"id":4,"call":"status"}"#).expect_err("no v");
        assert_eq!(e.kind, kind::BAD_FRAME);
        let (_, e) = parse_request("[1,2]").expect_err("an array");
        assert_eq!(e.kind, kind::BAD_FRAME);
    }

    #[test]
    fn every_call_name_parses_back_and_the_window_gets_no_internal_calls() {
        for call in Call::ALL {
            assert_eq!(Call::parse(call.as_str()), Some(*call));
        }
        let window = window_commands();
        assert!(window.contains(&"history"));
        assert!(!window.contains(&"subscribe"));
        assert!(!window.contains(&"hello"));
    }

    #[test]
    fn replies_and_pushes_have_their_shapes() {
        let ok = serde_json::to_value(Outgoing::Ok {
            id: 1,
            ok: Value::Null,
        })
        .expect("json");
        assert_eq!(ok, serde_json::json!({"id": 1, "ok": null}));
        let err = serde_json::to_value(Outgoing::Err {
            id: None,
            error: WireError::new(kind::TOO_LARGE, "too long"),
        })
        .expect("json");
        assert_eq!(
            err,
            serde_json::json!({"id": null, "error": {"kind": "tooLarge", "message": "too long"}})
        );
    }
}
