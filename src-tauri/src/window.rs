//! The one window. It exists only while the user looks at it: closing it
//! destroys the webview (and with it WebKit's web process), and opening it
//! again builds a new one, which loads the page afresh.

use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};

use crate::view::OpenEvent;

pub const LABEL: &str = "main";

/// Where the window should land when it opens.
#[derive(Debug, Clone)]
pub enum Route {
    /// Wherever the page starts (history, or sign-in when signed out).
    Start,
    Open(Box<OpenEvent>),
}

/// Shows the window (building it when closed) and routes it. A new page
/// learns its route from the URL fragment, since it is not listening yet.
pub fn show(app: &AppHandle, route: Route) -> tauri::Result<()> {
    if let Some(window) = app.get_webview_window(LABEL) {
        // unminimize/show/focus can fail on a window being torn down; the
        // route below is what matters.
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        match route {
            Route::Start => {}
            Route::Open(open) => window.emit_to(LABEL, "open", *open)?,
        }
        return Ok(());
    }
    let fragment = match &route {
        Route::Start => String::new(),
        Route::Open(open) => format!("#open={}", open.item.id),
    };
    let window = WebviewWindowBuilder::new(
        app,
        LABEL,
        WebviewUrl::App(format!("index.html{fragment}").into()),
    )
    .title("Herald")
    .inner_size(980.0, 680.0)
    .min_inner_size(560.0, 420.0)
    .build()?;
    #[cfg(target_os = "linux")]
    window.with_webview(|webview| {
        use webkit2gtk::{CacheModel, WebContextExt, WebViewExt};
        // WebKit's default cache model keeps a closed page's web process
        // alive for a quick return; Herald wants it gone with the window.
        if let Some(context) = webview.inner().context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
    })?;
    Ok(())
}

pub fn is_open(app: &AppHandle) -> bool {
    app.get_webview_window(LABEL).is_some()
}
