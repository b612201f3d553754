//! Linux and the BSDs: the freedesktop notification protocol over D-Bus
//! (notify-rust), with the hints GNOME needs to attribute a toast to the
//! app (`desktop-entry`, `sender-pid`), the urgency and category, and the
//! toast's actions. A toast body click is the freedesktop `default`
//! action, reported as [`ACTION_VIEW`].

use std::sync::mpsc;

use notify_rust::{Hint, Notification, NotificationHandle};
use tokio::sync::mpsc::UnboundedSender;

use super::{Identity, SERVER_TIMEOUT};
use crate::notify::{ACTION_VIEW, ActionInvoked, NotifyError, ServerInfo, Toast, Urgency};

/// The freedesktop key of the action invoked by clicking the toast itself.
const DEFAULT_ACTION: &str = "default";

/// Each shown toast keeps one thread and one D-Bus connection until it is
/// acted on or closed: freedesktop servers send `ActionInvoked` only to the
/// connection that sent the toast.
#[derive(Debug)]
pub struct Backend {
    identity: Identity,
    actions: UnboundedSender<ActionInvoked>,
}

impl Backend {
    pub fn new(identity: Identity, actions: UnboundedSender<ActionInvoked>) -> Backend {
        Backend { identity, actions }
    }

    fn notification(&self, toast: &Toast) -> Notification {
        let mut n = Notification::new();
        n.appname(&self.identity.app_name)
            .summary(&toast.summary)
            .body(&toast.body);
        n.timeout(match toast.timeout {
            None => notify_rust::Timeout::Default,
            Some(after) => notify_rust::Timeout::from(after),
        });
        add_hints(&mut n, &self.identity.desktop_entry, toast);
        for (key, label) in &toast.actions {
            n.action(key, label);
        }
        n
    }

    pub fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
        let notification = self.notification(toast);
        let sender = self.actions.clone();
        let item_id = toast.item_id;
        // Sending happens on a thread of its own, which then stays to wait
        // for the user's action: the caller waits for the server's answer to
        // the send (bounded), never for the user.
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("herald-toast".into())
            .spawn(move || {
                let handle = match notification.show() {
                    Ok(handle) => handle,
                    Err(e) => {
                        let _ = tx.send(Err(classify(&e)));
                        return;
                    }
                };
                let _ = tx.send(Ok(()));
                wait_for_action(handle, item_id, sender);
            })
            .map_err(|e| {
                NotifyError::Refused(format!("cannot start a notification thread: {e}"))
            })?;
        match rx.recv_timeout(SERVER_TIMEOUT) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(NotifyError::Unavailable(format!(
                "the notification server did not answer within {SERVER_TIMEOUT:?}"
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(NotifyError::Refused(
                "the notification thread panicked".into(),
            )),
        }
    }
}

/// What the notification server's action key means to Herald.
fn action_from_key(key: &str) -> String {
    if key == DEFAULT_ACTION {
        ACTION_VIEW.to_owned()
    } else {
        key.to_owned()
    }
}

/// D-Bus errors that mean no notification server is there. These are
/// protocol names, the same from every bus implementation.
const ABSENT: &[&str] = &[
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.Spawn.",
    "org.freedesktop.DBus.Error.NoServer",
    "org.freedesktop.DBus.Error.NoReply",
    "org.freedesktop.DBus.Error.Disconnected",
    "org.freedesktop.DBus.Error.TimedOut",
];

/// Tells "nobody is there" from "the server said no".
fn classify(error: &notify_rust::error::Error) -> NotifyError {
    let text = error.to_string();
    if ABSENT.iter().any(|name| text.contains(name)) || !server_present() {
        NotifyError::Unavailable(text)
    } else {
        NotifyError::Refused(text)
    }
}

fn add_hints(n: &mut Notification, desktop_entry: &str, toast: &Toast) {
    n.hint(Hint::DesktopEntry(desktop_entry.to_owned()));
    n.urgency(match toast.urgency {
        Urgency::Low => notify_rust::Urgency::Low,
        Urgency::Normal => notify_rust::Urgency::Normal,
        Urgency::Critical => notify_rust::Urgency::Critical,
    });
    if let Some(category) = &toast.category {
        n.hint(Hint::Category(category.clone()));
    }
    // GNOME matches the pid to a running app when the desktop entry alone
    // does not identify it (e.g. run from a terminal). notify-rust has no
    // typed hint for it; every real pid fits in an i32.
    if let Ok(pid) = i32::try_from(std::process::id()) {
        n.hint(Hint::CustomInt("sender-pid".into(), pid));
    }
    // The body click is the freedesktop "default" action; servers show
    // it as the toast itself, not as a button.
    let label = toast
        .actions
        .iter()
        .find(|(key, _)| key == ACTION_VIEW)
        .map_or("Open", |(_, label)| label.as_str());
    n.action(DEFAULT_ACTION, label);
}

/// Blocks until the toast is acted on or closed; reports an action.
fn wait_for_action(
    handle: NotificationHandle,
    item_id: Option<i64>,
    actions: UnboundedSender<ActionInvoked>,
) {
    let id = handle.id();
    // notify-rust unwraps D-Bus errors while it subscribes; a bus that
    // goes away then must cost this thread, not the process.
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handle.wait_for_action(|key| {
            // notify-rust reports a close as this pseudo action.
            if key == "__closed" {
                tracing::debug!(id, "toast closed");
                return;
            }
            let action = action_from_key(key);
            tracing::debug!(id, %action, ?item_id, "toast action");
            // The receiver is gone only when the app is shutting down.
            let _ = actions.send(ActionInvoked { item_id, action });
        });
    }));
    if waited.is_err() {
        tracing::warn!(
            id,
            "lost the notification server while waiting for an action"
        );
    }
}

const SERVER_NAME: &str = "org.freedesktop.Notifications";

/// Whether a notification server can answer on the session bus: the bus
/// is reachable and the name is owned or can be started. notify-rust
/// keeps its error kinds private and its messages are zbus's wording, so
/// after a failure the bus itself is asked.
fn server_present() -> bool {
    async fn ask(
        bus: &zbus::Connection,
        method: &str,
        body: &(impl serde::Serialize + zbus::Type),
    ) -> Option<zbus::Message> {
        bus.call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            method,
            body,
        )
        .await
        .ok()
    }
    zbus::block_on(async {
        let Ok(bus) = zbus::Connection::session().await else {
            return false;
        };
        let owned = ask(&bus, "NameHasOwner", &(SERVER_NAME,)).await;
        if owned.is_some_and(|m| m.body().deserialize::<bool>().unwrap_or(false)) {
            return true;
        }
        let names = ask(&bus, "ListActivatableNames", &()).await;
        names.is_some_and(|m| {
            m.body()
                .deserialize::<Vec<String>>()
                .is_ok_and(|n| n.iter().any(|n| n == SERVER_NAME))
        })
    })
}

pub(super) fn server_info() -> Result<ServerInfo, NotifyError> {
    let info = notify_rust::get_server_information().map_err(|e| classify(&e))?;
    let capabilities = notify_rust::get_capabilities().map_err(|e| classify(&e))?;
    let has = |name: &str| capabilities.iter().any(|c| c == name);
    Ok(ServerInfo {
        name: info.name,
        vendor: info.vendor,
        version: info.version,
        actions: has("actions"),
        body_markup: has("body-markup"),
        hint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_action_is_reported_as_view() {
        assert_eq!(action_from_key(DEFAULT_ACTION), ACTION_VIEW);
        assert_eq!(action_from_key("this-was-me"), "this-was-me");
    }
}
