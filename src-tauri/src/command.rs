//! The commands the page invokes; `docs/ui-contract.md` is their contract.
//! Each one only translates between the page's JSON and the controller.

use herald_core::controller::Pause;
use herald_core::doctor::Check;
use herald_core::inbox::{Item, ListQuery};
use serde::Deserialize;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::error::UiError;
use crate::shell::Shell;
use crate::view::{Defaults, SettingsView, StatusView};

type Result<T> = std::result::Result<T, UiError>;

#[tauri::command]
pub fn status(shell: State<'_, Shell>) -> StatusView {
    shell.controller.current_status().into()
}

#[tauri::command]
pub async fn sign_in(
    shell: State<'_, Shell>,
    server: String,
    email: String,
    password: String,
) -> Result<StatusView> {
    if email.trim().is_empty() || password.is_empty() {
        return Err(UiError::invalid("enter your email and password"));
    }
    Ok(shell
        .controller
        .sign_in(server.trim(), email.trim(), &password)
        .await?
        .into())
}

#[tauri::command]
pub async fn sign_out(shell: State<'_, Shell>) -> Result<()> {
    Ok(shell.controller.sign_out().await?)
}

/// The page's history query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryQuery {
    kind: Option<String>,
    unread_only: bool,
    search: Option<String>,
    before_id: Option<i64>,
    limit: u32,
}

#[tauri::command]
pub async fn history(shell: State<'_, Shell>, query: HistoryQuery) -> Result<Vec<Item>> {
    let query = ListQuery {
        kind: query.kind.filter(|k| !k.is_empty()),
        unread_only: query.unread_only,
        search: query.search.filter(|s| !s.trim().is_empty()),
        before_id: query.before_id,
        limit: query.limit,
        unread_first: true,
    };
    Ok(shell.controller.history(query).await?)
}

#[tauri::command]
pub async fn item(shell: State<'_, Shell>, id: i64) -> Result<Option<Item>> {
    Ok(shell.controller.item(id).await?)
}

#[tauri::command]
pub async fn mark_read(shell: State<'_, Shell>, ids: Vec<i64>, read: bool) -> Result<()> {
    Ok(shell.controller.mark_read(ids, read).await?)
}

#[tauri::command]
pub async fn mark_all_read(shell: State<'_, Shell>) -> Result<()> {
    Ok(shell.controller.mark_all_read().await?)
}

#[tauri::command]
pub async fn delete_items(shell: State<'_, Shell>, ids: Vec<i64>) -> Result<()> {
    Ok(shell.controller.delete(ids).await?)
}

#[tauri::command]
pub async fn open_link(shell: State<'_, Shell>, id: i64) -> Result<()> {
    let url = shell.controller.link_of(id).await?;
    herald_core::opener::open(&url).map_err(UiError::internal)
}

#[tauri::command]
pub fn settings(app: AppHandle, shell: State<'_, Shell>) -> Result<SettingsView> {
    let settings = shell.controller.settings()?;
    let start_at_login = start_at_login(&app);
    Ok(SettingsView::new(&settings, start_at_login))
}

#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    shell: State<'_, Shell>,
    settings: SettingsView,
) -> Result<SettingsView> {
    let current = shell.controller.settings()?;
    let saved = shell
        .controller
        .save_notifications(settings.desktop_notifications, settings.policy(&current))
        .await?;
    let start_at_login = if start_at_login(&app) == settings.start_at_login {
        settings.start_at_login
    } else {
        crate::tray::set_autostart(&app, settings.start_at_login)
            .map_err(|e| UiError::internal(format!("cannot change start at login: {e}")))?
    };
    Ok(SettingsView::new(&saved, start_at_login))
}

#[tauri::command]
pub async fn pause(app: AppHandle, shell: State<'_, Shell>, choice: Pause) -> Result<SettingsView> {
    let saved = shell.controller.pause(choice).await?;
    let start_at_login = start_at_login(&app);
    Ok(SettingsView::new(&saved, start_at_login))
}

#[tauri::command]
pub async fn reconnect_now(shell: State<'_, Shell>) -> Result<()> {
    Ok(shell.controller.reconnect_now().await?)
}

/// The doctor's checks: the keyring, notifications, the tray host, the server.
#[tauri::command]
pub async fn doctor(shell: State<'_, Shell>) -> Result<Vec<Check>> {
    Ok(shell.controller.doctor().await)
}

#[tauri::command]
pub async fn send_test(shell: State<'_, Shell>) -> Result<()> {
    Ok(shell.controller.self_test().await?)
}

#[tauri::command]
pub fn defaults(shell: State<'_, Shell>) -> Result<Defaults> {
    Ok(Defaults::resolve(&shell.controller.settings()?))
}

/// Whether the autostart entry is there (an unreadable one counts as off).
fn start_at_login(app: &AppHandle) -> bool {
    app.autolaunch().is_enabled().unwrap_or(false)
}
