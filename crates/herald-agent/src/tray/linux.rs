//! The tray on Linux and the BSDs: a StatusNotifierItem with a dbusmenu,
//! served straight over the session bus by ksni.
//!
//! No GTK and no libappindicator: the item is a D-Bus object, the icon
//! travels as ARGB32 pixmaps in `IconPixmap` (no icon files on disk, no
//! theme look-ups), and the menu is plain data ([`super::menu`]).
//!
//! The item is spawned even when no StatusNotifierWatcher runs yet: at login
//! the agent may start before the panel, and ksni registers the item when a
//! watcher appears (and again whenever the panel restarts). Whether anyone
//! will ever draw it is the doctor's question, asked once at start-up.

use ksni::TrayMethods;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Action, Ends, Entry, Rgba, View};

/// The item's state: what it shows, and where its clicks go.
struct Sni {
    view: View,
    pixmap: Vec<ksni::Icon>,
    actions: mpsc::UnboundedSender<Action>,
}

impl Sni {
    fn new(view: View, actions: mpsc::UnboundedSender<Action>) -> Sni {
        let pixmap = pixmap(view.icon_png());
        Sni {
            view,
            pixmap,
            actions,
        }
    }

    /// Takes a new view, decoding the icon only when it changed.
    fn show(&mut self, view: View) {
        if (view.presence, view.badge) != (self.view.presence, self.view.badge) {
            self.pixmap = pixmap(view.icon_png());
        }
        self.view = view;
    }

    fn click(action: Action) -> Box<dyn Fn(&mut Sni) + Send> {
        // Called with ksni's state locked: hand the work to the agent and return.
        Box::new(move |tray: &mut Sni| {
            let _ = tray.actions.send(action);
        })
    }
}

fn pixmap(png: &[u8]) -> Vec<ksni::Icon> {
    match Rgba::decode(png) {
        Ok(image) => vec![ksni::Icon {
            width: i32::try_from(image.width).unwrap_or(0),
            height: i32::try_from(image.height).unwrap_or(0),
            data: image.to_argb(),
        }],
        Err(e) => {
            tracing::error!(error = %e, "cannot decode a tray icon");
            Vec::new()
        }
    }
}

/// dbusmenu reads `_` as a mnemonic marker; server text shows as it is.
fn literal(text: &str) -> String {
    text.replace('_', "__")
}

fn item(entry: Entry) -> ksni::MenuItem<Sni> {
    use ksni::menu::{CheckmarkItem, StandardItem, SubMenu};
    match entry {
        Entry::Label(text) => StandardItem {
            label: literal(&text),
            enabled: false,
            ..Default::default()
        }
        .into(),
        Entry::Separator => ksni::MenuItem::Separator,
        Entry::Item(label, action) => StandardItem {
            label: label.into(),
            activate: Sni::click(action),
            ..Default::default()
        }
        .into(),
        Entry::Check(label, checked, action) => CheckmarkItem {
            label: label.into(),
            checked,
            activate: Sni::click(action),
            ..Default::default()
        }
        .into(),
        Entry::Submenu(label, entries) => SubMenu {
            label: label.into(),
            submenu: entries
                .into_iter()
                .map(|(label, action)| item(Entry::Item(label, action)))
                .collect(),
            ..Default::default()
        }
        .into(),
    }
}

impl ksni::Tray for Sni {
    fn id(&self) -> String {
        "herald".into()
    }

    fn title(&self) -> String {
        "Herald".into()
    }

    fn category(&self) -> ksni::Category {
        ksni::Category::Communications
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.pixmap.clone()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: "Herald".into(),
            description: self
                .view
                .tooltip
                .strip_prefix("Herald: ")
                .unwrap_or(&self.view.tooltip)
                .to_owned(),
            ..Default::default()
        }
    }

    /// A left click, where the host delivers one: the window.
    fn activate(&mut self, _x: i32, _y: i32) {
        let _ = self.actions.send(Action::Open);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        super::menu(&self.view).into_iter().map(item).collect()
    }

    fn watcher_online(&self) {
        tracing::info!("a tray host appeared; the tray icon is registered");
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        tracing::info!(
            ?reason,
            "no tray host for now; the icon shows when one appears"
        );
        // Keep serving: a panel that restarts comes back.
        true
    }
}

/// Serves the item and keeps it in step with the agent's views until
/// `shutdown`; then takes it off the bus. `None` when there is no session
/// bus to serve it on.
pub async fn spawn(ends: Ends, shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    let Ends { mut views, actions } = ends;
    let first = views.borrow_and_update().clone();
    let handle = match Sni::new(first, actions)
        .assume_sni_available(true)
        .spawn()
        .await
    {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!(error = %e, "no tray icon");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = views.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let view = views.borrow_and_update().clone();
                    if handle.update(|tray| tray.show(view)).await.is_none() {
                        tracing::warn!("the tray icon's service ended");
                        break;
                    }
                }
            }
        }
        handle.shutdown().await;
    }))
}
