//! The JSON shapes of the calls and pushes (`docs/ipc.md`): herald-core's
//! types, shaped for a front-end. The window's page receives them as they are.

use chrono::{DateTime, Utc};
use herald_core::config::Settings;
use herald_core::controller::Controller;
use herald_core::engine::InboxUpdate;
use herald_core::inbox::{Item, ListQuery};
use herald_core::notify::policy::{QuietHours, TypeRule};
use herald_core::status::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A history page, as a front-end asks for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryQuery {
    pub kind: Option<String>,
    pub unread_only: bool,
    pub search: Option<String>,
    pub before_id: Option<i64>,
    pub limit: u32,
    /// Unread items first (the window's list); else newest first (the CLI).
    #[serde(default = "yes")]
    pub unread_first: bool,
}

fn yes() -> bool {
    true
}

impl From<HistoryQuery> for ListQuery {
    fn from(query: HistoryQuery) -> ListQuery {
        ListQuery {
            kind: query.kind.filter(|k| !k.is_empty()),
            unread_only: query.unread_only,
            search: query.search.filter(|s| !s.trim().is_empty()),
            before_id: query.before_id,
            limit: query.limit,
            unread_first: query.unread_first,
        }
    }
}

/// [`Status`] plus its one-line label.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    #[serde(flatten)]
    pub status: Status,
    pub label: String,
}

impl From<Status> for StatusView {
    fn from(status: Status) -> StatusView {
        let label = status.label();
        StatusView { status, label }
    }
}

/// The `inbox` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum InboxEvent {
    Added { items: Vec<Item> },
    Read { ids: Vec<i64>, read: bool },
    Deleted { ids: Vec<i64> },
    Reset,
}

impl InboxEvent {
    /// The UI's view of an update; `None` for an `Open`, which is its own event.
    pub fn from_update(update: InboxUpdate) -> Option<InboxEvent> {
        Some(match update {
            InboxUpdate::Added(items) => InboxEvent::Added { items },
            InboxUpdate::Read { ids, read } => InboxEvent::Read { ids, read },
            InboxUpdate::Deleted { ids } => InboxEvent::Deleted { ids },
            InboxUpdate::Reset => InboxEvent::Reset,
            InboxUpdate::Open { .. } => return None,
        })
    }
}

/// The `open` event: show this item's details.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenEvent {
    pub item: Item,
    pub url: Option<String>,
}

/// The settings page. `knownTypes` is read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub desktop_notifications: bool,
    pub start_at_login: bool,
    #[serde(default)]
    pub types: BTreeMap<String, TypeRule>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default)]
    pub paused_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub known_types: Vec<String>,
}

impl SettingsView {
    pub fn new(settings: &Settings, start_at_login: bool) -> SettingsView {
        SettingsView {
            desktop_notifications: settings.desktop_notifications,
            start_at_login,
            types: settings.notifications.types.clone(),
            quiet_hours: settings.notifications.quiet_hours.clone(),
            paused_until: settings.notifications.paused_until,
            known_types: Controller::known_types()
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }

    /// The notification policy these settings describe, keeping what the page
    /// does not show (the burst limits) from `current`.
    pub fn policy(&self, current: &Settings) -> herald_core::notify::policy::PolicyConfig {
        let mut policy = current.notifications.clone();
        policy.types = self.types.clone();
        policy.quiet_hours = self.quiet_hours.clone();
        policy.paused_until = self.paused_until;
        policy
    }
}

/// The sign-in form's prefill.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Defaults {
    pub server: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
}

impl Defaults {
    /// `HERALD_SIGNIN_*` (the demo sets them), else the last account.
    pub fn resolve(settings: &Settings) -> Defaults {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Defaults {
            server: env("HERALD_SIGNIN_SERVER").or_else(|| settings.server.clone()),
            email: env("HERALD_SIGNIN_EMAIL").or_else(|| settings.account.clone()),
            password: env("HERALD_SIGNIN_PASSWORD"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::status::SignOutReason;

    #[test]
    fn status_carries_its_label_beside_the_fields() {
        let json = serde_json::to_value(StatusView::from(Status::signed_out(
            SignOutReason::SessionExpired,
        )))
        .expect("serialisable");
        assert_eq!(json["state"]["kind"], "signedOut");
        assert_eq!(json["state"]["reason"], "sessionExpired");
        assert_eq!(
            json["label"],
            "Signed out: the session expired; sign in again"
        );
        assert_eq!(json["unread"], 0);
    }

    #[test]
    fn settings_round_trip_and_keep_the_burst_limits() {
        let mut current = Settings::default();
        current.notifications.burst_max = 7;
        let mut view = SettingsView::new(&current, true);
        view.types.insert(
            "order_update".into(),
            TypeRule {
                enabled: false,
                urgency: None,
            },
        );
        let back: SettingsView =
            serde_json::from_value(serde_json::to_value(&view).expect("json")).expect("parse");
        assert_eq!(back, view);
        let policy = back.policy(&current);
        assert_eq!(policy.burst_max, 7);
        assert!(!policy.rule("order_update").enabled);
        assert!(view.known_types.iter().any(|t| t == "login_notification"));
    }

    #[test]
    fn open_is_not_an_inbox_event() {
        assert!(InboxEvent::from_update(InboxUpdate::Reset).is_some());
        let json = serde_json::to_value(InboxEvent::Deleted { ids: vec![3] }).expect("json");
        assert_eq!(json, serde_json::json!({ "kind": "deleted", "ids": [3] }));
    }
}
