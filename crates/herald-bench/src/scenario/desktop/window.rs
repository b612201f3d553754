//! Closing a window as a user does: the window manager's close button sends
//! the window a `WM_DELETE_WINDOW` message (Xvfb has no window manager, so
//! the bench sends it itself).

use anyhow::{Context, bail};

/// Asks every shown window titled `title` to close.
pub fn close(title: &str) -> anyhow::Result<()> {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{
        AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, MapState, Window,
    };
    let (conn, screen) = x11rb::connect(None).context("connect to the X display")?;
    let root = conn.setup().roots[screen].root;
    let atom = |name: &str| -> anyhow::Result<u32> {
        Ok(conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
    };
    let (protocols, delete, utf8, net_name) = (
        atom("WM_PROTOCOLS")?,
        atom("WM_DELETE_WINDOW")?,
        atom("UTF8_STRING")?,
        atom("_NET_WM_NAME")?,
    );
    // Windows come and go while the tree is walked (GTK makes short-lived
    // ones): one that vanished is skipped, not an error.
    let mut stack: Vec<Window> = vec![root];
    let mut sent = 0;
    while let Some(window) = stack.pop() {
        if let Ok(Ok(tree)) = conn.query_tree(window).map(|c| c.reply()) {
            stack.extend(tree.children);
        }
        let property = |atom: u32, kind: u32| {
            conn.get_property(false, window, atom, kind, 0, 1024)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| r.value)
                .unwrap_or_default()
        };
        let mut name = property(net_name, utf8);
        if name.is_empty() {
            name = property(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into());
        }
        let viewable = conn
            .get_window_attributes(window)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|a| a.map_state == MapState::VIEWABLE);
        if name == title.as_bytes() && viewable {
            let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
            conn.send_event(false, window, EventMask::NO_EVENT, event)?;
            sent += 1;
        }
    }
    conn.flush()?;
    if sent == 0 {
        bail!("no window titled {title:?} is shown");
    }
    Ok(())
}
