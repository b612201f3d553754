//! Windows: a WinRT toast (`tauri-winrt-notification`) with one button per
//! action and an activation callback, which reports a button by its key and
//! a click on the toast itself as [`ACTION_VIEW`].
//!
//! Windows shows a toast under an AppUserModelID and takes the name and icon
//! from what is registered for it. The installer's Start Menu shortcut
//! carries [`crate::APP_ID`]; so that a Herald not installed that way (a
//! portable copy, a developer build) is still named "Herald" rather than
//! "Windows PowerShell" or nothing, the backend also registers the id under
//! the current user (`HKCU\Software\Classes\AppUserModelId\<id>`), the
//! documented way for unpackaged apps.

use tauri_winrt_notification::{Duration, Scenario, Toast as WinToast};
use tokio::sync::mpsc::UnboundedSender;

use super::Identity;
use crate::notify::{ACTION_VIEW, ActionInvoked, NotifyError, ServerInfo, Toast, Urgency};

/// Where unpackaged apps register their AppUserModelID.
const AUMID_KEY: &str = r"Software\Classes\AppUserModelId";

#[derive(Debug)]
pub struct Backend {
    actions: UnboundedSender<ActionInvoked>,
}

impl Backend {
    pub fn new(identity: Identity, actions: UnboundedSender<ActionInvoked>) -> Backend {
        if let Err(e) = register_app_id(&identity.app_name) {
            // Toasts still show when the installer registered the id.
            tracing::warn!(error = %e, "cannot register the notification app id");
        }
        Backend { actions }
    }

    pub fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
        let mut win = WinToast::new(crate::APP_ID)
            .title(&toast.summary)
            .text1(&toast.body)
            .duration(match toast.timeout {
                Some(after) if after.as_secs() <= 7 => Duration::Short,
                _ => Duration::Long,
            });
        // A critical toast stays until the user acts on it.
        if toast.urgency == Urgency::Critical {
            win = win.scenario(Scenario::Reminder);
        }
        for (key, label) in &toast.actions {
            win = win.add_button(label, key);
        }
        let sender = self.actions.clone();
        let item_id = toast.item_id;
        win = win.on_activated(move |argument| {
            // No argument: the toast body was clicked.
            let action = argument.unwrap_or_else(|| ACTION_VIEW.to_owned());
            // The receiver is gone only when the app is shutting down.
            let _ = sender.send(ActionInvoked { item_id, action });
            Ok(())
        });
        win.show().map_err(|e| match e {
            tauri_winrt_notification::Error::Os(e) => NotifyError::Refused(e.to_string()),
            tauri_winrt_notification::Error::Io(e) => NotifyError::Unavailable(e.to_string()),
        })
    }
}

/// Registers [`crate::APP_ID`] for the current user with the display name
/// toasts are shown under.
fn register_app_id(name: &str) -> windows_registry::Result<()> {
    let key = windows_registry::CURRENT_USER.create(format!("{AUMID_KEY}\\{}", crate::APP_ID))?;
    key.set_string("DisplayName", name)
}

pub fn server_info() -> Result<ServerInfo, NotifyError> {
    Ok(ServerInfo {
        name: "Windows notifications".into(),
        vendor: "Microsoft".into(),
        version: String::new(),
        actions: true,
        body_markup: false,
        hint: None,
    })
}
