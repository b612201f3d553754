//! The engine: one object that runs the link, the inbox, the notifications
//! and the token lifecycle, and publishes a [`Status`] and inbox updates.
//!
//! Every event, live or caught up, takes one path: decode → one inbox
//! transaction per batch (de-duplicated by server id) → policy → notifier.
//! The CLI and the tray app only subscribe to [`Engine::status`] and
//! [`Engine::updates`].

mod action;
mod catch_up;
mod command;
mod os;
mod renewal;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod worker;

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::ApiError;
use crate::config::{Paths, Settings};
use crate::inbox::{Inbox, InboxError, Item};
use crate::link::{Link, LinkCommand, LinkConfig};
use crate::notify::policy::Policy;
use crate::notify::{ActionInvoked, Notifier};
use crate::secret::SecretStore;
use crate::session::{SessionError, stored_tokens};
use crate::status::{ConnectionState, SignOutReason, Status};
use worker::Worker;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Inbox(#[from] InboxError),
}

/// Runs `f` on the inbox on a blocking thread (SQLite calls block), so the
/// engine's task keeps taking events. A failure is logged as `what` and comes
/// back as `None`: the callers' next step is to skip the update.
pub(crate) async fn on_inbox<T: Send + 'static>(
    inbox: &Arc<Mutex<Inbox>>,
    what: &'static str,
    f: impl FnOnce(&mut Inbox) -> Result<T, InboxError> + Send + 'static,
) -> Option<T> {
    let inbox = inbox.clone();
    let result = tokio::task::spawn_blocking(move || {
        f(&mut inbox.lock().unwrap_or_else(|e| e.into_inner()))
    })
    .await;
    match result {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "{what}");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "{what}: the inbox task failed");
            None
        }
    }
}

/// A change of the inbox, for whoever shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxUpdate {
    Added(Vec<Item>),
    Read {
        ids: Vec<i64>,
        read: bool,
    },
    /// A notification action: open the details of an item (and its URL, when
    /// it is safe: http(s) on the server's own origin).
    Open {
        item: Box<Item>,
        url: Option<String>,
    },
    Deleted {
        ids: Vec<i64>,
    },
    /// The history changed wholesale (another account signed in, or the
    /// user signed out): whoever shows it reloads.
    Reset,
}

/// What the engine needs besides the settings.
#[derive(Clone)]
pub struct EngineParts {
    pub paths: Paths,
    pub settings: Settings,
    pub store: Arc<dyn SecretStore>,
    /// `None` runs without desktop notifications (`--no-desktop`).
    pub notifier: Option<Arc<dyn Notifier>>,
    pub link: LinkConfig,
    /// Whether the notification server renders body markup (then text is escaped for it).
    pub markup: bool,
}

impl std::fmt::Debug for EngineParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineParts")
            .field("paths", &self.paths)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// The running engine.
#[derive(Debug)]
pub struct Engine {
    status: watch::Receiver<Status>,
    updates: broadcast::Sender<InboxUpdate>,
    inbox: Arc<Mutex<Inbox>>,
    link: Link,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
    /// What the OS says of sleep and the network, forwarded to the link
    /// ([`os::forward`]): it would outlive the engine otherwise.
    os: AbortOnDrop,
    monitor: crate::os_signals::Monitor,
    /// Whether the OS says the network is up (the link's own view).
    online: watch::Receiver<bool>,
}

/// Aborts its task when dropped, so a task bound to an engine ends with it
/// even when the engine is dropped without [`Engine::shutdown`].
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    /// Aborts the task and waits until it has ended.
    async fn stop(&mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Asks a running engine for a self-test: a cheap clone, so that a caller
/// can let go of whatever holds the engine while the server answers.
#[derive(Debug, Clone)]
pub struct SelfTest {
    commands: mpsc::UnboundedSender<Command>,
}

impl SelfTest {
    /// Asks the server for one test event of each type.
    pub async fn run(&self) -> Result<(), ApiError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SelfTest(tx))
            .map_err(|_| ApiError::Unsupported("a self-test after shutdown"))?;
        rx.await
            .map_err(|_| ApiError::Unsupported("a self-test after shutdown"))?
    }
}

#[derive(Debug)]
pub(crate) enum Command {
    Shutdown,
    MarkRead {
        ids: Vec<i64>,
        read: bool,
    },
    MarkAllRead,
    Delete {
        ids: Vec<i64>,
    },
    /// New notification settings, applied to the next event.
    Notifications {
        desktop: bool,
        policy: crate::notify::policy::PolicyConfig,
    },
    SelfTest(oneshot::Sender<Result<(), ApiError>>),
}

impl Engine {
    /// Loads the stored session, opens the inbox and starts connecting.
    /// `actions` carries the notifier's clicked actions.
    pub async fn start(
        parts: EngineParts,
        action_rx: mpsc::UnboundedReceiver<ActionInvoked>,
    ) -> Result<Engine, EngineError> {
        let (api, key, tokens) = stored_tokens(&parts.settings, parts.store.clone()).await?;
        let inbox = Inbox::open(&parts.paths.inbox_file(), &api.origin())?;
        let mut status = Status::signed_out(SignOutReason::NotSignedIn);
        status.state = ConnectionState::Connecting;
        status.server = Some(api.origin());
        status.user = parts.settings.account.clone();
        status.unread = inbox.unread_count()?;
        if parts.notifier.is_none() && parts.settings.desktop_notifications {
            status.warn("desktop notifications are off; events go to the history only");
        }
        let (status_tx, status_rx) = watch::channel(status);
        let (updates, _) = broadcast::channel(1024);
        let (token_tx, token_rx) = watch::channel(Some(tokens.access.clone()));
        let (link_tx, link_rx) = mpsc::channel(parts.link.queue.max(1));
        let watch = crate::os_signals::start().await;
        let monitor = watch.monitor;
        let (online_tx, online_rx) = watch::channel(watch.online);
        let link = Link::start(
            api.net().clone(),
            token_rx,
            online_rx.clone(),
            parts.link.clone(),
            link_tx,
        );
        let (commands, command_rx) = mpsc::unbounded_channel();
        let inbox = Arc::new(Mutex::new(inbox));
        let mut policy = Policy::new(parts.settings.notifications.clone());
        if let Some(login_id) = &parts.settings.login_id {
            policy.add_own_login(login_id.clone());
        }
        let worker = Worker {
            policy,
            settings: parts.settings,
            api,
            key,
            store: parts.store,
            tokens,
            token_tx,
            inbox: inbox.clone(),
            status: status_tx,
            updates: updates.clone(),
            notifier: parts.notifier,
            link: link.clone(),
            connected_once: false,
            catching_up: None,
            catch_up_again: false,
            caught_up: Vec::new(),
            connection_base: 0,
            refresh_at: tokio::time::Instant::now(),
            markup: parts.markup,
        };
        let task = tokio::spawn(worker.run(link_rx, command_rx, action_rx));
        let os = AbortOnDrop(tokio::spawn(os::forward(
            watch.signals,
            online_tx,
            link.clone(),
        )));
        Ok(Engine {
            status: status_rx,
            updates,
            inbox,
            link,
            commands,
            task,
            os,
            monitor,
            online: online_rx,
        })
    }

    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    pub fn updates(&self) -> broadcast::Receiver<InboxUpdate> {
        self.updates.subscribe()
    }

    /// The inbox, for queries; writes go through the engine.
    pub fn inbox(&self) -> Arc<Mutex<Inbox>> {
        self.inbox.clone()
    }

    pub fn reconnect_now(&self) {
        self.link.send(LinkCommand::ReconnectNow);
    }

    pub fn network_up(&self) {
        self.link.send(LinkCommand::NetworkUp);
    }

    /// Marks items read (or unread) here and on the server.
    pub fn mark_read(&self, ids: Vec<i64>, read: bool) {
        let _ = self.commands.send(Command::MarkRead { ids, read });
    }

    pub fn mark_all_read(&self) {
        let _ = self.commands.send(Command::MarkAllRead);
    }

    /// Deletes items from this device's history (the server keeps them).
    pub fn delete(&self, ids: Vec<i64>) {
        let _ = self.commands.send(Command::Delete { ids });
    }

    /// Applies new notification settings without reconnecting.
    pub fn set_notifications(&self, desktop: bool, policy: crate::notify::policy::PolicyConfig) {
        let _ = self
            .commands
            .send(Command::Notifications { desktop, policy });
    }

    /// Asks the server for one test event of each type.
    pub async fn self_test(&self) -> Result<(), ApiError> {
        self.self_tester().run().await
    }

    /// The OS monitor's forwarding task, to see that it ends with the engine.
    #[cfg(test)]
    fn os_task(&self) -> tokio::task::AbortHandle {
        self.os.0.abort_handle()
    }

    /// Which OS monitor tells this engine about sleep and the network.
    pub fn monitor(&self) -> crate::os_signals::Monitor {
        self.monitor
    }

    /// False while the OS says the network is down (then the link makes no
    /// attempt); always true without an OS monitor.
    pub fn os_online(&self) -> bool {
        *self.online.borrow()
    }

    /// A handle for [`Engine::self_test`] that does not borrow the engine.
    pub fn self_tester(&self) -> SelfTest {
        SelfTest {
            commands: self.commands.clone(),
        }
    }

    /// Stops the link and the OS monitor, and waits until every received
    /// event is in the inbox.
    pub async fn shutdown(mut self) {
        self.os.stop().await;
        let _ = self.commands.send(Command::Shutdown);
        self.link.send(LinkCommand::Shutdown);
        let _ = self.task.await;
    }
}
