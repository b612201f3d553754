//! # herald-agent
//!
//! The one always-on Herald process of a user: it owns herald-core's
//! [`Controller`] (the engine), the desktop notifier, the tray icon and the
//! IPC socket the other front-ends talk to. It never loads a webview nor a
//! GUI toolkit, so sitting in the tray costs a few megabytes; the window is
//! a separate process (`herald-desktop`) that it starts on demand.
//!
//! # Layout
//!
//! - [`agent`]: start-up in its order (lock, engine, socket, tray), the run
//!   loop, and the graceful shutdown.
//! - [`tray`]: the menu and icon as data, shared by both back-ends:
//!   `tray::linux` (a StatusNotifierItem over D-Bus) and `tray::other`
//!   (tray-icon on Windows and macOS).
//! - [`window`]: starting the window process.
//!
//! [`Controller`]: herald_core::controller::Controller
// Windows: no console window behind the tray in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod agent;
mod tray;
mod window;

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        // The one line a version query prints.
        #[allow(clippy::print_stdout)]
        {
            println!("herald-agent {}", env!("CARGO_PKG_VERSION"));
        }
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("herald-agent: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (port, ends) = tray::channel();
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    {
        exit_code(runtime.block_on(agent::run(port, Some(ends))))
    }
    // The OS tray wants the main thread's event loop; the agent runs beside it.
    #[cfg(any(target_os = "windows", target_os = "macos"))]
    {
        tray::other::run(runtime, ends, async move {
            match agent::run(port, None).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("herald-agent: {e:#}");
                    1
                }
            }
        })
    }
}

#[cfg(not(any(target_os = "windows", target_os = "macos")))]
fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}
