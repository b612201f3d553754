//! Start-up, the run loop and the shutdown.
//!
//! The order of start-up is the point of this module:
//!
//! 1. **The engine lock first.** Two engines on one account would renew the
//!    same refresh token and toast every event twice; a second agent finds
//!    the lock held, says who holds it and exits 0 (starting Herald while
//!    it runs is not an error).
//! 2. **The engine** (the notifier and the controller), and the stored
//!    session resumed, so that the socket never answers without something
//!    behind it, nor says "signed out" while the keyring is still being read.
//! 3. **The socket**, before the tray: a window started from the tray finds
//!    the agent already listening.
//! 4. **The tray**, then the one-time warning when no tray host will ever
//!    draw the icon.
//!
//! Every task gets the shutdown token and ends with the agent. Quit, SIGTERM
//! and SIGINT all take the same way out: the tray leaves the bus, the engine
//! stores what it received (within [`SHUTDOWN_GRACE`]), and then the socket
//! closes, so a connected window sees the agent stop rather than vanish.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_core::autostart::Autostart;
use herald_core::config::Paths;
use herald_core::controller::{Controller, ControllerParts};
use herald_core::doctor;
use herald_core::engine::InboxUpdate;
use herald_core::link::LinkConfig;
use herald_core::notify::desktop::{DesktopNotifier, server_info};
use herald_core::notify::{ActionInvoked, Notifier, Toast, Urgency};
use herald_core::secret::KeyringStore;
use herald_core::status::Status;
use herald_ipc::transport::Listener;
use herald_ipc::{Endpoint, EngineLock, LockError, Server, Service};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::tray::{Action, Ends, Port, View};
use crate::window;

/// The keyring service name, shared with the `herald` CLI so both see the
/// same sign-in.
const KEYRING_SERVICE: &str = "herald";
/// The name of the installed `.desktop` file, which desktops use to match
/// notifications to the app.
const DESKTOP_ENTRY: &str = "herald-desktop";
/// How long a shutdown waits for the engine to store what it has received.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs the agent until Quit or a signal. `ends` is the tray back-end's end
/// of `port` when this function is to start the tray itself (Linux); on the
/// other systems the main thread's event loop holds it.
pub async fn run(port: Port, ends: Option<Ends>) -> anyhow::Result<()> {
    let paths = Paths::resolve()?;
    let endpoint = Endpoint::of(&paths);
    let lock = match EngineLock::acquire(&endpoint) {
        Ok(lock) => lock,
        Err(LockError::Held(pid)) => {
            // The holder writes its pid right after locking; read it again
            // if we came in between.
            let pid = pid.or_else(|| herald_ipc::endpoint::holder_pid(&endpoint));
            eprintln!("herald-agent: {}", LockError::Held(pid));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    // From here on a signal ends the agent the graceful way.
    let mut signals = Signals::install()?;

    let (notifier, markup, action_rx) = notifier();
    let keyring_timeout = std::env::var("HERALD_KEYRING_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis);
    let parts = ControllerParts {
        paths,
        store: Arc::new(KeyringStore::new(KEYRING_SERVICE, keyring_timeout)),
        notifier: notifier.clone(),
        link: LinkConfig::default(),
        markup,
    };
    let controller = Arc::new(Controller::new(parts, action_rx));
    // Resume before the socket answers: a front-end attaching earlier would be
    // told "signed out" while the stored session is still being read.
    // Bounded by the keyring's timeout; a signal meanwhile waits its turn.
    let status = controller.resume().await;
    tracing::info!(state = ?status.state, "resumed");

    let autostart = Autostart::new(
        std::env::current_exe().context("cannot find the agent's own program")?,
        &[],
    );
    let (autostart_tx, autostart_rx) = watch::channel(autostart.is_enabled());
    let server = Arc::new(Server::new(Service {
        controller: controller.clone(),
        autostart,
        on_autostart: Some(Box::new(move |on| {
            autostart_tx.send_replace(on);
        })),
    }));
    let listener = Listener::bind(&endpoint)
        .with_context(|| format!("cannot listen on {}", endpoint.socket.display()))?;
    let stop_serving = CancellationToken::new();
    let serving = tokio::spawn({
        let server = server.clone();
        let stop = stop_serving.clone();
        async move { server.run(listener, stop.cancelled_owned()).await }
    });

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let Port {
        views,
        actions: mut clicks,
    } = port;
    views.send_replace(View::of(
        &controller.current_status(),
        *autostart_rx.borrow(),
    ));
    tasks.spawn(publish_views(
        controller.status(),
        autostart_rx,
        views,
        shutdown.clone(),
    ));
    let tray = match ends {
        Some(ends) => spawn_tray(ends, shutdown.clone()).await,
        None => None,
    };
    tasks.spawn(open_details(
        controller.updates(),
        server.clone(),
        shutdown.clone(),
    ));

    tasks.spawn(until(shutdown.clone(), warn_without_tray_host(notifier)));
    loop {
        tokio::select! {
            signal = signals.next() => {
                tracing::info!(signal, "shutting down");
                break;
            }
            Some(action) = clicks.recv() => {
                if action == Action::Quit {
                    tracing::info!("quit from the tray");
                    break;
                }
                act(action, &server, &tasks, &shutdown);
            }
        }
    }

    shutdown.cancel();
    if let Some(tray) = tray {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, tray).await;
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, controller.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("the engine did not stop in time");
    }
    stop_serving.cancel();
    let _ = serving.await;
    tasks.close();
    tasks.wait().await;
    drop(lock);
    Ok(())
}

/// What a tray click does (Quit is the run loop's).
fn act(action: Action, server: &Arc<Server>, tasks: &TaskTracker, shutdown: &CancellationToken) {
    let controller = server.service().controller.clone();
    match action {
        Action::Open => window::open(None),
        Action::Pause(pause) => {
            tasks.spawn(until(shutdown.clone(), async move {
                if let Err(e) = controller.pause(pause).await {
                    tracing::warn!(error = %e, "cannot pause notifications");
                }
            }));
        }
        Action::Reconnect => {
            tasks.spawn(until(shutdown.clone(), async move {
                if let Err(e) = controller.reconnect_now().await {
                    tracing::info!(error = %e, "nothing to reconnect");
                }
            }));
        }
        Action::ToggleAutostart => {
            // The check mark follows through `on_autostart`.
            if let Err(e) = server.service().toggle_autostart() {
                tracing::warn!(error = %e, "cannot change start at login");
            }
        }
        Action::SignOut => {
            tasks.spawn(until(shutdown.clone(), async move {
                if let Err(e) = controller.sign_out().await {
                    tracing::warn!(error = %e, "sign-out was not confirmed");
                }
                // The window is where one signs in again.
                window::open(None);
            }));
        }
        Action::Quit => {}
    }
}

/// Runs `work` until it is done or `shutdown` fires.
async fn until(shutdown: CancellationToken, work: impl Future<Output = ()>) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = work => {}
    }
}

#[cfg(not(any(target_os = "windows", target_os = "macos")))]
async fn spawn_tray(ends: Ends, shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    crate::tray::linux::spawn(ends, shutdown).await
}

#[cfg(any(target_os = "windows", target_os = "macos"))]
async fn spawn_tray(_ends: Ends, _shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    // The main thread's event loop draws the tray here.
    None
}

/// Publishes the tray's view whenever the status or the autostart state
/// changes it; a status change the tray does not show publishes nothing.
async fn publish_views(
    mut status: watch::Receiver<Status>,
    mut autostart: watch::Receiver<bool>,
    views: watch::Sender<View>,
    shutdown: CancellationToken,
) {
    loop {
        let view = View::of(&status.borrow_and_update(), *autostart.borrow_and_update());
        views.send_if_modified(|shown| {
            let changed = *shown != view;
            if changed {
                *shown = view;
            }
            changed
        });
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Ok(()) = status.changed() => {}
            Ok(()) = autostart.changed() => {}
            else => break,
        }
    }
}

/// "View Details" on a notification: a connected window is sent there by
/// the IPC server; with none, a window is started at the item.
async fn open_details(
    mut updates: broadcast::Receiver<InboxUpdate>,
    server: Arc<Server>,
    shutdown: CancellationToken,
) {
    loop {
        let update = tokio::select! {
            _ = shutdown.cancelled() => break,
            update = updates.recv() => update,
        };
        match update {
            Ok(InboxUpdate::Open { item, .. }) if server.windows() == 0 => {
                window::open(Some(item.id));
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The desktop notifier, when the desktop has a notification server.
fn notifier() -> (
    Option<Arc<dyn Notifier>>,
    bool,
    mpsc::UnboundedReceiver<ActionInvoked>,
) {
    let (action_tx, action_rx) = mpsc::unbounded_channel();
    match server_info() {
        Ok(info) => (
            Some(Arc::new(DesktopNotifier::new(
                "Herald",
                DESKTOP_ENTRY,
                action_tx,
            ))),
            info.body_markup,
            action_rx,
        ),
        Err(e) => {
            tracing::warn!(error = %e, "no desktop notifications");
            (None, false, action_rx)
        }
    }
}

/// Without a tray host (GNOME without its extension) the icon is invisible:
/// say so once, and how to reach the window.
async fn warn_without_tray_host(notifier: Option<Arc<dyn Notifier>>) {
    let check = tokio::task::spawn_blocking(doctor::check_tray_host).await;
    let Ok(check) = check else { return };
    if check.ok {
        return;
    }
    tracing::warn!(detail = %check.detail, "no tray host");
    let Some(notifier) = notifier else { return };
    let toast = Toast {
        summary: "Herald is running without a tray icon".into(),
        body: "This desktop shows no tray icons. Open Herald again from your applications to \
               reach its window; notifications still arrive."
            .into(),
        urgency: Urgency::Normal,
        timeout: None,
        actions: Vec::new(),
        item_id: None,
        category: None,
        markup: false,
    };
    let _ = tokio::task::spawn_blocking(move || notifier.show(&toast)).await;
}

/// The signals that end the agent gracefully: SIGTERM (a session ending,
/// `kill`) and SIGINT (Ctrl+C).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl+C"
        }
    }
}
