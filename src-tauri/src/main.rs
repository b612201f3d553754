//! # Herald, the tray app
//!
//! A thin Tauri shell over herald-core's [`Controller`]: everything that
//! decides anything lives in herald-core; this crate shows it.
//!
//! # Layout
//!
//! - [`app`]: the Tauri builder, plugins, start-up and the run loop.
//! - [`shell`]: the state every part shares (the controller, the tray).
//! - [`bridge`]: carries the controller's status and history updates to the
//!   tray and, as events, to the web UI.
//! - [`tray`]: the tray icon and its menu.
//! - [`window`]: the one window, created on demand and destroyed on close,
//!   so no web process lives while Herald sits in the tray.
//! - [`command`]: the commands the UI invokes (`docs/ui-contract.md`).
//! - [`error`]: the `{ kind, message }` error every command rejects with.
//!
//! [`Controller`]: herald_core::controller::Controller
// Windows: no console window behind the tray app in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod bridge;
mod command;
mod error;
mod shell;
mod tray;
mod view;
mod window;

/// How Herald was started.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Started by the login autostart entry: stay in the tray.
    pub minimized: bool,
}

impl Launch {
    fn from_args(args: impl IntoIterator<Item = String>) -> Launch {
        Launch {
            minimized: args.into_iter().any(|a| a == "--minimized"),
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let launch = Launch::from_args(std::env::args().skip(1));
    app::run(launch)
}
