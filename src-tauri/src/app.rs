//! The Tauri builder, a second launch's hand-over to the first, and
//! start-up: connect to the agent (starting it when none runs), then show
//! the window. Closing the window ends the process: nothing of Herald's
//! state lives here.

use std::time::Duration;

use anyhow::Context;
use herald_core::config::Paths;
use herald_ipc::Endpoint;
use tauri::{AppHandle, Manager};

use crate::agent::{self, Agent};
use crate::window;
use crate::{Launch, command};

/// How long start-up waits for an agent it started to listen.
const AGENT_START_WAIT: Duration = Duration::from_secs(10);

/// `generate_handler!` over the commands of `commands.rs`.
macro_rules! handler {
    (forwarded: $($f:ident),* ; local: $($l:ident),* ;) => {
        tauri::generate_handler![$(command::forwarded::$f,)* $(command::$l,)*]
    };
}

pub fn run(launch: Launch) -> anyhow::Result<()> {
    let paths = Paths::resolve().context("cannot find Herald's directories")?;
    let endpoint = Endpoint::of(&paths);
    if launch.minimized {
        return start_agent_only(&endpoint);
    }
    let app = tauri::Builder::default()
        // First, so a second launch is stopped before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            again(app, Launch::from_args(args.into_iter().skip(1)));
        }))
        .manage(Agent::new(endpoint))
        .manage(window::Slot::default())
        .invoke_handler(window_commands!(handler))
        .setup(move |app| {
            tauri::async_runtime::spawn(start(app.handle().clone(), launch));
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"))
        .context("cannot start the window")?;
    // With its window closed the process exits: the agent keeps running.
    app.run(|_, _| {});
    Ok(())
}

async fn start(app: AppHandle, launch: Launch) {
    let first = agent::connect_at_start(&app.state::<Agent>(), AGENT_START_WAIT).await;
    // Without an agent the window still opens: it says so, and offers to start it.
    if let Err(e) = window::show(&app, launch.route()) {
        tracing::error!(error = %e, "cannot open the window");
        app.exit(1);
        return;
    }
    agent::supervise(app, first).await;
}

/// A second launch: the first instance shows its window, at the item when
/// the launch names one.
fn again(app: &AppHandle, launch: Launch) {
    if let Err(e) = window::show(app, launch.route()) {
        tracing::error!(error = %e, "cannot show the window for a second launch");
    }
}

/// `--minimized`: make sure the agent runs, and exit.
fn start_agent_only(endpoint: &Endpoint) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let program = herald_ipc::sibling("herald-agent");
    runtime
        .block_on(herald_ipc::connect_or_start(
            endpoint,
            &program,
            AGENT_START_WAIT,
        ))
        .context("cannot start Herald's agent")?;
    Ok(())
}
