//! Carries the controller's status and history updates to the tray and, as
//! events, to the page. The page asks once at load and then only listens.

use herald_core::engine::InboxUpdate;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::error::RecvError;

use crate::shell::Shell;
use crate::view::{InboxEvent, OpenEvent, StatusView};
use crate::window::{self, Route};

pub fn spawn(app: AppHandle) {
    let controller = app.state::<Shell>().controller.clone();
    let mut status = controller.status();
    let mut updates = controller.updates();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                changed = status.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let current = status.borrow_and_update().clone();
                    app.state::<Shell>().with_tray(|tray| tray.update(&current));
                    emit(&app, "status", StatusView::from(current));
                }
                update = updates.recv() => match update {
                    Ok(InboxUpdate::Open { item, url }) => {
                        let open = Box::new(OpenEvent { item: *item, url });
                        if let Err(e) = window::show(&app, Route::Open(open)) {
                            tracing::error!(error = %e, "cannot open the window");
                        }
                    }
                    Ok(update) => {
                        if let Some(event) = InboxEvent::from_update(update) {
                            emit(&app, "inbox", event);
                        }
                    }
                    Err(RecvError::Lagged(_)) => emit(&app, "inbox", InboxEvent::Reset),
                    Err(RecvError::Closed) => break,
                },
            }
        }
    });
}

/// Sends an event to the page, if it is open: with the window closed there
/// is no page, and nothing to keep.
fn emit<S: serde::Serialize + Clone>(app: &AppHandle, event: &str, payload: S) {
    if !window::is_open(app) {
        return;
    }
    if let Err(e) = app.emit_to(window::LABEL, event, payload) {
        tracing::debug!(error = %e, event, "event not delivered");
    }
}
