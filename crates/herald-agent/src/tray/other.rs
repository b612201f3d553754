//! The tray on Windows and macOS: the OS's own notification-area icon and
//! menu, through tray-icon (and its menu crate, muda).
//!
//! Both systems want the tray's thread to run their event loop (the main
//! thread, on macOS), so here the roles of `main` are swapped: tao's event
//! loop owns the main thread and draws the tray, and the agent runs on the
//! tokio runtime beside it. Views reach the loop as user events; clicks go
//! straight from muda's handler (any thread) into the agent's channel. When
//! the agent's future ends the loop exits with its code.
//!
//! This back-end is deliberately minimal and is only compiled, not tested,
//! by this repository's CI (which runs Linux): no left-click action beyond
//! the menu (tray-icon opens the menu on a click), and a "Start at login"
//! check mark that the OS toggles on click and the agent's next view sets
//! right.

use std::future::Future;
use std::time::Duration;

use tao::event::{Event, StartCause};
use tao::event_loop::{ControlFlow, EventLoopBuilder};
use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use super::{Action, Ends, Entry, Rgba, View};

type BoxError = Box<dyn std::error::Error>;

/// What the event loop is told by the agent's side.
enum UserEvent {
    View(View),
    Exit(i32),
}

/// The tray while it is shown, and the entries that change.
struct Shown {
    icon: TrayIcon,
    line: Option<MenuItem>,
    autostart: Option<CheckMenuItem>,
    view: View,
}

/// A menu label as plain text: `&` marks a mnemonic on Windows.
fn literal(text: &str) -> String {
    text.replace('&', "&&")
}

fn icon(view: &View) -> Result<Icon, BoxError> {
    let image = Rgba::decode(view.icon_png())?;
    Ok(Icon::from_rgba(image.data, image.width, image.height)?)
}

impl Shown {
    fn build(view: View) -> Result<Shown, BoxError> {
        let menu = Menu::new();
        let mut line = None;
        let mut autostart = None;
        for entry in super::menu(&view) {
            match entry {
                Entry::Label(text) => {
                    let item = MenuItem::new(literal(&text), false, None);
                    menu.append(&item)?;
                    line = Some(item);
                }
                Entry::Separator => menu.append(&PredefinedMenuItem::separator())?,
                Entry::Item(label, action) => {
                    menu.append(&MenuItem::with_id(action.id(), label, true, None))?;
                }
                Entry::Check(label, checked, action) => {
                    let item = CheckMenuItem::with_id(action.id(), label, true, checked, None);
                    menu.append(&item)?;
                    autostart = Some(item);
                }
                Entry::Submenu(label, entries) => {
                    let submenu = Submenu::new(label, true);
                    for (label, action) in entries {
                        submenu.append(&MenuItem::with_id(action.id(), label, true, None))?;
                    }
                    menu.append(&submenu)?;
                }
            }
        }
        let icon = TrayIconBuilder::new()
            .with_id("herald")
            .with_tooltip(&view.tooltip)
            .with_icon(icon(&view)?)
            .with_menu(Box::new(menu))
            .build()?;
        Ok(Shown {
            icon,
            line,
            autostart,
            view,
        })
    }

    fn show(&mut self, view: View) {
        if (view.presence, view.badge) != (self.view.presence, self.view.badge) {
            match icon(&view) {
                Ok(image) => {
                    if let Err(e) = self.icon.set_icon(Some(image)) {
                        tracing::warn!(error = %e, "cannot change the tray icon");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot decode a tray icon"),
            }
        }
        if view.line != self.view.line
            && let Some(line) = &self.line
        {
            line.set_text(literal(&view.line));
        }
        if view.tooltip != self.view.tooltip
            && let Err(e) = self.icon.set_tooltip(Some(&view.tooltip))
        {
            tracing::debug!(error = %e, "cannot change the tray tooltip");
        }
        // Always: the OS flipped the mark on the click already.
        if let Some(autostart) = &self.autostart {
            autostart.set_checked(view.autostart);
        }
        self.view = view;
    }
}

/// Runs the tray's event loop on this (the main) thread and `agent` on
/// `runtime`; exits the process with the agent's code when it ends.
pub fn run(
    runtime: tokio::runtime::Runtime,
    ends: Ends,
    agent: impl Future<Output = i32> + Send + 'static,
) -> ! {
    let event_loop = EventLoopBuilder::<UserEvent>::with_user_event().build();
    let Ends { views, actions } = ends;
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
        if let Some(action) = Action::from_id(event.id.0.as_str()) {
            let _ = actions.send(action);
        }
    }));

    let proxy = event_loop.create_proxy();
    runtime.spawn(async move {
        let code = agent.await;
        let _ = proxy.send_event(UserEvent::Exit(code));
    });
    let proxy = event_loop.create_proxy();
    let mut changes = views.clone();
    runtime.spawn(async move {
        while changes.changed().await.is_ok() {
            let view = changes.borrow_and_update().clone();
            if proxy.send_event(UserEvent::View(view)).is_err() {
                break;
            }
        }
    });

    let mut runtime = Some(runtime);
    let mut shown: Option<Shown> = None;
    event_loop.run(move |event, _, control_flow| {
        *control_flow = ControlFlow::Wait;
        match event {
            // The loop runs now: the earliest a tray icon may be made.
            Event::NewEvents(StartCause::Init) => {
                let view = views.borrow().clone();
                match Shown::build(view) {
                    Ok(tray) => shown = Some(tray),
                    Err(e) => tracing::error!(error = %e, "cannot make the tray icon"),
                }
            }
            Event::UserEvent(UserEvent::View(view)) => {
                if let Some(tray) = shown.as_mut() {
                    tray.show(view);
                }
            }
            Event::UserEvent(UserEvent::Exit(code)) => {
                shown = None;
                if let Some(runtime) = runtime.take() {
                    runtime.shutdown_timeout(Duration::from_secs(1));
                }
                *control_flow = ControlFlow::ExitWithCode(code);
            }
            _ => {}
        }
    })
}
