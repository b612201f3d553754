//! The desktop [`Notifier`], built on notify-rust.
//!
//! On Linux and the BSDs it speaks the freedesktop notification protocol over
//! D-Bus, with the hints GNOME needs to attribute a toast to the app
//! (`desktop-entry`, `sender-pid`), the urgency and category, and the toast's
//! actions. A toast body click is the freedesktop `default` action, reported
//! as [`ACTION_VIEW`]. On macOS and Windows it uses notify-rust's platform
//! paths: Windows reports clicks too, macOS shows the toast only.

use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::{ACTION_VIEW, ActionInvoked, Notifier, NotifyError, ServerInfo, Toast};

/// How long `show` and [`server_info`] wait for the notification server. A
/// server that D-Bus is still trying to activate, or one that hangs, costs
/// the caller this much and no more.
const SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// The freedesktop key of the action invoked by clicking the toast itself.
const DEFAULT_ACTION: &str = "default";

/// Shows [`Toast`]s as native desktop notifications.
///
/// Each shown toast keeps one thread and one D-Bus connection until it is
/// acted on or closed: freedesktop servers send `ActionInvoked` only to the
/// connection that sent the toast.
#[derive(Debug)]
pub struct DesktopNotifier {
    app_name: String,
    desktop_entry: String,
    actions: UnboundedSender<ActionInvoked>,
}

impl DesktopNotifier {
    /// `desktop_entry` is the name of the app's `.desktop` file without the
    /// suffix (GNOME needs it to show the toast at all).
    ///
    /// `actions` receives [`ActionInvoked`] when the user clicks an action or
    /// the toast body (the default action is reported as [`ACTION_VIEW`]).
    pub fn new(
        app_name: &str,
        desktop_entry: &str,
        actions: UnboundedSender<ActionInvoked>,
    ) -> DesktopNotifier {
        DesktopNotifier {
            app_name: app_name.to_owned(),
            desktop_entry: desktop_entry.to_owned(),
            actions,
        }
    }

    fn notification(&self, toast: &Toast) -> notify_rust::Notification {
        let mut n = notify_rust::Notification::new();
        n.appname(&self.app_name)
            .summary(&toast.summary)
            .body(&toast.body);
        n.timeout(match toast.timeout {
            None => notify_rust::Timeout::Default,
            Some(after) => notify_rust::Timeout::from(after),
        });
        xdg::add_hints(&mut n, &self.desktop_entry, toast);
        for (key, label) in &toast.actions {
            n.action(key, label);
        }
        n
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

impl Notifier for DesktopNotifier {
    fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
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
                xdg::wait_for_action(handle, item_id, sender);
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

/// Asks the notification server who it is and what it can do
/// (`GetServerInformation` and `GetCapabilities`): for markup decisions and
/// the doctor. Waits at most a few seconds.
pub fn server_info() -> Result<ServerInfo, NotifyError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("herald-notify-info".into())
        .spawn(move || {
            let _ = tx.send(xdg::server_info());
        })
        .map_err(|e| NotifyError::Refused(format!("cannot start a thread: {e}")))?;
    match rx.recv_timeout(SERVER_TIMEOUT) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(NotifyError::Unavailable(format!(
            "the notification server did not answer within {SERVER_TIMEOUT:?}"
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(NotifyError::Refused(
            "the server information thread panicked".into(),
        )),
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
    if ABSENT.iter().any(|name| text.contains(name)) || !xdg::server_present() {
        NotifyError::Unavailable(text)
    } else {
        NotifyError::Refused(text)
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
mod xdg {
    //! The freedesktop (D-Bus) specifics.

    use notify_rust::{Hint, Notification, NotificationHandle};
    use tokio::sync::mpsc::UnboundedSender;

    use super::DEFAULT_ACTION;
    use crate::notify::{ACTION_VIEW, ActionInvoked, NotifyError, ServerInfo, Toast, Urgency};

    pub(super) fn add_hints(n: &mut Notification, desktop_entry: &str, toast: &Toast) {
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
    pub(super) fn wait_for_action(
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
                let action = super::action_from_key(key);
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
    pub(super) fn server_present() -> bool {
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
        let info = notify_rust::get_server_information().map_err(|e| super::classify(&e))?;
        let capabilities = notify_rust::get_capabilities().map_err(|e| super::classify(&e))?;
        let has = |name: &str| capabilities.iter().any(|c| c == name);
        Ok(ServerInfo {
            name: info.name,
            vendor: info.vendor,
            version: info.version,
            actions: has("actions"),
            body_markup: has("body-markup"),
        })
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
mod xdg {
    //! macOS and Windows: notify-rust's platform paths, without freedesktop
    //! hints. Windows reports clicks; macOS (NSUserNotification) reports none.

    use notify_rust::Notification;
    use tokio::sync::mpsc::UnboundedSender;

    use crate::notify::{ActionInvoked, NotifyError, ServerInfo, Toast};

    #[cfg(target_os = "windows")]
    pub(super) fn add_hints(n: &mut Notification, _desktop_entry: &str, toast: &Toast) {
        use crate::notify::Urgency;
        // Critical becomes a "reminder" toast that stays until dismissed.
        n.urgency(match toast.urgency {
            Urgency::Low => notify_rust::Urgency::Low,
            Urgency::Normal => notify_rust::Urgency::Normal,
            Urgency::Critical => notify_rust::Urgency::Critical,
        });
    }

    #[cfg(not(target_os = "windows"))]
    pub(super) fn add_hints(_n: &mut Notification, _desktop_entry: &str, _toast: &Toast) {}

    /// A body click comes back as the default response, reported as view.
    #[cfg(target_os = "windows")]
    pub(super) fn wait_for_action(
        handle: notify_rust::NotificationHandle,
        item_id: Option<i64>,
        actions: UnboundedSender<ActionInvoked>,
    ) {
        let _ = handle.wait_for_response(|response: &notify_rust::NotificationResponse| {
            let action = match response {
                notify_rust::NotificationResponse::Default => crate::notify::ACTION_VIEW.to_owned(),
                notify_rust::NotificationResponse::Action(key) => key.clone(),
                _ => return,
            };
            let _ = actions.send(ActionInvoked { item_id, action });
        });
    }

    #[cfg(not(target_os = "windows"))]
    pub(super) fn wait_for_action<H>(
        _handle: H,
        _item_id: Option<i64>,
        _actions: UnboundedSender<ActionInvoked>,
    ) {
    }

    /// There is no server to look for; a failure is the platform's refusal.
    pub(super) fn server_present() -> bool {
        true
    }

    pub(super) fn server_info() -> Result<ServerInfo, NotifyError> {
        let windows = cfg!(target_os = "windows");
        Ok(ServerInfo {
            name: if windows {
                "Windows notifications"
            } else {
                "Notification Center"
            }
            .into(),
            vendor: if windows { "Microsoft" } else { "Apple" }.into(),
            version: String::new(),
            actions: windows,
            body_markup: false,
        })
    }
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
