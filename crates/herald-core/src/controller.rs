//! The long-lived client behind a desktop shell: one object that outlives
//! sign-in and sign-out, and owns at most one [`Engine`] at a time.
//!
//! A shell (the tray app) subscribes once to [`Controller::status`] and
//! [`Controller::updates`]; when an account signs in or out the engine under
//! them is replaced, but the subscriptions stay. Everything the UI can ask
//! for is a method here, so the shell only translates.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as Days, Local, NaiveTime, TimeZone, Utc};
use herald_proto::EventType;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::ApiError;
use crate::config::{ConfigError, Paths, Settings};
use crate::engine::{Engine, EngineError, EngineParts, InboxUpdate};
use crate::inbox::{InboxError, Item, ListQuery};
use crate::link::LinkConfig;
use crate::notify::policy::{PolicyConfig, PolicyError};
use crate::notify::render::safe_action_url;
use crate::notify::{ActionInvoked, Notifier};
use crate::secret::{SecretError, SecretStore};
use crate::session::{self, SessionError, Transport};
use crate::status::{ConnectionState, SignOutReason, Status};

/// Why a request to the controller failed. [`ControllerError::kind`] names
/// the case for a UI; the message is a sentence for the user.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("not signed in")]
    NotSignedIn,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Inbox(#[from] InboxError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Invalid(String),
    /// Plain `http://` to another machine, not allowed by the user.
    #[error("{}", crate::plain_http::refusal(.server))]
    InsecureHttp { server: String },
}

impl ControllerError {
    /// A stable, machine-readable name of the case.
    pub fn kind(&self) -> &'static str {
        match self {
            ControllerError::NotSignedIn => "notSignedIn",
            ControllerError::Api(e) => match e {
                ApiError::BadServerUrl(_) => "badServerUrl",
                ApiError::BadCredentials => "badCredentials",
                ApiError::TooManyAttempts { .. } => "tooManyAttempts",
                ApiError::SessionExpired => "sessionExpired",
                ApiError::Unreachable { .. } => "unreachable",
                ApiError::Certificate(_) => "certificate",
                ApiError::Net(_) => "invalid",
                ApiError::Unsupported(_) | ApiError::Server { .. } | ApiError::BadAnswer(_) => {
                    "server"
                }
            },
            ControllerError::Secret(_) => "keyring",
            ControllerError::Config(_) | ControllerError::Inbox(_) => "internal",
            ControllerError::Policy(_) | ControllerError::Invalid(_) => "invalid",
            ControllerError::InsecureHttp { .. } => "insecureHttp",
        }
    }
}

impl From<SessionError> for ControllerError {
    fn from(e: SessionError) -> ControllerError {
        match e {
            SessionError::Api(e) => ControllerError::Api(e),
            SessionError::Secret(e) => ControllerError::Secret(e),
            SessionError::Config(e) => ControllerError::Config(e),
            SessionError::NotSignedIn => ControllerError::NotSignedIn,
            SessionError::InsecureHttp { server } => ControllerError::InsecureHttp { server },
        }
    }
}

/// "Pause notifications" choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Pause {
    /// For one hour from now.
    Hour,
    /// Until 08:00 local time tomorrow: "the rest of today and the night".
    Tomorrow,
    Resume,
}

impl Pause {
    /// When the pause ends, from the local time `now`; `None` to resume.
    pub fn until(self, now: DateTime<Local>) -> Option<DateTime<Utc>> {
        match self {
            Pause::Hour => Some((now + chrono::Duration::hours(1)).with_timezone(&Utc)),
            Pause::Tomorrow => {
                let eight = NaiveTime::from_hms_opt(8, 0, 0)?;
                let day = now.date_naive() + Days::days(1);
                let local = Local.from_local_datetime(&day.and_time(eight)).earliest()?;
                Some(local.with_timezone(&Utc))
            }
            Pause::Resume => None,
        }
    }
}

/// What the controller is built from; the notifier and the keyring are the
/// shell's choice (tests use in-memory ones).
#[derive(Clone)]
pub struct ControllerParts {
    pub paths: Paths,
    pub store: Arc<dyn SecretStore>,
    pub notifier: Option<Arc<dyn Notifier>>,
    pub link: LinkConfig,
    pub markup: bool,
}

impl std::fmt::Debug for ControllerParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerParts")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

struct Running {
    engine: Engine,
    forward: JoinHandle<()>,
}

/// See the module documentation.
pub struct Controller {
    parts: ControllerParts,
    status: watch::Sender<Status>,
    updates: broadcast::Sender<InboxUpdate>,
    /// Where clicked notification actions go: the current engine.
    actions: Arc<Mutex<Option<mpsc::UnboundedSender<ActionInvoked>>>>,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller with no engine yet; call [`Controller::resume`] to start
    /// the stored session. `action_rx` carries the notifier's clicks.
    pub fn new(
        parts: ControllerParts,
        mut action_rx: mpsc::UnboundedReceiver<ActionInvoked>,
    ) -> Controller {
        let settings = Settings::load(&parts.paths).unwrap_or_default();
        let mut status = Status::signed_out(SignOutReason::NotSignedIn);
        status.server = settings.server.clone();
        let (status, _) = watch::channel(status);
        let (updates, _) = broadcast::channel(1024);
        let actions: Arc<Mutex<Option<mpsc::UnboundedSender<ActionInvoked>>>> = Arc::default();
        let route = actions.clone();
        tokio::spawn(async move {
            while let Some(action) = action_rx.recv().await {
                if let Some(tx) = route.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    let _ = tx.send(action);
                }
            }
        });
        Controller {
            parts,
            status,
            updates,
            actions,
            running: tokio::sync::Mutex::new(None),
        }
    }

    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    pub fn current_status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub fn updates(&self) -> broadcast::Receiver<InboxUpdate> {
        self.updates.subscribe()
    }

    pub fn paths(&self) -> &Paths {
        &self.parts.paths
    }

    /// Starts the engine from the stored session, if there is one. Without
    /// one the status says why (not signed in, or the keyring failed).
    pub async fn resume(&self) -> Status {
        let mut running = self.running.lock().await;
        if let Some(old) = running.take() {
            self.stop(old).await;
        }
        *running = self.start_engine().await;
        self.current_status()
    }

    /// Signs in, keeps the tokens in the keyring and starts the engine.
    pub async fn sign_in(
        &self,
        server: &str,
        email: &str,
        password: &str,
        transport: Transport,
        ca_pem: Option<String>,
    ) -> Result<Status, ControllerError> {
        let mut running = self.running.lock().await;
        // Sign in first: a wrong password must not cost the working session.
        session::sign_in(
            &self.parts.paths,
            self.parts.store.clone(),
            server,
            email,
            password,
            transport,
            ca_pem,
        )
        .await?;
        if let Some(old) = running.take() {
            self.stop(old).await;
        }
        *running = self.start_engine().await;
        let _ = self.updates.send(InboxUpdate::Reset);
        Ok(self.current_status())
    }

    /// Revokes the session, deletes the tokens and stops the engine.
    pub async fn sign_out(&self) -> Result<(), ControllerError> {
        let mut running = self.running.lock().await;
        if let Some(old) = running.take() {
            self.stop(old).await;
        }
        let result = session::sign_out(&self.parts.paths, self.parts.store.clone()).await;
        let server = Settings::load(&self.parts.paths)
            .ok()
            .and_then(|s| s.server);
        self.status.send_modify(|s| {
            *s = Status::signed_out(SignOutReason::NotSignedIn);
            s.server = server;
        });
        let _ = self.updates.send(InboxUpdate::Reset);
        result.map_err(Into::into)
    }

    /// A page of the history.
    pub async fn history(&self, query: ListQuery) -> Result<Vec<Item>, ControllerError> {
        let inbox = self.with_engine(|e| e.inbox()).await?;
        blocking(move || {
            Ok(inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .list(&query)?)
        })
        .await
    }

    pub async fn item(&self, id: i64) -> Result<Option<Item>, ControllerError> {
        let inbox = self.with_engine(|e| e.inbox()).await?;
        blocking(move || Ok(inbox.lock().unwrap_or_else(|e| e.into_inner()).get(id)?)).await
    }

    pub async fn mark_read(&self, ids: Vec<i64>, read: bool) -> Result<(), ControllerError> {
        self.with_engine(|e| e.mark_read(ids, read)).await
    }

    pub async fn mark_all_read(&self) -> Result<(), ControllerError> {
        self.with_engine(Engine::mark_all_read).await
    }

    pub async fn delete(&self, ids: Vec<i64>) -> Result<(), ControllerError> {
        self.with_engine(|e| e.delete(ids)).await
    }

    pub async fn reconnect_now(&self) -> Result<(), ControllerError> {
        self.with_engine(Engine::reconnect_now).await
    }

    /// Tells the link the network is back (a shell's network monitor).
    pub async fn network_up(&self) {
        let _ = self.with_engine(Engine::network_up).await;
    }

    /// Asks the server for one test event of each type.
    pub async fn self_test(&self) -> Result<(), ControllerError> {
        // The lock is let go before the server answers: a slow server must
        // not hold up sign-out, sign-in and every other request.
        let tester = self.with_engine(Engine::self_tester).await?;
        Ok(tester.run().await?)
    }

    /// The URL behind an item's "Open link", when it is safe to open: http(s)
    /// on the signed-in server's own origin.
    pub async fn link_of(&self, id: i64) -> Result<String, ControllerError> {
        let item = self
            .item(id)
            .await?
            .ok_or(ControllerError::Invalid(format!(
                "there is no history item {id}"
            )))?;
        let server = self.current_status().server.unwrap_or_default();
        let url = item
            .url
            .ok_or_else(|| ControllerError::Invalid("this notification has no link".into()))?;
        safe_action_url(&url, &server)
            .map(|u| u.to_string())
            .ok_or_else(|| {
                ControllerError::Invalid(format!(
                    "the link {url:?} is not on the server's own site, so Herald does not open it"
                ))
            })
    }

    pub fn settings(&self) -> Result<Settings, ControllerError> {
        Ok(Settings::load(&self.parts.paths)?)
    }

    /// Validates and saves the notification settings, then applies them to
    /// the running engine at once.
    pub async fn save_notifications(
        &self,
        desktop: bool,
        policy: PolicyConfig,
    ) -> Result<Settings, ControllerError> {
        policy.validate()?;
        let mut settings = Settings::load(&self.parts.paths)?;
        settings.desktop_notifications = desktop;
        settings.notifications = policy.clone();
        settings.save(&self.parts.paths)?;
        let _ = self
            .with_engine(|e| e.set_notifications(desktop, policy))
            .await;
        Ok(settings)
    }

    pub async fn pause(&self, pause: Pause) -> Result<Settings, ControllerError> {
        let settings = Settings::load(&self.parts.paths)?;
        let mut policy = settings.notifications;
        policy.paused_until = pause.until(Local::now());
        self.save_notifications(settings.desktop_notifications, policy)
            .await
    }

    /// The doctor's checks (the keyring, notifications, the tray host, the
    /// server); takes up to a few seconds.
    pub async fn doctor(&self) -> Vec<crate::doctor::Check> {
        let settings = Settings::load(&self.parts.paths).unwrap_or_default();
        crate::doctor::check_all(&settings, self.parts.store.clone()).await
    }

    /// The event types a user can configure.
    pub fn known_types() -> Vec<&'static str> {
        EventType::ALL.iter().map(|t| t.as_str()).collect()
    }

    /// Stops the engine, storing everything already received.
    pub async fn shutdown(&self) {
        if let Some(old) = self.running.lock().await.take() {
            self.stop(old).await;
        }
        self.status
            .send_modify(|s| s.state = ConnectionState::Stopped);
    }

    async fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> Result<T, ControllerError> {
        let running = self.running.lock().await;
        let running = running.as_ref().ok_or(ControllerError::NotSignedIn)?;
        Ok(f(&running.engine))
    }

    async fn stop(&self, old: Running) {
        *self.actions.lock().unwrap_or_else(|e| e.into_inner()) = None;
        old.engine.shutdown().await;
        // The engine's last status and updates have been forwarded by now or
        // are obsolete; the controller publishes what comes next.
        old.forward.abort();
    }

    async fn start_engine(&self) -> Option<Running> {
        let settings = match Settings::load(&self.parts.paths) {
            Ok(settings) => settings,
            Err(e) => {
                self.signed_out(SignOutReason::NoCredentials, None, Some(e.to_string()));
                return None;
            }
        };
        let (action_tx, action_rx) = mpsc::unbounded_channel();
        let parts = EngineParts {
            paths: self.parts.paths.clone(),
            settings: settings.clone(),
            store: self.parts.store.clone(),
            notifier: self.parts.notifier.clone(),
            link: self.parts.link.clone(),
            markup: self.parts.markup,
        };
        match Engine::start(parts, action_rx).await {
            Ok(engine) => {
                *self.actions.lock().unwrap_or_else(|e| e.into_inner()) = Some(action_tx);
                // Publish the engine's status now, not when the forwarding
                // task first runs: callers decide on it as soon as this returns.
                self.status.send_replace(engine.status().borrow().clone());
                let forward = tokio::spawn(forward(
                    engine.status(),
                    engine.updates(),
                    self.status.clone(),
                    self.updates.clone(),
                ));
                Some(Running { engine, forward })
            }
            Err(EngineError::Session(SessionError::NotSignedIn)) => {
                self.signed_out(SignOutReason::NotSignedIn, settings.server, None);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the engine");
                self.signed_out(
                    SignOutReason::NoCredentials,
                    settings.server,
                    Some(e.to_string()),
                );
                None
            }
        }
    }

    fn signed_out(&self, reason: SignOutReason, server: Option<String>, warning: Option<String>) {
        self.status.send_modify(|s| {
            *s = Status::signed_out(reason);
            s.server = server;
            if let Some(warning) = warning {
                s.warn(warning);
            }
        });
    }
}

/// Copies an engine's status and updates to the controller's, until the
/// engine stops.
async fn forward(
    mut status: watch::Receiver<Status>,
    mut updates: broadcast::Receiver<InboxUpdate>,
    status_out: watch::Sender<Status>,
    updates_out: broadcast::Sender<InboxUpdate>,
) {
    status_out.send_replace(status.borrow_and_update().clone());
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                status_out.send_replace(status.borrow_and_update().clone());
            }
            update = updates.recv() => match update {
                Ok(update) => { let _ = updates_out.send(update); }
                // A slow reader missed some: tell it to reload.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = updates_out.send(InboxUpdate::Reset);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ControllerError> + Send + 'static,
) -> Result<T, ControllerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ControllerError::Invalid(format!("internal error: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_for_an_hour_ends_an_hour_from_now() {
        let now = Local::now();
        let until = Pause::Hour.until(now).expect("an end");
        assert_eq!(until - now.with_timezone(&Utc), chrono::Duration::hours(1));
    }

    #[test]
    fn pause_until_tomorrow_ends_at_eight_tomorrow() {
        let now = Local
            .with_ymd_and_hms(2026, 3, 10, 23, 30, 0)
            .earliest()
            .expect("a local time");
        let until = Pause::Tomorrow
            .until(now)
            .expect("an end")
            .with_timezone(&Local);
        assert_eq!(until.date_naive(), now.date_naive() + Days::days(1));
        assert_eq!(
            until.time(),
            NaiveTime::from_hms_opt(8, 0, 0).expect("08:00")
        );
        assert_eq!(Pause::Resume.until(now), None);
    }

    #[tokio::test]
    async fn a_slow_self_test_holds_up_no_other_request() {
        use crate::engine::testing::{FakeServer, PATIENCE, SignedIn};
        // A server that takes every connection and never answers.
        let mut server = FakeServer::start(|_| None).await;
        let account = SignedIn::new(&server.url);
        let parts = ControllerParts {
            paths: account.paths.clone(),
            store: account.store.clone(),
            notifier: None,
            link: LinkConfig::default(),
            markup: false,
        };
        let controller = Arc::new(Controller::new(parts, mpsc::unbounded_channel().1));
        controller.resume().await;
        let testing = tokio::spawn({
            let controller = controller.clone();
            async move { controller.self_test().await }
        });
        server.next_request_to("/api/notifications/test").await;
        // The self-test now waits on the server; the controller must not.
        tokio::time::timeout(PATIENCE, controller.reconnect_now())
            .await
            .unwrap_or_else(|_| panic!("a request waited for the self-test's answer"))
            .unwrap_or_else(|e| panic!("{e}"));
        testing.abort();
        controller.shutdown().await;
    }

    #[test]
    fn error_kinds_name_the_case() {
        assert_eq!(
            ControllerError::from(SessionError::Api(ApiError::BadCredentials)).kind(),
            "badCredentials"
        );
        assert_eq!(ControllerError::NotSignedIn.kind(), "notSignedIn");
        assert_eq!(
            ControllerError::from(SessionError::InsecureHttp {
                server: "http://example.com".into()
            })
            .kind(),
            "insecureHttp"
        );
        assert_eq!(
            ControllerError::Secret(SecretError::Locked).kind(),
            "keyring"
        );
        assert_eq!(
            ControllerError::Policy(PolicyError::EmptyQuietHours("22:00".into())).kind(),
            "invalid"
        );
    }
}
