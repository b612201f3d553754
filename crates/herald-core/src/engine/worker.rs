//! The engine's one task: link events in, inbox and notifications out.

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::catch_up::{CaughtUp, catch_up};
use super::{Command, InboxUpdate, on_inbox};
use crate::api::{Api, ApiError};
use crate::config::Settings;
use crate::event::{Incoming, decode};
use crate::inbox::{Inbox, InboxError, Item};
use crate::link::{Link, LinkEvent, LinkState};
use crate::notify::policy::{Origin, Policy};
use crate::notify::{ActionInvoked, Notifier};
use crate::secret::{SecretKey, SecretStore, Tokens};
use crate::status::{CatchUpSupport, ConnectionState, Status};

/// Live events taken into one inbox transaction at most.
const BATCH: usize = 1000;

/// The engine's task and everything it owns.
pub(super) struct Worker {
    pub(super) settings: Settings,
    pub(super) api: Api,
    pub(super) key: SecretKey,
    pub(super) store: Arc<dyn SecretStore>,
    pub(super) tokens: Tokens,
    pub(super) token_tx: watch::Sender<Option<String>>,
    pub(super) inbox: Arc<Mutex<Inbox>>,
    pub(super) status: watch::Sender<Status>,
    pub(super) updates: broadcast::Sender<InboxUpdate>,
    pub(super) notifier: Option<Arc<dyn Notifier>>,
    pub(super) policy: Policy,
    pub(super) link: Link,
    pub(super) connected_once: bool,
    pub(super) catching_up: Option<JoinHandle<()>>,
    /// A catch-up was asked for while one ran: run another when it ends, as
    /// the one running may have asked the server before the event it was
    /// asked for (e.g. by `herald_ready`) was stored.
    pub(super) catch_up_again: bool,
    /// Items of the catch-up under way, announced together when it ends.
    pub(super) caught_up: Vec<Item>,
    /// The inbox cursor when the current connection was confirmed, where
    /// every catch-up of the connection starts: live events may have moved
    /// the cursor past an event this socket missed.
    pub(super) connection_base: u64,
    /// When to renew the token (or, without a refresh token, to end the session).
    pub(super) refresh_at: tokio::time::Instant,
    pub(super) markup: bool,
}

impl Worker {
    pub(super) async fn run(
        mut self,
        mut link_rx: mpsc::Receiver<LinkEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut actions: mpsc::UnboundedReceiver<ActionInvoked>,
    ) {
        let (caught_tx, mut caught_rx) = mpsc::channel::<CaughtUp>(4);
        // A closed channel answers `None` at once, forever: its branch is
        // turned off then, or the loop would spin.
        let mut actions_open = true;
        self.schedule_refresh(false);
        loop {
            // The policy's deadline moves while a flood lasts: read it anew.
            let flush_at = self.policy.flush_at();
            let flush = async {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = link_rx.recv() => {
                    let Some(event) = event else { break };
                    let mut events = vec![event];
                    while events.len() < BATCH {
                        match link_rx.try_recv() {
                            Ok(event) => events.push(event),
                            Err(_) => break,
                        }
                    }
                    self.handle_link_events(events, &caught_tx).await;
                }
                caught = caught_rx.recv() => {
                    if let Some(caught) = caught {
                        self.handle_caught_up(caught, &caught_tx).await;
                    }
                }
                _ = flush => {
                    let toasts = self.policy.flush(self.markup, tokio::time::Instant::now());
                    self.show(toasts);
                }
                _ = tokio::time::sleep_until(self.refresh_at) => self.refresh().await,
                action = actions.recv(), if actions_open => match action {
                    Some(action) => self.handle_action(action).await,
                    None => actions_open = false,
                },
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.handle_command(command).await,
                },
            }
        }
        // Drain what the link already delivered, so shutdown loses nothing.
        let mut rest = Vec::new();
        while let Ok(event) = link_rx.try_recv() {
            rest.push(event);
        }
        if !rest.is_empty() {
            self.handle_link_events(rest, &caught_tx).await;
        }
        if let Some(task) = self.catching_up.take() {
            task.abort();
        }
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut Status)) {
        self.status.send_modify(f);
    }

    /// Handles link events in order, storing runs of consecutive events as
    /// one batch.
    pub(super) async fn handle_link_events(
        &mut self,
        events: Vec<LinkEvent>,
        caught_tx: &mpsc::Sender<CaughtUp>,
    ) {
        let mut batch = Vec::new();
        for event in events {
            match event {
                LinkEvent::Event { name, payload } => match decode(&name, &payload) {
                    Ok(incoming) => batch.push(incoming),
                    Err(e) => {
                        tracing::warn!(error = %e, "event refused");
                        self.update(|s| s.rejected_events += 1);
                    }
                },
                other => {
                    if !batch.is_empty() {
                        self.store(std::mem::take(&mut batch), Origin::Live).await;
                    }
                    self.handle_control(other, caught_tx).await;
                }
            }
        }
        if !batch.is_empty() {
            self.store(batch, Origin::Live).await;
        }
    }

    pub(super) async fn handle_control(
        &mut self,
        event: LinkEvent,
        caught_tx: &mpsc::Sender<CaughtUp>,
    ) {
        match event {
            LinkEvent::State(state) => self.link_state(state),
            LinkEvent::Connected => {
                if self.connected_once {
                    self.update(|s| s.reconnects += 1);
                }
                self.connected_once = true;
                // Every live event of this connection comes after this point
                // in the channel, so the cursor now is a safe start for every
                // catch-up of this connection, however far live events move it.
                self.connection_base = last_server_id(&self.inbox).await;
                self.start_catch_up(caught_tx);
            }
            // The server joined the socket to its rooms only now: catch up
            // again so nothing stored between CONNECT and the join is missed.
            // After an overflow, the dropped events may lie below events
            // that got through: both start from the connection's base.
            LinkEvent::Ready | LinkEvent::Overflow => self.start_catch_up(caught_tx),
            LinkEvent::ReadSync { ids, read } => {
                let synced = on_inbox(
                    &self.inbox,
                    "cannot apply another device's reads",
                    move |inbox| {
                        inbox.set_read_by_server_ids(&ids, read)?;
                        inbox.unread_count()
                    },
                )
                .await;
                if let Some(unread) = synced {
                    self.update(|s| s.unread = unread);
                }
            }
            LinkEvent::Refused {
                code: Some(code),
                message,
            } if code.is_auth() => {
                tracing::info!(%code, %message, "the server refused the token; renewing it");
                self.refresh().await;
            }
            // Not the token's fault (e.g. too many sockets): the link backs
            // off and retries with the same token.
            LinkEvent::Refused { message, .. } => {
                tracing::warn!(%message, "the server refused the connection");
            }
            LinkEvent::Event { .. } => {}
        }
    }

    pub(super) fn link_state(&mut self, state: LinkState) {
        self.update(|s| {
            // Signed out is final for this engine: late link states (the
            // link winding down) must not paint over it.
            if matches!(s.state, ConnectionState::SignedOut { .. }) {
                return;
            }
            s.next_retry_at = None;
            match state {
                // A retry keeps the cause of the failure it retries.
                LinkState::Connecting { .. } => s.state = ConnectionState::Connecting,
                LinkState::Connected { since } => {
                    s.state = ConnectionState::Connected;
                    s.connected_since = Some(since);
                    s.failed_attempts = 0;
                    s.cause = None;
                }
                LinkState::Backoff {
                    retry_at,
                    cause,
                    reason,
                    attempt,
                } => {
                    s.state = ConnectionState::Backoff { reason };
                    s.cause = Some(cause);
                    s.failed_attempts = attempt;
                    s.connected_since = None;
                    s.next_retry_at = Some(retry_at);
                }
                LinkState::AuthFailed { message } => {
                    s.state = ConnectionState::AuthFailed { message };
                    s.connected_since = None;
                    s.cause = None;
                }
                LinkState::Paused => {
                    s.state = ConnectionState::Paused;
                    s.cause = None;
                }
                LinkState::Stopped => {
                    s.connected_since = None;
                    s.state = ConnectionState::Stopped;
                    s.cause = None;
                }
            }
        });
    }

    /// Catches up from [`Worker::connection_base`], or after the catch-up
    /// under way if there is one.
    pub(super) fn start_catch_up(&mut self, caught_tx: &mpsc::Sender<CaughtUp>) {
        if self.catching_up.as_ref().is_some_and(|t| !t.is_finished()) {
            self.catch_up_again = true;
            return;
        }
        self.catch_up_again = false;
        let (api, token, after, tx) = (
            self.api.clone(),
            self.tokens.access.clone(),
            self.connection_base,
            caught_tx.clone(),
        );
        self.catching_up = Some(tokio::spawn(async move {
            let result = catch_up(&api, &token, after, &tx).await;
            let _ = tx.send(CaughtUp::Done(result)).await;
        }));
    }

    pub(super) async fn handle_caught_up(
        &mut self,
        caught: CaughtUp,
        caught_tx: &mpsc::Sender<CaughtUp>,
    ) {
        if let CaughtUp::Done(result) = &caught {
            // Its task has nothing left to do but end: another may start.
            self.catching_up = None;
            if matches!(result, Err(ApiError::Unsupported(_))) {
                self.catch_up_again = false;
            }
            if self.catch_up_again {
                self.start_catch_up(caught_tx);
            }
        }
        match caught {
            CaughtUp::Page(items, rejected) => {
                if rejected > 0 {
                    self.update(|s| s.rejected_events += rejected);
                }
                self.store(items, Origin::CatchUp).await;
            }
            CaughtUp::Done(Ok(())) => {
                self.update(|s| s.catch_up = CatchUpSupport::Available);
                let caught = std::mem::take(&mut self.caught_up);
                self.notify(&caught, Origin::CatchUp);
            }
            CaughtUp::Done(Err(ApiError::Unsupported(_))) => {
                self.update(|s| {
                    s.catch_up = CatchUpSupport::Unavailable;
                    s.warn("catch-up unavailable: this server cannot send what was missed while offline");
                });
            }
            CaughtUp::Done(Err(e)) => {
                tracing::warn!(error = %e, "catch-up failed; it runs again on the next connect");
                let caught = std::mem::take(&mut self.caught_up);
                self.notify(&caught, Origin::CatchUp);
            }
        }
    }

    /// Stores a batch in one transaction, publishes what was new, and shows
    /// what the policy allows.
    pub(super) async fn store(&mut self, batch: Vec<Incoming>, origin: Origin) {
        let added = self.insert(batch).await;
        match origin {
            Origin::Live => self.notify(&added, Origin::Live),
            // A catch-up is announced once, when it is done, as one summary.
            Origin::CatchUp => self.caught_up.extend(added),
        }
    }

    /// Stores a batch in one transaction and publishes what was new.
    pub(super) async fn insert(&mut self, batch: Vec<Incoming>) -> Vec<Item> {
        let inbox = self.inbox.clone();
        let limit = self.settings.history_limit;
        // The alert of this device's own sign-in is kept, but as read: the
        // user knows of it, and it must not badge the tray. (Only here: other
        // devices still see it as new.)
        // Only a batch with a login alert needs the list (not the event path of orders).
        let own_logins = if batch
            .iter()
            .any(|i| i.kind == herald_proto::EventType::LoginNotification.as_str())
        {
            self.policy.own_logins()
        } else {
            Vec::new()
        };
        let stored = tokio::task::spawn_blocking(move || {
            let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
            let mut added = inbox.insert_batch(&batch)?;
            if !added.is_empty() {
                inbox.enforce_retention(limit)?;
            }
            let own: Vec<i64> = added
                .iter()
                .filter(|i| crate::notify::policy::is_login_of(i, own_logins.iter()))
                .map(|i| i.id)
                .collect();
            if !own.is_empty() {
                inbox.set_read(&own, true)?;
                for item in added.iter_mut().filter(|i| own.contains(&i.id)) {
                    item.read = true;
                }
            }
            Ok::<_, InboxError>((added, inbox.unread_count()?))
        })
        .await;
        let (added, unread) = match stored {
            Ok(Ok(stored)) => stored,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot store events; they will be caught up again");
                return Vec::new();
            }
            Err(e) => {
                tracing::error!(error = %e, "the inbox task failed");
                return Vec::new();
            }
        };
        self.update(|s| {
            s.unread = unread;
            if !added.is_empty() {
                s.last_event_at = Some(chrono::Utc::now());
            }
        });
        if !added.is_empty() {
            let _ = self.updates.send(InboxUpdate::Added(added.clone()));
        }
        added
    }

    /// Shows what the policy allows of newly stored items; what it holds
    /// back, the run loop flushes at [`Policy::flush_at`].
    pub(super) fn notify(&mut self, added: &[Item], origin: Origin) {
        if added.is_empty() || self.notifier.is_none() || !self.settings.desktop_notifications {
            return;
        }
        let decision = self.policy.decide(
            added,
            origin,
            self.markup,
            tokio::time::Instant::now(),
            chrono::Local::now(),
        );
        self.show(decision.show);
    }

    pub(super) fn show(&self, toasts: Vec<crate::notify::Toast>) {
        let Some(notifier) = self.notifier.clone() else {
            return;
        };
        if toasts.is_empty() {
            return;
        }
        let status = self.status.clone();
        // The notifier talks D-Bus; keep that off the engine's task.
        tokio::task::spawn_blocking(move || {
            for toast in toasts {
                if let Err(e) = notifier.show(&toast) {
                    tracing::warn!(error = %e, "cannot show a notification");
                    status.send_modify(|s| s.warn(e.to_string()));
                    break;
                }
            }
        });
    }
}

/// The inbox's catch-up cursor; 0 (everything) when it cannot be read, which
/// costs a longer catch-up, never a lost event.
async fn last_server_id(inbox: &Arc<Mutex<Inbox>>) -> u64 {
    on_inbox(inbox, "cannot read the catch-up cursor", |inbox| {
        inbox.last_server_id()
    })
    .await
    .unwrap_or(0)
}
