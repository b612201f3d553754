//! The Tauri builder, a second launch's hand-over to the first, and
//! start-up: connect to the agent (starting it when none runs), then show
//! the window. Closing the window ends the process: nothing of Herald's
//! state lives here.

use std::time::Duration;

use anyhow::Context;
use herald_core::config::Paths;
use herald_ipc::Endpoint;
use serde_json::json;
use tauri::{AppHandle, Manager};

use crate::agent::{self, Agent};
use crate::window::{self, Route};
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
    let open = launch.open;
    let exists = app.get_webview_window(window::LABEL).is_some();
    // A window still being built learns the item from its URL instead.
    let route = match open {
        Some(id) if !exists => Route::Item(id),
        _ => Route::Start,
    };
    if let Err(e) = window::show(app, route) {
        tracing::error!(error = %e, "cannot show the window for a second launch");
    }
    let Some(id) = open.filter(|_| exists) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match app.state::<Agent>().call("item", json!({ "id": id })).await {
            Ok(item) if !item.is_null() => {
                let open = json!({ "item": item, "url": null });
                if let Err(e) = window::show(&app, Route::Open(open)) {
                    tracing::error!(error = %e, "cannot show the item");
                }
            }
            Ok(_) => tracing::info!(id, "no such item to open"),
            Err(e) => tracing::warn!(error = %e, id, "cannot fetch the item to open"),
        }
    });
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
