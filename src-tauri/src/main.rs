//! # Herald's window
//!
//! `herald-desktop` is only the window. The engine, the notifications and the
//! tray icon live in `herald-agent`, which runs whether a window is open or
//! not; this process starts it when it is not running, shows it over
//! herald-ipc's socket, and ends when its window closes. So a desktop carries
//! a WebKit web view only while someone looks at it.
//!
//! # Layout
//!
//! - `commands.rs` (beside `build.rs`): the window's command names, the one
//!   list the permissions, the handlers and the contract test come from.
//! - [`app`]: the Tauri builder, the single-instance hand-over, start-up.
//! - [`agent`]: the connection to the agent: its pushes as events, and what
//!   the window does when the agent goes away and comes back.
//! - [`command`]: the commands the page invokes (`docs/ui-contract.md`),
//!   nearly all forwarded to the agent as they are.
//! - [`window`]: the one window and its route (`#open=ID`).
//! - `contract`: tests that the list, the capability, the page and the
//!   contract document name the same commands.
// Windows: no console window behind the app in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[macro_use]
mod commands {
    include!("../commands.rs");
}

mod agent;
mod app;
mod command;
#[cfg(test)]
mod contract;
mod window;

/// How the window was started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// `--open ID`: show this history item's details (the agent starts the
    /// window so when "View Details" is clicked and no window is open).
    pub open: Option<i64>,
    /// `--minimized`: what start-at-login entries of earlier releases run.
    /// The agent is what runs at login now: start it, and show no window.
    pub minimized: bool,
}

impl Launch {
    /// Reads the arguments after the program's name.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Launch {
        let mut launch = Launch::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--minimized" {
                launch.minimized = true;
            } else if arg == "--open" {
                launch.open = args.next().and_then(|id| id.parse().ok());
            } else if let Some(id) = arg.strip_prefix("--open=") {
                launch.open = id.parse().ok();
            }
        }
        launch
    }

    pub fn route(&self) -> window::Route {
        self.open.map_or(window::Route::Start, window::Route::Item)
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
    app::run(Launch::from_args(std::env::args().skip(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(args: &[&str]) -> Launch {
        Launch::from_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn the_arguments_name_the_route() {
        assert_eq!(launch(&[]).route(), window::Route::Start);
        assert_eq!(launch(&["--open", "12"]).route(), window::Route::Item(12));
        assert_eq!(launch(&["--open=7"]).open, Some(7));
        assert_eq!(launch(&["--open", "x"]).route(), window::Route::Start);
        assert!(launch(&["--minimized"]).minimized);
    }
}
