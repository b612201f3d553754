//! Start-up, plugins and the run loop.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_core::config::Paths;
use herald_core::controller::{Controller, ControllerParts};
use herald_core::doctor;
use herald_core::link::LinkConfig;
use herald_core::notify::desktop::{DesktopNotifier, server_info};
use herald_core::notify::{Notifier, Toast, Urgency};
use herald_core::secret::KeyringStore;
use herald_core::status::ConnectionState;
use tauri::{App, Manager, RunEvent};

use crate::shell::Shell;
use crate::tray::Tray;
use crate::window::{self, Route};
use crate::{Launch, bridge, command};

/// The keyring service name, shared with the `herald` CLI so both see the
/// same sign-in.
const KEYRING_SERVICE: &str = "herald";
/// The name of the installed `.desktop` file, which desktops use to match
/// notifications to the app.
const DESKTOP_ENTRY: &str = "herald-desktop";
/// How long Quit waits for the engine to store what it has received.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub fn run(launch: Launch) -> anyhow::Result<()> {
    let app = tauri::Builder::default()
        // First, so a second launch is stopped before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Err(e) = window::show(app, Route::Start) {
                tracing::error!(error = %e, "cannot show the window for a second launch");
            }
        }))
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg("--minimized")
                .app_name("Herald")
                .build(),
        )
        .invoke_handler(tauri::generate_handler![
            command::status,
            command::sign_in,
            command::sign_out,
            command::history,
            command::item,
            command::mark_read,
            command::mark_all_read,
            command::delete_items,
            command::open_link,
            command::settings,
            command::save_settings,
            command::pause,
            command::reconnect_now,
            command::doctor,
            command::send_test,
            command::defaults,
        ])
        .setup(move |app| Ok(setup(app, launch)?))
        .build(tauri::generate_context!("../tauri.conf.json"))
        .context("cannot start the app")?;
    app.run(|app, event| match event {
        // Closing the last window leaves Herald in the tray; only Quit (an
        // exit with a code) ends it.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            let controller = app.state::<Shell>().controller.clone();
            tauri::async_runtime::block_on(async move {
                if tokio::time::timeout(SHUTDOWN_GRACE, controller.shutdown())
                    .await
                    .is_err()
                {
                    tracing::warn!("the engine did not stop in time");
                }
            });
        }
        _ => {}
    });
    Ok(())
}

fn setup(app: &mut App, launch: Launch) -> anyhow::Result<()> {
    let paths = Paths::resolve()?;
    let keyring_timeout = std::env::var("HERALD_KEYRING_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis);
    let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
    let (notifier, markup): (Option<Arc<dyn Notifier>>, bool) = match server_info() {
        Ok(info) => (
            Some(Arc::new(DesktopNotifier::new(
                "Herald",
                DESKTOP_ENTRY,
                action_tx,
            ))),
            info.body_markup,
        ),
        Err(e) => {
            tracing::warn!(error = %e, "no desktop notifications");
            (None, false)
        }
    };
    let parts = ControllerParts {
        paths,
        store: Arc::new(KeyringStore::new(KEYRING_SERVICE, keyring_timeout)),
        notifier: notifier.clone(),
        link: LinkConfig::default(),
        markup,
    };
    // The controller spawns its tasks on Tauri's runtime.
    let controller = Arc::new(tauri::async_runtime::block_on(async {
        Controller::new(parts, action_rx)
    }));
    app.manage(Shell {
        controller: controller.clone(),
        launch: launch.clone(),
        tray: std::sync::Mutex::new(None),
    });
    let handle = app.handle().clone();
    match Tray::build(&handle, &controller.current_status()) {
        Ok(tray) => {
            *app.state::<Shell>()
                .tray
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(tray)
        }
        Err(e) => tracing::error!(error = %e, "cannot make the tray icon"),
    }
    bridge::spawn(handle.clone());
    tauri::async_runtime::spawn(async move {
        let status = controller.resume().await;
        let signed_out = matches!(status.state, ConnectionState::SignedOut { .. });
        // Autostart keeps Herald in the tray, unless there is nothing to do
        // there before signing in.
        if (!launch.minimized || signed_out)
            && let Err(e) = window::show(&handle, Route::Start)
        {
            tracing::error!(error = %e, "cannot open the window");
        }
        warn_without_tray_host(notifier).await;
    });
    Ok(())
}

/// Without a tray host (GNOME without its extension) the icon is invisible:
/// say so once, and how to reach the window.
async fn warn_without_tray_host(notifier: Option<Arc<dyn Notifier>>) {
    let check = tokio::task::spawn_blocking(doctor::check_tray_host).await;
    let Ok(check) = check else { return };
    if check.ok {
        return;
    }
    tracing::warn!(detail = %check.detail, "no tray host");
    let Some(notifier) = notifier else { return };
    let toast = Toast {
        summary: "Herald is running without a tray icon".into(),
        body: "This desktop shows no tray icons. Open Herald again from your applications to \
               reach its window; notifications still arrive."
            .into(),
        urgency: Urgency::Normal,
        timeout: None,
        actions: Vec::new(),
        item_id: None,
        category: None,
        markup: false,
    };
    let _ = tokio::task::spawn_blocking(move || notifier.show(&toast)).await;
}
