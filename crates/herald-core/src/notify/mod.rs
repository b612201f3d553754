//! Desktop notifications: what to show ([`policy`]), how to word it safely
//! ([`render`]), and the [`Notifier`] that shows it ([`desktop`]).

pub mod desktop;
pub mod policy;
pub mod render;

use std::time::Duration;

/// How insistent a toast is. Maps to the freedesktop urgency levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    Normal,
    Critical,
}

/// The action key that opens an item's details ("View Details").
pub const ACTION_VIEW: &str = "view";
/// The action key of "This was me" on a login alert.
pub const ACTION_THIS_WAS_ME: &str = "this-was-me";

/// One desktop notification, ready to show. Text is already escaped for the
/// notification server's markup when [`Toast::markup`] is true.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub summary: String,
    pub body: String,
    pub urgency: Urgency,
    /// `None`: the server's default.
    pub timeout: Option<Duration>,
    /// `(key, label)`, e.g. `(ACTION_VIEW, "View Details")`.
    pub actions: Vec<(String, String)>,
    /// The inbox item this toast is about; `None` for a summary of several.
    pub item_id: Option<i64>,
    /// The freedesktop category hint, e.g. `"x-herald.security"`.
    pub category: Option<String>,
    pub markup: bool,
}

/// A user clicked an action (or the toast itself, reported as [`ACTION_VIEW`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInvoked {
    pub item_id: Option<i64>,
    pub action: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no notification server is reachable ({0}); events are still kept in the history")]
    Unavailable(String),
    #[error("the notification server refused the notification: {0}")]
    Refused(String),
}

/// What a notification server can do, as it reports itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerInfo {
    pub name: String,
    pub vendor: String,
    pub version: String,
    pub actions: bool,
    pub body_markup: bool,
    /// Why actions are missing, and what to do, when the platform knows.
    pub hint: Option<String>,
}

/// Shows toasts. Implementations must not block the caller for long: the
/// engine calls `show` from its notification task.
pub trait Notifier: Send + Sync + 'static {
    fn show(&self, toast: &Toast) -> Result<(), NotifyError>;
}
