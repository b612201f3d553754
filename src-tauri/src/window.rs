//! The one window, which is the app: this process builds it at start-up and
//! ends when it closes. WebKit's cache model is set so that the web process
//! ends with the window too, not at some later time.

use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

use crate::agent::Agent;

pub const LABEL: &str = "main";

/// Where the window should land.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Wherever the page starts (history, or sign-in when signed out).
    Start,
    /// The details of the history item with this id (`--open ID`).
    Item(i64),
    /// The details in an `open` push: `{ item, url }`.
    Open(Value),
}

impl Route {
    /// The URL fragment a new page reads its route from: it was not
    /// listening yet when the route was decided.
    fn fragment(&self) -> String {
        let id = match self {
            Route::Start => None,
            Route::Item(id) => Some(*id),
            Route::Open(open) => open["item"]["id"].as_i64(),
        };
        id.map_or_else(String::new, |id| format!("#open={id}"))
    }
}

/// Whether the window is being built, and the route a launch asked for
/// meanwhile. The X window is mapped before Tauri knows the window by its
/// label, so a second launch in that gap would build a second window;
/// instead it leaves its route here, and the builder follows it after.
#[derive(Default)]
pub struct Slot(Mutex<SlotState>);

#[derive(Default)]
struct SlotState {
    building: bool,
    pending: Option<Route>,
}

/// Shows the window (building it when there is none) and routes it.
pub fn show(app: &AppHandle, route: Route) -> tauri::Result<()> {
    let slot = app.state::<Slot>();
    {
        let mut state = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
        if state.building {
            // A bare launch adds nothing to a route already asked for.
            if route != Route::Start || state.pending.is_none() {
                state.pending = Some(route);
            }
            return Ok(());
        }
        if let Some(window) = app.get_webview_window(LABEL) {
            drop(state);
            return route_to(app, &window, route);
        }
        state.building = true;
    }
    let built = build(app, &route);
    let pending = {
        let mut state = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.building = false;
        state.pending.take()
    };
    built?;
    match pending {
        Some(route) => show(app, route),
        None => Ok(()),
    }
}

/// Brings the existing window forward, at the route.
fn route_to(app: &AppHandle, window: &WebviewWindow, route: Route) -> tauri::Result<()> {
    // These can fail on a window being torn down; the route is what matters.
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
    match route {
        Route::Start => Ok(()),
        Route::Open(open) => window.emit_to(LABEL, "open", open),
        // The page shows an item it is sent; fetch it from the agent.
        Route::Item(id) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                match app.state::<Agent>().call("item", json!({ "id": id })).await {
                    Ok(item) if !item.is_null() => {
                        let open = json!({ "item": item, "url": null });
                        if let Err(e) = show(&app, Route::Open(open)) {
                            tracing::error!(error = %e, "cannot show the item");
                        }
                    }
                    Ok(_) => tracing::info!(id, "no such item to open"),
                    Err(e) => tracing::warn!(error = %e, id, "cannot fetch the item to open"),
                }
            });
            Ok(())
        }
    }
}

fn build(app: &AppHandle, route: &Route) -> tauri::Result<()> {
    let window = WebviewWindowBuilder::new(
        app,
        LABEL,
        WebviewUrl::App(format!("index.html{}", route.fragment()).into()),
    )
    .title("Herald")
    .inner_size(980.0, 680.0)
    .min_inner_size(560.0, 420.0)
    .build()?;
    end_web_process_with_window(&window)
}

/// WebKitGTK's default cache model keeps a closed page's web process alive
/// for a quick return; Herald wants it gone with the window.
#[cfg(target_os = "linux")]
fn end_web_process_with_window(window: &WebviewWindow) -> tauri::Result<()> {
    window.with_webview(|webview| {
        use webkit2gtk::{CacheModel, WebContextExt, WebViewExt};
        if let Some(context) = webview.inner().context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
    })
}

/// Elsewhere nothing to set: this process ends with its window, and WebView2's
/// and WKWebView's helper processes end with the app that hosts them.
#[cfg(not(target_os = "linux"))]
fn end_web_process_with_window(_window: &WebviewWindow) -> tauri::Result<()> {
    Ok(())
}

/// Sends an event to the page. Before the window is built there is no page,
/// and nothing to keep: a new page asks for its state once, then listens.
pub fn emit(app: &AppHandle, event: &str, payload: Value) {
    if app.get_webview_window(LABEL).is_none() {
        return;
    }
    if let Err(e) = app.emit_to(LABEL, event, payload) {
        tracing::debug!(error = %e, event, "event not delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_window_finds_its_item_in_the_fragment() {
        assert_eq!(Route::Start.fragment(), "");
        assert_eq!(Route::Item(12).fragment(), "#open=12");
        let open = serde_json::json!({ "item": { "id": 40 }, "url": null });
        assert_eq!(Route::Open(open).fragment(), "#open=40");
        assert_eq!(Route::Open(Value::Null).fragment(), "");
    }
}
