//! The tray icon and its menu.
//!
//! On Linux the icon is a StatusNotifierItem (libayatana-appindicator), which
//! delivers no left click: the menu is the way in, so "Open Herald" is always
//! in it. Appindicator shows no tooltip either; the disabled first line of
//! the menu says the state on every platform.

use herald_core::controller::Pause;
use herald_core::status::{ConnectionState, Presence, Status};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt;

use crate::shell::Shell;
use crate::window::{self, Route};

const OPEN: &str = "open";
const PAUSE_HOUR: &str = "pause-hour";
const PAUSE_TOMORROW: &str = "pause-tomorrow";
const RESUME: &str = "pause-resume";
const RECONNECT: &str = "reconnect";
const AUTOSTART: &str = "autostart";
const SIGN_OUT: &str = "sign-out";
const QUIT: &str = "quit";

/// The icon of each presence, and with a badge for unread items.
fn icon_bytes(presence: Presence, unread: bool) -> &'static [u8] {
    match (presence, unread) {
        (Presence::Connected, false) => include_bytes!("../../icons/tray/connected@2x.png"),
        (Presence::Connected, true) => include_bytes!("../../icons/tray/connected-unread@2x.png"),
        (Presence::Connecting, false) => include_bytes!("../../icons/tray/connecting@2x.png"),
        (Presence::Connecting, true) => {
            include_bytes!("../../icons/tray/connecting-unread@2x.png")
        }
        (Presence::Offline, false) => include_bytes!("../../icons/tray/offline@2x.png"),
        (Presence::Offline, true) => include_bytes!("../../icons/tray/offline-unread@2x.png"),
        // Signed out there is no history to be unread.
        (Presence::SignedOut, _) => include_bytes!("../../icons/tray/signed-out@2x.png"),
    }
}

/// The status line, e.g. "Connected to example.com".
pub fn status_line(status: &Status) -> String {
    let host = status
        .server
        .as_deref()
        .and_then(url_host)
        .unwrap_or_else(|| "the server".into());
    match &status.state {
        ConnectionState::Connected => format!("Connected to {host}"),
        ConnectionState::Connecting => format!("Connecting to {host}…"),
        ConnectionState::Backoff { .. } if status.presence() == Presence::Offline => {
            format!("Offline: {host} is unreachable")
        }
        ConnectionState::Backoff { .. } => format!("Reconnecting to {host}…"),
        ConnectionState::AuthFailed { .. } => format!("Signing in to {host} again…"),
        ConnectionState::Paused => "Paused".into(),
        ConnectionState::Stopped => "Stopped".into(),
        ConnectionState::SignedOut { .. } => status.state.label(),
    }
}

/// The tooltip: the status line, and the unread count when there is one.
pub fn tooltip(status: &Status) -> String {
    match status.unread {
        0 => format!("Herald: {}", status_line(status)),
        1 => format!("Herald: {} · 1 unread", status_line(status)),
        n => format!("Herald: {} · {n} unread", status_line(status)),
    }
}

fn url_host(server: &str) -> Option<String> {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    let host = rest.split('/').next()?;
    (!host.is_empty()).then(|| host.to_owned())
}

/// What the tray shows now, so an update only touches what changed (each
/// change is a D-Bus round on Linux).
pub struct Tray {
    icon: TrayIcon,
    status_item: MenuItem<tauri::Wry>,
    autostart_item: CheckMenuItem<tauri::Wry>,
    shown: Option<(Presence, bool, String)>,
}

impl Tray {
    pub fn build(app: &AppHandle, status: &Status) -> tauri::Result<Tray> {
        let status_item =
            MenuItem::with_id(app, "status", status_line(status), false, None::<&str>)?;
        let autostart_on = app.autolaunch().is_enabled().unwrap_or(false);
        let autostart_item = CheckMenuItem::with_id(
            app,
            AUTOSTART,
            "Start at login",
            true,
            autostart_on,
            None::<&str>,
        )?;
        let pause = Submenu::with_items(
            app,
            "Pause notifications",
            true,
            &[
                &MenuItem::with_id(app, PAUSE_HOUR, "For 1 hour", true, None::<&str>)?,
                &MenuItem::with_id(app, PAUSE_TOMORROW, "Until tomorrow", true, None::<&str>)?,
                &MenuItem::with_id(app, RESUME, "Resume", true, None::<&str>)?,
            ],
        )?;
        let menu = Menu::with_items(
            app,
            &[
                &status_item,
                &PredefinedMenuItem::separator(app)?,
                &MenuItem::with_id(app, OPEN, "Open Herald", true, None::<&str>)?,
                &pause,
                &MenuItem::with_id(app, RECONNECT, "Reconnect now", true, None::<&str>)?,
                &PredefinedMenuItem::separator(app)?,
                &autostart_item,
                &MenuItem::with_id(app, SIGN_OUT, "Sign out", true, None::<&str>)?,
                &MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?,
            ],
        )?;
        let icon = TrayIconBuilder::with_id("herald")
            .icon(Image::from_bytes(icon_bytes(status.presence(), false))?)
            .tooltip(tooltip(status))
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(on_menu)
            .build(app)?;
        let mut tray = Tray {
            icon,
            status_item,
            autostart_item,
            shown: None,
        };
        tray.update(status);
        Ok(tray)
    }

    pub fn update(&mut self, status: &Status) {
        let presence = status.presence();
        let badge = status.unread > 0 && presence != Presence::SignedOut;
        let line = status_line(status);
        let previous = self.shown.replace((presence, badge, line.clone()));
        let (icon_changed, line_changed) = match &previous {
            Some((p, b, l)) => ((*p, *b) != (presence, badge), *l != line),
            None => (true, true),
        };
        if icon_changed {
            let icon = Image::from_bytes(icon_bytes(presence, badge));
            if let Err(e) = icon.and_then(|i| self.icon.set_icon(Some(i))) {
                tracing::warn!(error = %e, "cannot change the tray icon");
            }
        }
        if line_changed && let Err(e) = self.status_item.set_text(&line) {
            tracing::warn!(error = %e, "cannot change the tray status line");
        }
        if (icon_changed || line_changed)
            && let Err(e) = self.icon.set_tooltip(Some(tooltip(status)))
        {
            tracing::debug!(error = %e, "no tray tooltip here");
        }
    }

    /// Shows the autostart state, e.g. after the settings page changed it.
    pub fn set_autostart(&self, on: bool) {
        let _ = self.autostart_item.set_checked(on);
    }
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    let shell = app.state::<Shell>();
    let controller = shell.controller.clone();
    match event.id().as_ref() {
        OPEN => {
            if let Err(e) = window::show(app, Route::Start) {
                tracing::error!(error = %e, "cannot open the window");
            }
        }
        id @ (PAUSE_HOUR | PAUSE_TOMORROW | RESUME) => {
            let pause = match id {
                PAUSE_HOUR => Pause::Hour,
                PAUSE_TOMORROW => Pause::Tomorrow,
                _ => Pause::Resume,
            };
            tauri::async_runtime::spawn(async move {
                if let Err(e) = controller.pause(pause).await {
                    tracing::warn!(error = %e, "cannot pause notifications");
                }
            });
        }
        RECONNECT => {
            tauri::async_runtime::spawn(async move {
                let _ = controller.reconnect_now().await;
            });
        }
        AUTOSTART => {
            // The check item toggled itself; make the entry match it.
            let on = shell
                .tray
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .and_then(|t| t.autostart_item.is_checked().ok())
                .unwrap_or(false);
            if let Err(e) = set_autostart(app, on) {
                tracing::warn!(error = %e, "cannot change start at login");
            }
        }
        SIGN_OUT => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = controller.sign_out().await {
                    tracing::warn!(error = %e, "sign-out was not confirmed");
                }
                let _ = window::show(&app, Route::Start);
            });
        }
        QUIT => app.exit(0),
        _ => {}
    }
}

/// Turns start at login on or off, and shows the result in the menu.
pub fn set_autostart(app: &AppHandle, on: bool) -> Result<bool, tauri_plugin_autostart::Error> {
    let launcher = app.autolaunch();
    if on {
        launcher.enable()?;
    } else {
        launcher.disable()?;
    }
    let now = launcher.is_enabled()?;
    app.state::<Shell>().with_tray(|t| t.set_autostart(now));
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::status::SignOutReason;

    fn status(state: ConnectionState) -> Status {
        let mut s = Status::signed_out(SignOutReason::NotSignedIn);
        s.state = state;
        s.server = Some("https://notify.example.com".into());
        s
    }

    #[test]
    fn the_status_line_names_the_host() {
        assert_eq!(
            status_line(&status(ConnectionState::Connected)),
            "Connected to notify.example.com"
        );
        let mut offline = status(ConnectionState::Backoff {
            reason: "refused".into(),
        });
        assert_eq!(status_line(&offline), "Reconnecting to notify.example.com…");
        offline.failed_attempts = 5;
        assert_eq!(
            status_line(&offline),
            "Offline: notify.example.com is unreachable"
        );
        assert_eq!(
            status_line(&Status::signed_out(SignOutReason::NotSignedIn)),
            "Signed out"
        );
    }

    #[test]
    fn the_tooltip_counts_unread() {
        let mut s = status(ConnectionState::Connected);
        s.unread = 3;
        assert_eq!(
            tooltip(&s),
            "Herald: Connected to notify.example.com · 3 unread"
        );
    }

    #[test]
    fn every_state_has_its_own_icon() {
        let all = [
            icon_bytes(Presence::Connected, false),
            icon_bytes(Presence::Connected, true),
            icon_bytes(Presence::Connecting, false),
            icon_bytes(Presence::Connecting, true),
            icon_bytes(Presence::Offline, false),
            icon_bytes(Presence::Offline, true),
            icon_bytes(Presence::SignedOut, false),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b, "two states share an icon");
            }
        }
    }
}
