//! The desktop [`Notifier`]: the one place where each OS's toast API is
//! chosen. What to show and how it is worded ([`super::policy`],
//! [`super::render`]) are the same everywhere; only the delivery differs.
//!
//! - Linux and the BSDs ([`xdg`](self)): freedesktop notifications over
//!   D-Bus, with actions.
//! - Windows: a WinRT toast with a "View Details" button, under the app's
//!   AppUserModelID ([`crate::APP_ID`]).
//! - macOS: UNUserNotificationCenter with a "View Details" action, when
//!   Herald runs from its app bundle; a bare binary cannot use it, and falls
//!   back to toasts without actions (the doctor says so).

use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::{ActionInvoked, Notifier, NotifyError, ServerInfo, Toast};

#[cfg(all(unix, not(target_os = "macos")))]
#[path = "xdg.rs"]
mod platform;

#[cfg(target_os = "windows")]
#[path = "windows.rs"]
mod platform;

#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod platform;

/// How long `show` and [`server_info`] wait for the notification server. A
/// server that D-Bus is still trying to activate, or one that hangs, costs
/// the caller this much and no more.
const SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Who the toasts are from.
#[derive(Debug, Clone)]
struct Identity {
    /// The name shown on the toast where the platform shows one.
    app_name: String,
    /// The `.desktop` file's name without the suffix (GNOME needs it).
    #[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(dead_code))]
    desktop_entry: String,
}

/// Shows [`Toast`]s as native desktop notifications.
#[derive(Debug)]
pub struct DesktopNotifier {
    backend: platform::Backend,
}

impl DesktopNotifier {
    /// `desktop_entry` is the name of the app's `.desktop` file without the
    /// suffix (GNOME needs it to show the toast at all).
    ///
    /// `actions` receives [`ActionInvoked`] when the user clicks an action or
    /// the toast body (the body click is reported as
    /// [`ACTION_VIEW`](super::ACTION_VIEW)).
    pub fn new(
        app_name: &str,
        desktop_entry: &str,
        actions: UnboundedSender<ActionInvoked>,
    ) -> DesktopNotifier {
        let identity = Identity {
            app_name: app_name.to_owned(),
            desktop_entry: desktop_entry.to_owned(),
        };
        DesktopNotifier {
            backend: platform::Backend::new(identity, actions),
        }
    }
}

impl Notifier for DesktopNotifier {
    fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
        self.backend.show(toast)
    }
}

/// Asks the notification service who it is and what it can do: for markup
/// decisions and the doctor. Waits at most a few seconds.
pub fn server_info() -> Result<ServerInfo, NotifyError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("herald-notify-info".into())
        .spawn(move || {
            let _ = tx.send(platform::server_info());
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
