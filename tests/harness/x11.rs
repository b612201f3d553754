//! Windows on the X display, handled the way a window manager would.
//!
//! The tests run on Xvfb with no window manager, so nothing else will ever
//! close a window: a "user closes the window" step is the ICCCM
//! `WM_DELETE_WINDOW` message a window manager sends when the close button
//! is pressed. GTK turns it into a `delete-event`, which Tauri reports as
//! `CloseRequested` — the same path as a real close, unlike killing the
//! client or destroying the window.

use std::time::Duration;

use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, MapState, Window,
};
use x11rb::rust_connection::RustConnection;

use crate::wait_for;

/// A connection to `$DISPLAY`, with the atoms this module speaks.
pub struct Display {
    pub conn: RustConnection,
    pub screen: usize,
    pub atoms: Atoms,
}

#[derive(Clone, Copy, Debug)]
pub struct Atoms {
    pub wm_protocols: Atom,
    pub wm_delete_window: Atom,
    pub net_wm_name: Atom,
    pub utf8_string: Atom,
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display")
            .field("screen", &self.screen)
            .field("atoms", &self.atoms)
            .finish_non_exhaustive()
    }
}

impl Display {
    /// Connects to `$DISPLAY` (pure Rust: no libxcb needed).
    pub fn open() -> Display {
        let (conn, screen) = RustConnection::connect(None).unwrap_or_else(|e| {
            panic!(
                "connect to the X display {:?} (run inside scripts/desktop-session.sh): {e}",
                std::env::var("DISPLAY").ok()
            )
        });
        let atoms = Atoms {
            wm_protocols: intern(&conn, "WM_PROTOCOLS"),
            wm_delete_window: intern(&conn, "WM_DELETE_WINDOW"),
            net_wm_name: intern(&conn, "_NET_WM_NAME"),
            utf8_string: intern(&conn, "UTF8_STRING"),
        };
        Display {
            conn,
            screen,
            atoms,
        }
    }

    /// Every window under every screen's root, parents before children.
    /// GTK toplevels are children of the root when no window manager
    /// reparents them, and grandchildren when one does: this covers both.
    pub fn all_windows(&self) -> Vec<Window> {
        let mut found = Vec::new();
        let mut stack: Vec<Window> = self.conn.setup().roots.iter().map(|s| s.root).collect();
        while let Some(window) = stack.pop() {
            found.push(window);
            // A window may vanish between listing and querying: it has no children then.
            if let Ok(tree) = self.conn.query_tree(window).and_then_reply() {
                stack.extend(tree.children.iter().rev());
            }
        }
        found
    }

    /// The window's title: `_NET_WM_NAME` (UTF-8) if set, else `WM_NAME`.
    pub fn title(&self, window: Window) -> Option<String> {
        self.text_property(window, self.atoms.net_wm_name)
            .or_else(|| self.text_property(window, AtomEnum::WM_NAME.into()))
    }

    fn text_property(&self, window: Window, property: Atom) -> Option<String> {
        let reply = self
            .conn
            .get_property(false, window, property, AtomEnum::ANY, 0, 4096)
            .and_then_reply()
            .ok()?;
        // No such property reads as type NONE with no bytes.
        if reply.type_ == u32::from(AtomEnum::NONE) {
            return None;
        }
        Some(String::from_utf8_lossy(&reply.value).into_owned())
    }

    /// The atoms in the window's `WM_PROTOCOLS`.
    pub fn protocols(&self, window: Window) -> Vec<Atom> {
        self.conn
            .get_property(
                false,
                window,
                self.atoms.wm_protocols,
                AtomEnum::ATOM,
                0,
                1024,
            )
            .and_then_reply()
            .ok()
            .and_then(|reply| reply.value32().map(|atoms| atoms.collect()))
            .unwrap_or_default()
    }

    /// Windows whose title is exactly `title`.
    pub fn windows_named(&self, title: &str) -> Vec<Window> {
        self.all_windows()
            .into_iter()
            .filter(|&w| self.title(w).as_deref() == Some(title))
            .collect()
    }

    /// Every titled window, for error messages that say what was there instead.
    pub fn titles(&self) -> Vec<String> {
        self.all_windows()
            .into_iter()
            .filter_map(|w| self.title(w))
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether the window is mapped and all its ancestors are (on screen).
    pub fn is_viewable(&self, window: Window) -> bool {
        self.conn
            .get_window_attributes(window)
            .and_then_reply()
            .is_ok_and(|attrs| attrs.map_state == MapState::VIEWABLE)
    }

    /// Sends `WM_PROTOCOLS`/`WM_DELETE_WINDOW` to `window`, as ICCCM 4.2.8
    /// describes: a ClientMessage with no event mask, which the X server
    /// delivers to the client that created the window.
    pub fn send_delete(&self, window: Window) {
        let event = ClientMessageEvent::new(
            32,
            window,
            self.atoms.wm_protocols,
            [self.atoms.wm_delete_window, x11rb::CURRENT_TIME, 0, 0, 0],
        );
        self.conn
            .send_event(false, window, EventMask::NO_EVENT, event)
            .map_err(x11rb::errors::ReplyError::from)
            .and_then(|cookie| cookie.check())
            .unwrap_or_else(|e| panic!("send WM_DELETE_WINDOW to window {window:#x}: {e}"));
    }
}

fn intern(conn: &RustConnection, name: &str) -> Atom {
    conn.intern_atom(false, name.as_bytes())
        .and_then_reply()
        .unwrap_or_else(|e| panic!("intern the X atom {name}: {e}"))
        .atom
}

/// `cookie.reply()` with both failure kinds as one error, for `?`-free chains.
trait AndThenReply<R> {
    fn and_then_reply(self) -> Result<R, x11rb::errors::ReplyError>;
}

impl<R, C> AndThenReply<R>
    for Result<x11rb::cookie::Cookie<'_, C, R>, x11rb::errors::ConnectionError>
where
    C: x11rb::connection::RequestConnection,
    R: x11rb::x11_utils::TryParse,
{
    fn and_then_reply(self) -> Result<R, x11rb::errors::ReplyError> {
        self?.reply()
    }
}

/// Whether a window titled `title` exists (mapped or not).
pub fn window_exists(title: &str) -> bool {
    !Display::open().windows_named(title).is_empty()
}

/// Whether a window titled `title` is viewable (mapped, as are its ancestors).
pub fn window_mapped(title: &str) -> bool {
    let display = Display::open();
    display
        .windows_named(title)
        .into_iter()
        .any(|w| display.is_viewable(w))
}

/// Sends `WM_DELETE_WINDOW` to every window titled `title` that accepts it;
/// returns how many. An error names what was there instead when no window
/// has the title, or when it does not take part in `WM_DELETE_WINDOW`
/// (a window manager would then kill the client instead).
pub fn try_close_window_named(title: &str) -> Result<usize, String> {
    let display = Display::open();
    let windows = display.windows_named(title);
    if windows.is_empty() {
        return Err(format!(
            "no X window is titled {title:?}; titles: {:?}",
            display.titles()
        ));
    }
    let accepting: Vec<Window> = windows
        .iter()
        .copied()
        .filter(|&w| {
            display
                .protocols(w)
                .contains(&display.atoms.wm_delete_window)
        })
        .collect();
    if accepting.is_empty() {
        return Err(format!(
            "the X window(s) titled {title:?} ({windows:x?}) do not list WM_DELETE_WINDOW in WM_PROTOCOLS"
        ));
    }
    for &window in &accepting {
        display.send_delete(window);
    }
    Ok(accepting.len())
}

/// Closes the window titled `title` as a window manager's close button would.
pub fn close_window_named(title: &str) -> usize {
    try_close_window_named(title).unwrap_or_else(|e| panic!("close the window {title:?}: {e}"))
}

/// Waits until a window titled `title` is viewable (`true`) or none is (`false`).
pub async fn wait_window_mapped(title: &str, mapped: bool, timeout: Duration) {
    let what = if mapped {
        format!("the window {title:?} to be shown")
    } else {
        format!("the window {title:?} to be hidden")
    };
    wait_for(&what, timeout, || async {
        (window_mapped(title) == mapped).then_some(())
    })
    .await
}
