//! The engine: one object that runs the link, the inbox, the notifications
//! and the token lifecycle, and publishes a [`Status`] and inbox updates.
//!
//! Every event, live or caught up, takes one path: decode → one inbox
//! transaction per batch (de-duplicated by server id) → policy → notifier.
//! The CLI and the tray app only subscribe to [`Engine::status`] and
//! [`Engine::updates`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::{Api, ApiError};
use crate::config::{Paths, Settings};
use crate::event::{Incoming, decode};
use crate::inbox::{Inbox, InboxError, Item};
use crate::link::{Link, LinkCommand, LinkConfig, LinkEvent, LinkState};
use crate::notify::policy::{Origin, Policy};
use crate::notify::{ACTION_THIS_WAS_ME, ActionInvoked, Notifier};
use crate::secret::{SecretKey, SecretStore, Tokens};
use crate::session::{SessionError, blocking, next_refresh, stored_tokens};
use crate::status::{CatchUpSupport, ConnectionState, SignOutReason, Status};

/// Events fetched per catch-up page.
const PAGE: u32 = 500;
/// Live events taken into one inbox transaction at most.
const BATCH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Inbox(#[from] InboxError),
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
        item: Item,
        url: Option<String>,
    },
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
}

#[derive(Debug)]
enum Command {
    Shutdown,
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
        let (link_tx, link_rx) = mpsc::channel(4096);
        let link = Link::start(api.origin(), token_rx, parts.link.clone(), link_tx);
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
            caught_up: Vec::new(),
            connection_base: 0,
            markup: parts.markup,
        };
        let task = tokio::spawn(worker.run(link_rx, command_rx, action_rx));
        tokio::spawn(crate::wake::watch(link.clone()));
        Ok(Engine {
            status: status_rx,
            updates,
            inbox,
            link,
            commands,
            task,
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

    /// Stops the link and waits until every received event is in the inbox.
    pub async fn shutdown(self) {
        let _ = self.commands.send(Command::Shutdown);
        self.link.send(LinkCommand::Shutdown);
        let _ = self.task.await;
    }
}

/// The engine's task and everything it owns.
struct Worker {
    settings: Settings,
    api: Api,
    key: SecretKey,
    store: Arc<dyn SecretStore>,
    tokens: Tokens,
    token_tx: watch::Sender<Option<String>>,
    inbox: Arc<Mutex<Inbox>>,
    status: watch::Sender<Status>,
    updates: broadcast::Sender<InboxUpdate>,
    notifier: Option<Arc<dyn Notifier>>,
    policy: Policy,
    link: Link,
    connected_once: bool,
    catching_up: Option<JoinHandle<()>>,
    /// Items of the catch-up under way, announced together when it ends.
    caught_up: Vec<Item>,
    /// The inbox cursor when the current connection was confirmed.
    connection_base: u64,
    markup: bool,
}

impl Worker {
    async fn run(
        mut self,
        mut link_rx: mpsc::Receiver<LinkEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut actions: mpsc::UnboundedReceiver<ActionInvoked>,
    ) {
        let (caught_tx, mut caught_rx) = mpsc::channel::<CaughtUp>(4);
        let mut flush_at: Option<tokio::time::Instant> = None;
        let mut refresh_at = self.refresh_deadline();
        loop {
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
                    if let Some(at) = self.handle_link_events(events, &caught_tx).await {
                        flush_at = Some(flush_at.map_or(at, |f| f.min(at)));
                    }
                }
                caught = caught_rx.recv() => {
                    if let Some(caught) = caught {
                        if let Some(at) = self.handle_caught_up(caught).await {
                            flush_at = Some(flush_at.map_or(at, |f| f.min(at)));
                        }
                    }
                }
                _ = flush => {
                    flush_at = None;
                    let toasts = self.policy.flush(self.markup, tokio::time::Instant::now());
                    self.show(toasts);
                }
                _ = tokio::time::sleep_until(refresh_at) => {
                    self.refresh().await;
                    refresh_at = self.refresh_deadline();
                }
                action = actions.recv() => {
                    if let Some(action) = action {
                        self.handle_action(action).await;
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
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

    fn refresh_deadline(&self) -> tokio::time::Instant {
        let delay = next_refresh(&self.tokens).unwrap_or(Duration::from_secs(365 * 24 * 3600));
        tokio::time::Instant::now() + delay
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        self.status.send_modify(f);
    }

    /// Handles link events in order, storing runs of consecutive events as
    /// one batch. Returns when a held-back summary is due.
    async fn handle_link_events(
        &mut self,
        events: Vec<LinkEvent>,
        caught_tx: &mpsc::Sender<CaughtUp>,
    ) -> Option<tokio::time::Instant> {
        let mut flush_at = None;
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
                        flush_at =
                            flush_at.or(self.store(std::mem::take(&mut batch), Origin::Live).await);
                    }
                    self.handle_control(other, caught_tx).await;
                }
            }
        }
        if !batch.is_empty() {
            flush_at = flush_at.or(self.store(batch, Origin::Live).await);
        }
        flush_at
    }

    async fn handle_control(&mut self, event: LinkEvent, caught_tx: &mpsc::Sender<CaughtUp>) {
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
                let inbox = self.inbox.clone();
                self.connection_base = tokio::task::spawn_blocking(move || {
                    inbox
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .last_server_id()
                })
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
                self.start_catch_up(caught_tx);
            }
            // The server joined the socket to its rooms only now: catch up
            // again so nothing stored between CONNECT and the join is missed.
            LinkEvent::Ready | LinkEvent::Overflow => self.start_catch_up(caught_tx),
            LinkEvent::ReadSync { ids, read } => {
                let inbox = self.inbox.clone();
                let changed = tokio::task::spawn_blocking(move || {
                    let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
                    inbox.set_read_by_server_ids(&ids, read)?;
                    inbox.unread_count()
                })
                .await;
                if let Ok(Ok(unread)) = changed {
                    self.update(|s| s.unread = unread);
                }
            }
            LinkEvent::Refused {
                code: Some(code),
                message,
            } => {
                tracing::info!(%code, %message, "the server refused the token; renewing it");
                self.refresh().await;
            }
            LinkEvent::Refused {
                code: None,
                message,
            } => {
                tracing::warn!(%message, "the server refused the connection");
            }
            LinkEvent::Event { .. } => {}
        }
    }

    fn link_state(&mut self, state: LinkState) {
        self.update(|s| {
            // Signed out is final for this engine: late link states (the
            // link winding down) must not paint over it.
            if matches!(s.state, ConnectionState::SignedOut { .. }) {
                return;
            }
            s.next_retry_at = None;
            match state {
                LinkState::Connecting { .. } => s.state = ConnectionState::Connecting,
                LinkState::Connected { since } => {
                    s.state = ConnectionState::Connected;
                    s.connected_since = Some(since);
                }
                LinkState::Backoff {
                    retry_at, reason, ..
                } => {
                    s.state = ConnectionState::Backoff { reason };
                    s.connected_since = None;
                    s.next_retry_at = Some(retry_at);
                }
                LinkState::AuthFailed { message } => {
                    s.state = ConnectionState::AuthFailed { message };
                    s.connected_since = None;
                }
                LinkState::Paused => s.state = ConnectionState::Paused,
                LinkState::Stopped => {
                    s.connected_since = None;
                    s.state = ConnectionState::Stopped;
                }
            }
        });
    }

    fn start_catch_up(&mut self, caught_tx: &mpsc::Sender<CaughtUp>) {
        if self.catching_up.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let (api, token, inbox, tx) = (
            self.api.clone(),
            self.tokens.access.clone(),
            self.inbox.clone(),
            caught_tx.clone(),
        );
        self.catching_up = Some(tokio::spawn(async move {
            let after = {
                let inbox = inbox.clone();
                tokio::task::spawn_blocking(move || {
                    inbox
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .last_server_id()
                })
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0)
            };
            let result = catch_up(&api, &token, after, &tx).await;
            let _ = tx.send(CaughtUp::Done(result)).await;
        }));
    }

    async fn handle_caught_up(&mut self, caught: CaughtUp) -> Option<tokio::time::Instant> {
        match caught {
            CaughtUp::Page(items, rejected) => {
                if rejected > 0 {
                    self.update(|s| s.rejected_events += rejected);
                }
                self.store(items, Origin::CatchUp).await
            }
            CaughtUp::Done(Ok(())) => {
                self.update(|s| s.catch_up = CatchUpSupport::Available);
                let caught = std::mem::take(&mut self.caught_up);
                self.notify(&caught, Origin::CatchUp)
            }
            CaughtUp::Done(Err(ApiError::Unsupported(_))) => {
                self.update(|s| {
                    s.catch_up = CatchUpSupport::Unavailable;
                    s.warn("catch-up unavailable: this server cannot send what was missed while offline");
                });
                None
            }
            CaughtUp::Done(Err(e)) => {
                tracing::warn!(error = %e, "catch-up failed; it runs again on the next connect");
                let caught = std::mem::take(&mut self.caught_up);
                self.notify(&caught, Origin::CatchUp)
            }
        }
    }

    /// Stores a batch in one transaction, publishes what was new, and shows
    /// what the policy allows.
    async fn store(
        &mut self,
        batch: Vec<Incoming>,
        origin: Origin,
    ) -> Option<tokio::time::Instant> {
        let added = self.insert(batch).await;
        match origin {
            Origin::Live => self.notify(&added, Origin::Live),
            // A catch-up is announced once, when it is done, as one summary.
            Origin::CatchUp => {
                self.caught_up.extend(added);
                None
            }
        }
    }

    /// Stores a batch in one transaction and publishes what was new.
    async fn insert(&mut self, batch: Vec<Incoming>) -> Vec<Item> {
        let inbox = self.inbox.clone();
        let limit = self.settings.history_limit;
        let stored = tokio::task::spawn_blocking(move || {
            let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
            let added = inbox.insert_batch(&batch)?;
            if !added.is_empty() {
                inbox.enforce_retention(limit)?;
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

    /// Shows what the policy allows of newly stored items.
    fn notify(&mut self, added: &[Item], origin: Origin) -> Option<tokio::time::Instant> {
        if added.is_empty() || self.notifier.is_none() || !self.settings.desktop_notifications {
            return None;
        }
        let decision = self.policy.decide(
            added,
            origin,
            self.markup,
            tokio::time::Instant::now(),
            chrono::Local::now(),
        );
        self.show(decision.show);
        decision.flush_at
    }

    fn show(&self, toasts: Vec<crate::notify::Toast>) {
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

    async fn handle_action(&mut self, action: ActionInvoked) {
        let Some(id) = action.item_id else {
            return;
        };
        let inbox = self.inbox.clone();
        let item = tokio::task::spawn_blocking(move || {
            inbox.lock().unwrap_or_else(|e| e.into_inner()).get(id)
        })
        .await;
        let Ok(Ok(Some(item))) = item else { return };
        if action.action == ACTION_THIS_WAS_ME {
            self.mark_read(vec![item.id], true).await;
            return;
        }
        let url = item
            .url
            .as_deref()
            .and_then(|u| crate::notify::render::safe_action_url(u, &self.api.origin()))
            .map(|u| u.to_string());
        self.mark_read(vec![item.id], true).await;
        let _ = self.updates.send(InboxUpdate::Open { item, url });
    }

    /// Marks items read locally, then tells the server (when it can listen).
    async fn mark_read(&mut self, ids: Vec<i64>, read: bool) {
        let inbox = self.inbox.clone();
        let local = ids.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
            inbox.set_read(&local, read)?;
            let server_ids: Vec<u64> = local
                .iter()
                .filter_map(|id| inbox.get(*id).ok().flatten())
                .filter_map(|i| i.server_id)
                .collect();
            Ok::<_, InboxError>((server_ids, inbox.unread_count()?))
        })
        .await;
        let Ok(Ok((server_ids, unread))) = result else {
            return;
        };
        self.update(|s| s.unread = unread);
        let _ = self.updates.send(InboxUpdate::Read { ids, read });
        if !server_ids.is_empty() {
            if let Err(e) = self
                .api
                .mark_read(&self.tokens.access, &server_ids, read)
                .await
            {
                tracing::debug!(error = %e, "read state not synced to the server");
            }
        }
    }

    /// Renews the access token; on refusal the session is over.
    async fn refresh(&mut self) {
        let Some(refresh) = self.tokens.refresh.clone() else {
            // A seed server: no refresh token. Once the token has expired,
            // the user must sign in again.
            let expired = crate::auth::token_expiry(&self.tokens.access)
                .is_some_and(|t| t <= chrono::Utc::now());
            if expired
                || matches!(
                    self.status.borrow().state,
                    ConnectionState::AuthFailed { .. }
                )
            {
                self.end_session(SignOutReason::SessionExpired).await;
            }
            return;
        };
        match self.api.refresh(&refresh).await {
            Ok(session) => {
                let (store, key, tokens) =
                    (self.store.clone(), self.key.clone(), session.tokens.clone());
                if let Err(e) = blocking(move || store.save(&key, &tokens)).await {
                    tracing::error!(error = %e, "cannot store the renewed token");
                    self.update(|s| s.warn(format!("the renewed token could not be stored: {e}")));
                }
                self.tokens = session.tokens;
                let _ = self.token_tx.send(Some(self.tokens.access.clone()));
                tracing::info!("access token renewed");
            }
            Err(ApiError::SessionExpired | ApiError::Unsupported(_)) => {
                self.end_session(SignOutReason::SessionExpired).await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew the token now; retrying later"),
        }
    }

    async fn end_session(&mut self, reason: SignOutReason) {
        tracing::warn!(?reason, "signed out");
        // The dead tokens go first, so whoever sees "signed out" finds none.
        let (store, key) = (self.store.clone(), self.key.clone());
        if let Err(e) = blocking(move || store.delete(&key)).await {
            tracing::warn!(error = %e, "cannot delete the dead token from the keyring");
        }
        self.update(|s| {
            s.state = ConnectionState::SignedOut { reason };
            s.connected_since = None;
            s.next_retry_at = None;
        });
        let _ = self.token_tx.send(None);
        self.link.send(LinkCommand::Shutdown);
    }
}

enum CaughtUp {
    Page(Vec<Incoming>, u64),
    Done(Result<(), ApiError>),
}

/// Pages through everything after `after`, sending each page to the engine.
async fn catch_up(
    api: &Api,
    token: &str,
    mut after: u64,
    tx: &mpsc::Sender<CaughtUp>,
) -> Result<(), ApiError> {
    loop {
        let page = api.catch_up(token, after, PAGE).await?;
        let mut items = Vec::with_capacity(page.items.len());
        let mut rejected = 0;
        let before = after;
        for raw in &page.items {
            // Advance past every id, decodable or not, so a bad item cannot stall paging.
            after = after.max(
                raw.get("id")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0),
            );
            let name = raw
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("notification");
            match decode(name, raw) {
                Ok(item) => items.push(item),
                Err(e) => {
                    tracing::warn!(error = %e, "caught-up event refused");
                    rejected += 1;
                }
            }
        }
        if tx.send(CaughtUp::Page(items, rejected)).await.is_err() {
            return Ok(());
        }
        if !page.has_more || after == before {
            return Ok(());
        }
    }
}
