//! `herald listen`: print each notification as it arrives.
//!
//! One engine per account: if one runs (the agent, or another `herald
//! listen`), this one attaches to it ([`crate::attach`]) and prints what it
//! pushes, rather than opening a second connection that would renew the same
//! refresh token and toast every event twice. If none runs, this process
//! takes the engine lock, runs the engine itself through herald-core's
//! [`Controller`] (as the agent does), and serves the agent's socket, so that
//! the next front-end attaches to it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use herald_core::autostart::Autostart;
use herald_core::config::{Paths, Settings};
use herald_core::controller::{Controller, ControllerParts};
use herald_core::engine::InboxUpdate;
use herald_core::link::LinkConfig;
use herald_core::notify::Notifier;
use herald_core::notify::desktop::{DesktopNotifier, server_info};
use herald_core::session::SessionError;
use herald_core::status::{ConnectionState, SignOutReason, Status};
use herald_ipc::transport::Listener;
use herald_ipc::view::StatusView;
use herald_ipc::{Attached, Endpoint, EngineLock, Server, Service};
use tokio::sync::broadcast::error::RecvError;

use crate::command::{explain, keyring};
use crate::print::{StatusLines, clean, details, print_item};
use crate::remote::{ATTACH_WAIT, silent};

/// SIGINT or SIGTERM, as a future that `listen` polls in every wait.
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How long the engine may take to store what it received when `listen` ends.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub async fn listen(
    paths: &Paths,
    server: Option<String>,
    json: bool,
    no_desktop: bool,
) -> anyhow::Result<()> {
    // Registered first: a SIGTERM that arrives while no listener exists
    // would otherwise be lost, or kill the process.
    let mut stop: Stop = Box::pin(shutdown_signal());
    let endpoint = Endpoint::of(paths);
    let attached = tokio::select! {
        attached = herald_ipc::attach(&endpoint, ATTACH_WAIT) => attached,
        () = &mut stop => return Ok(()),
    };
    match attached.map_err(|e| silent(&endpoint, e))? {
        Attached::Agent(client) => {
            crate::attach::run(client, &endpoint, json, no_desktop, &mut stop).await
        }
        Attached::Engine(lock) => {
            let options = Options {
                server,
                json,
                no_desktop,
            };
            engine(paths, &endpoint, options, lock, &mut stop).await
        }
    }
}

struct Options {
    server: Option<String>,
    json: bool,
    no_desktop: bool,
}

/// The label and the rest of a status, as the socket's clients get it.
fn view(status: Status) -> serde_json::Value {
    serde_json::to_value(StatusView::from(status)).unwrap_or_default()
}

/// Runs the engine here, holding `lock` throughout, and serves the socket.
async fn engine(
    paths: &Paths,
    endpoint: &Endpoint,
    options: Options,
    lock: EngineLock,
    stop: &mut Stop,
) -> anyhow::Result<()> {
    let settings = Settings::load(paths)?;
    if let Some(server) = &options.server
        && settings.server.as_deref() != Some(server.as_str())
    {
        eprintln!(
            "warning: listen uses the server you signed in to ({}), not --server; \
             run `herald --server URL login` to change it",
            settings.server.as_deref().unwrap_or("none")
        );
    }
    let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut markup = false;
    let notifier: Option<Arc<dyn Notifier>> =
        if options.no_desktop || !settings.desktop_notifications {
            None
        } else {
            match tokio::task::spawn_blocking(server_info).await? {
                Ok(info) => {
                    markup = info.body_markup;
                    Some(Arc::new(DesktopNotifier::new(
                        "Herald", "herald", action_tx,
                    )))
                }
                Err(e) => {
                    eprintln!("warning: {}", clean(&e.to_string()));
                    None
                }
            }
        };
    let parts = ControllerParts {
        paths: paths.clone(),
        store: keyring(),
        notifier,
        link: LinkConfig::default(),
        markup,
    };
    let controller = Arc::new(Controller::new(parts, action_rx));
    // Subscribed before the engine starts: its first catch-up is printed too.
    let mut updates = controller.updates();
    let mut status = controller.status();
    let started = controller.resume().await;
    if let ConnectionState::SignedOut { reason } = &started.state {
        controller.shutdown().await;
        return Err(match reason {
            SignOutReason::NotSignedIn => explain(SessionError::NotSignedIn),
            _ => anyhow!(
                "{}",
                clean(
                    &started
                        .warnings
                        .last()
                        .cloned()
                        .unwrap_or_else(|| StatusView::from(started.clone()).label)
                )
            ),
        });
    }
    // Served once the engine runs, so that whoever attaches finds it signed in.
    let server = Arc::new(Server::new(Service {
        controller: controller.clone(),
        autostart: Autostart::new(herald_ipc::sibling("herald-agent"), &[]),
        on_autostart: None,
    }));
    let (end_serving, serving_ended) = tokio::sync::oneshot::channel::<()>();
    let serving = match Listener::bind(endpoint) {
        Ok(listener) => {
            let server = server.clone();
            Some(tokio::spawn(async move {
                server
                    .run(listener, async {
                        let _ = serving_ended.await;
                    })
                    .await;
            }))
        }
        Err(e) => {
            eprintln!(
                "warning: other front-ends cannot attach to this listen: cannot listen on {}: {e}",
                endpoint.socket.display()
            );
            None
        }
    };
    let mut lines = StatusLines::default();
    let result = loop {
        tokio::select! {
            update = updates.recv() => match update {
                Ok(InboxUpdate::Added(items)) => {
                    if let Err(e) = items.iter().try_for_each(|item| print_item(item, options.json)) {
                        break Err(e);
                    }
                }
                // A window attached to this engine shows the details itself.
                Ok(InboxUpdate::Open { item, url }) => {
                    details(&item, url.as_deref(), server.windows() == 0);
                }
                Ok(InboxUpdate::Read { .. } | InboxUpdate::Deleted { .. } | InboxUpdate::Reset) => {}
                Err(RecvError::Lagged(n)) => {
                    eprintln!("warning: {n} updates not printed (see `herald history`)");
                }
                Err(RecvError::Closed) => break Ok(()),
            },
            changed = status.changed() => {
                if changed.is_err() {
                    break Ok(());
                }
                let current = status.borrow_and_update().clone();
                if let Err(e) = lines.show(&view(current)) {
                    break Err(e);
                }
            }
            () = &mut *stop => break Ok(()),
        }
    };
    // Front-ends first (they learn that this engine is going), then the
    // engine, which stores what it has received; the lock goes last.
    let _ = end_serving.send(());
    if let Some(serving) = serving {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, serving).await;
        let _ = std::fs::remove_file(&endpoint.socket);
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, controller.shutdown())
        .await
        .is_err()
    {
        eprintln!("warning: the engine did not stop in time");
    }
    drop(lock);
    result
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal during start-up is not lost.
fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}
