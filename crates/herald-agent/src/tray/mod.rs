//! The tray as data: what the menu lists, what each entry does, and which
//! icon shows, decided once here for both back-ends.
//!
//! The agent publishes a [`View`] on a watch and reads [`Action`]s from a
//! channel; a back-end only draws the view and reports clicks. That keeps
//! every back-end small (each is the one part that cannot be tested
//! everywhere), and lets the agent skip updates that change nothing: each is
//! a D-Bus round trip for a StatusNotifierItem.
//!
//! On Linux a tray host may deliver no left click at all (appindicator
//! hosts do not), so "Open Herald" is always in the menu; and not every host
//! shows a tooltip, so the disabled first line of the menu says the state.

use herald_core::controller::Pause;
use herald_core::status::{Presence, Status};
use tokio::sync::{mpsc, watch};

#[cfg(not(any(target_os = "windows", target_os = "macos")))]
pub mod linux;
#[cfg(any(target_os = "windows", target_os = "macos"))]
pub mod other;

/// What a menu entry (or a left click) asks the agent to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Pause(Pause),
    Reconnect,
    ToggleAutostart,
    SignOut,
    Quit,
}

impl Action {
    /// A stable id, for back-ends whose menus report clicks by id.
    pub fn id(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Pause(Pause::Hour) => "pause-hour",
            Action::Pause(Pause::Tomorrow) => "pause-tomorrow",
            Action::Pause(Pause::Resume) => "pause-resume",
            Action::Reconnect => "reconnect",
            Action::ToggleAutostart => "autostart",
            Action::SignOut => "sign-out",
            Action::Quit => "quit",
        }
    }

    #[cfg_attr(
        not(any(target_os = "windows", target_os = "macos", test)),
        allow(dead_code)
    )]
    pub fn from_id(id: &str) -> Option<Action> {
        ALL.iter().copied().find(|a| a.id() == id)
    }
}

const ALL: [Action; 8] = [
    Action::Open,
    Action::Pause(Pause::Hour),
    Action::Pause(Pause::Tomorrow),
    Action::Pause(Pause::Resume),
    Action::Reconnect,
    Action::ToggleAutostart,
    Action::SignOut,
    Action::Quit,
];

/// Everything the tray shows; two equal views draw the same tray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub presence: Presence,
    /// The unread badge on the icon.
    pub badge: bool,
    /// The menu's disabled first line.
    pub line: String,
    pub tooltip: String,
    /// The "Start at login" check mark.
    pub autostart: bool,
}

impl View {
    pub fn of(status: &Status, autostart: bool) -> View {
        let presence = status.presence();
        View {
            presence,
            // Signed out there is no history to be unread.
            badge: status.unread > 0 && presence != Presence::SignedOut,
            // herald-core's one wording of the status, as the page and the CLI say it.
            line: status.label(),
            tooltip: tooltip(status),
            autostart,
        }
    }

    /// The icon, as PNG bytes: `@2x` (64 px) for crisp scaling.
    pub fn icon_png(&self) -> &'static [u8] {
        icon_png(self.presence, self.badge)
    }
}

impl Default for View {
    fn default() -> View {
        let status = Status::signed_out(herald_core::status::SignOutReason::NotSignedIn);
        View::of(&status, false)
    }
}

/// One entry of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Shown, never clickable: the status line.
    Label(String),
    Separator,
    Item(&'static str, Action),
    Check(&'static str, bool, Action),
    Submenu(&'static str, Vec<(&'static str, Action)>),
}

/// The menu, in its order (the same labels on every platform).
pub fn menu(view: &View) -> Vec<Entry> {
    vec![
        Entry::Label(view.line.clone()),
        Entry::Separator,
        Entry::Item("Open Herald", Action::Open),
        Entry::Submenu(
            "Pause notifications",
            vec![
                ("For 1 hour", Action::Pause(Pause::Hour)),
                ("Until tomorrow", Action::Pause(Pause::Tomorrow)),
                ("Resume", Action::Pause(Pause::Resume)),
            ],
        ),
        Entry::Item("Reconnect now", Action::Reconnect),
        Entry::Separator,
        Entry::Check("Start at login", view.autostart, Action::ToggleAutostart),
        Entry::Item("Sign out", Action::SignOut),
        Entry::Item("Quit", Action::Quit),
    ]
}

/// The icon of each presence, and with a badge for unread items.
pub fn icon_png(presence: Presence, badge: bool) -> &'static [u8] {
    match (presence, badge) {
        (Presence::Connected, false) => include_bytes!("../../../../icons/tray/connected@2x.png"),
        (Presence::Connected, true) => {
            include_bytes!("../../../../icons/tray/connected-unread@2x.png")
        }
        (Presence::Connecting, false) => {
            include_bytes!("../../../../icons/tray/connecting@2x.png")
        }
        (Presence::Connecting, true) => {
            include_bytes!("../../../../icons/tray/connecting-unread@2x.png")
        }
        (Presence::Offline, false) => include_bytes!("../../../../icons/tray/offline@2x.png"),
        (Presence::Offline, true) => {
            include_bytes!("../../../../icons/tray/offline-unread@2x.png")
        }
        (Presence::SignedOut, _) => include_bytes!("../../../../icons/tray/signed-out@2x.png"),
    }
}

/// An image as 8-bit RGBA rows, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Rgba {
    /// Decodes a PNG of any colour type into RGBA.
    pub fn decode(bytes: &[u8]) -> Result<Rgba, png::DecodingError> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(
            png::Transformations::EXPAND
                | png::Transformations::STRIP_16
                | png::Transformations::ALPHA,
        );
        let mut reader = decoder.read_info()?;
        let size = reader
            .output_buffer_size()
            .ok_or(png::DecodingError::LimitsExceeded)?;
        let mut buf = vec![0; size];
        let info = reader.next_frame(&mut buf)?;
        buf.truncate(info.buffer_size());
        let data = match info.color_type {
            png::ColorType::Rgba => buf,
            png::ColorType::GrayscaleAlpha => buf
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
            png::ColorType::Rgb => buf
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 0xff])
                .collect(),
            png::ColorType::Grayscale | png::ColorType::Indexed => {
                buf.iter().flat_map(|&g| [g, g, g, 0xff]).collect()
            }
        };
        Ok(Rgba {
            width: info.width,
            height: info.height,
            data,
        })
    }

    /// The pixels as ARGB32 in network byte order (a StatusNotifierItem's
    /// `IconPixmap`).
    #[cfg_attr(any(target_os = "windows", target_os = "macos"), allow(dead_code))]
    pub fn to_argb(&self) -> Vec<u8> {
        self.data
            .chunks_exact(4)
            .flat_map(|p| [p[3], p[0], p[1], p[2]])
            .collect()
    }
}

/// The tooltip: the status line, and the unread count when there is one.
pub fn tooltip(status: &Status) -> String {
    match status.unread {
        0 => format!("Herald: {}", status.label()),
        1 => format!("Herald: {} · 1 unread", status.label()),
        n => format!("Herald: {} · {n} unread", status.label()),
    }
}

/// The agent's end of the tray: it publishes views and receives clicks.
#[derive(Debug)]
pub struct Port {
    pub views: watch::Sender<View>,
    pub actions: mpsc::UnboundedReceiver<Action>,
}

/// A back-end's end: it draws views and sends clicks.
#[derive(Debug)]
pub struct Ends {
    pub views: watch::Receiver<View>,
    pub actions: mpsc::UnboundedSender<Action>,
}

pub fn channel() -> (Port, Ends) {
    let (views_tx, views_rx) = watch::channel(View::default());
    let (actions_tx, actions_rx) = mpsc::unbounded_channel();
    (
        Port {
            views: views_tx,
            actions: actions_rx,
        },
        Ends {
            views: views_rx,
            actions: actions_tx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::status::{ConnectionState, SignOutReason};

    fn status(state: ConnectionState) -> Status {
        let mut s = Status::signed_out(SignOutReason::NotSignedIn);
        s.state = state;
        s.server = Some("https://notify.example.com".into());
        s
    }

    #[test]
    fn the_status_line_is_the_status_label() {
        let connected = status(ConnectionState::Connected);
        assert_eq!(
            View::of(&connected, false).line,
            "Connected to notify.example.com"
        );
        let mut offline = status(ConnectionState::Backoff {
            reason: "refused".into(),
        });
        offline.failed_attempts = 5;
        assert_eq!(View::of(&offline, false).line, offline.label());
        assert_eq!(View::default().line, "Signed out");
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
    fn the_badge_needs_unread_items_and_a_sign_in() {
        let mut s = status(ConnectionState::Connected);
        assert!(!View::of(&s, false).badge);
        s.unread = 1;
        assert!(View::of(&s, false).badge);
        let mut out = Status::signed_out(SignOutReason::SessionExpired);
        out.unread = 4;
        assert!(!View::of(&out, false).badge);
    }

    #[test]
    fn every_state_has_its_own_icon_and_each_decodes() {
        let all = [
            icon_png(Presence::Connected, false),
            icon_png(Presence::Connected, true),
            icon_png(Presence::Connecting, false),
            icon_png(Presence::Connecting, true),
            icon_png(Presence::Offline, false),
            icon_png(Presence::Offline, true),
            icon_png(Presence::SignedOut, false),
        ];
        let decoded: Vec<Rgba> = all
            .iter()
            .map(|png| Rgba::decode(png).expect("a tray icon decodes"))
            .collect();
        for (i, a) in decoded.iter().enumerate() {
            assert_eq!((a.width, a.height), (64, 64));
            assert_eq!(a.data.len(), 64 * 64 * 4);
            for b in &decoded[i + 1..] {
                assert_ne!(a.data, b.data, "two states share an icon");
            }
        }
    }

    #[test]
    fn argb_moves_alpha_first() {
        let one = Rgba {
            width: 1,
            height: 1,
            data: vec![1, 2, 3, 4],
        };
        assert_eq!(one.to_argb(), [4, 1, 2, 3]);
    }

    #[test]
    fn the_menu_keeps_its_order_and_every_action_has_an_id() {
        let labels: Vec<String> = menu(&View::default())
            .iter()
            .map(|e| match e {
                Entry::Label(l) => l.clone(),
                Entry::Separator => "-".into(),
                Entry::Item(l, _) | Entry::Check(l, _, _) | Entry::Submenu(l, _) => (*l).into(),
            })
            .collect();
        assert_eq!(
            labels,
            [
                "Signed out",
                "-",
                "Open Herald",
                "Pause notifications",
                "Reconnect now",
                "-",
                "Start at login",
                "Sign out",
                "Quit"
            ]
        );
        for action in ALL {
            assert_eq!(Action::from_id(action.id()), Some(action));
        }
        assert_eq!(Action::from_id("nope"), None);
    }
}
