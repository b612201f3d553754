//! What each call does: one line into the [`Controller`] per call, and the
//! JSON shapes of [`crate::view`] out.

use std::sync::Arc;

use herald_core::autostart::Autostart;
use herald_core::controller::{Controller, ControllerError, Pause};
use herald_core::session::Transport;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::view::{Defaults, HistoryQuery, SettingsView, StatusView};
use crate::wire::{Call, DEFAULT_ACCOUNT, WireError, kind};

impl From<ControllerError> for WireError {
    fn from(e: ControllerError) -> WireError {
        WireError::new(e.kind(), e.to_string())
    }
}

/// The agent's side of every call.
pub struct Service {
    pub controller: Arc<Controller>,
    /// The start-at-login entry (the agent's own program).
    pub autostart: Autostart,
    /// Called after start at login changed (the tray's check mark).
    pub on_autostart: Option<Box<dyn Fn(bool) + Send + Sync>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("autostart", &self.autostart)
            .finish_non_exhaustive()
    }
}

fn args<T: DeserializeOwned>(call: Call, args: Value) -> Result<T, WireError> {
    // A call without arguments may send none at all.
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args)
        .map_err(|e| WireError::invalid(format!("the arguments of `{call}` are wrong: {e}")))
}

fn to_value<T: serde::Serialize>(value: T) -> Result<Value, WireError> {
    serde_json::to_value(value).map_err(WireError::internal)
}

#[derive(Deserialize)]
struct SignIn {
    server: String,
    email: String,
    password: String,
    /// The user allows plain `http://` to another machine for this server.
    #[serde(default, rename = "insecureHttp")]
    insecure_http: bool,
    /// A CA certificate (PEM text) to trust for this server.
    #[serde(default, rename = "caPem")]
    ca_pem: Option<String>,
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    query: HistoryQuery,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

#[derive(Deserialize)]
struct Ids {
    ids: Vec<i64>,
}

#[derive(Deserialize)]
struct MarkRead {
    ids: Vec<i64>,
    read: bool,
}

#[derive(Deserialize)]
struct SaveSettings {
    settings: SettingsView,
}

#[derive(Deserialize)]
struct PauseArgs {
    choice: Pause,
}

/// The most ids one call may name: a whole history page and then some.
pub const MAX_IDS: usize = 10_000;

fn bounded(ids: Vec<i64>) -> Result<Vec<i64>, WireError> {
    if ids.len() > MAX_IDS {
        return Err(WireError::invalid(format!(
            "at most {MAX_IDS} ids in one call, not {}",
            ids.len()
        )));
    }
    Ok(ids)
}

impl Service {
    /// Checks the account a request names: there is one account today.
    pub fn account(&self, account: Option<&str>) -> Result<(), WireError> {
        match account {
            None | Some(DEFAULT_ACCOUNT) => Ok(()),
            Some(other) => Err(WireError::new(
                kind::UNKNOWN_ACCOUNT,
                format!(
                    "this agent has no account {other:?}; its one account is {DEFAULT_ACCOUNT:?}"
                ),
            )),
        }
    }

    fn settings_view(&self, settings: &herald_core::config::Settings) -> SettingsView {
        SettingsView::new(settings, self.autostart.is_enabled())
    }

    fn set_autostart(&self, on: bool) -> Result<bool, WireError> {
        let now = self
            .autostart
            .set(on)
            .map_err(|e| WireError::internal(format!("cannot change start at login: {e}")))?;
        if let Some(callback) = &self.on_autostart {
            callback(now);
        }
        Ok(now)
    }

    /// Answers one call (`Subscribe` is the connection's business, not this).
    pub async fn call(&self, call: Call, raw: Value) -> Result<Value, WireError> {
        let c = &self.controller;
        match call {
            Call::Hello => to_value(json!({
                "version": crate::wire::VERSION,
                "pid": std::process::id(),
                "account": DEFAULT_ACCOUNT,
            })),
            Call::Subscribe | Call::Status => to_value(StatusView::from(c.current_status())),
            Call::SignIn => {
                let a: SignIn = args(call, raw)?;
                if a.email.trim().is_empty() || a.password.is_empty() {
                    return Err(WireError::invalid("enter your email and password"));
                }
                let transport = Transport::allowing_plain_http(a.insecure_http);
                let status = c
                    .sign_in(
                        a.server.trim(),
                        a.email.trim(),
                        &a.password,
                        transport,
                        a.ca_pem.filter(|pem| !pem.trim().is_empty()),
                    )
                    .await?;
                to_value(StatusView::from(status))
            }
            Call::SignOut => {
                c.sign_out().await?;
                Ok(Value::Null)
            }
            Call::History => {
                let a: Query = args(call, raw)?;
                to_value(c.history(a.query.into()).await?)
            }
            Call::Item => {
                let a: Id = args(call, raw)?;
                to_value(c.item(a.id).await?)
            }
            Call::MarkRead => {
                let a: MarkRead = args(call, raw)?;
                c.mark_read(bounded(a.ids)?, a.read).await?;
                Ok(Value::Null)
            }
            Call::MarkAllRead => {
                c.mark_all_read().await?;
                Ok(Value::Null)
            }
            Call::DeleteItems => {
                let a: Ids = args(call, raw)?;
                c.delete(bounded(a.ids)?).await?;
                Ok(Value::Null)
            }
            Call::OpenLink => {
                let a: Id = args(call, raw)?;
                let url = c.link_of(a.id).await?;
                herald_core::opener::open(&url).map_err(WireError::internal)?;
                Ok(Value::Null)
            }
            Call::Settings => to_value(self.settings_view(&c.settings()?)),
            Call::SaveSettings => {
                let a: SaveSettings = args(call, raw)?;
                let current = c.settings()?;
                let saved = c
                    .save_notifications(
                        a.settings.desktop_notifications,
                        a.settings.policy(&current),
                    )
                    .await?;
                let mut view = self.settings_view(&saved);
                if view.start_at_login != a.settings.start_at_login {
                    view.start_at_login = self.set_autostart(a.settings.start_at_login)?;
                }
                to_value(view)
            }
            Call::Pause => {
                let a: PauseArgs = args(call, raw)?;
                let saved = c.pause(a.choice).await?;
                to_value(self.settings_view(&saved))
            }
            Call::ReconnectNow => {
                c.reconnect_now().await?;
                Ok(Value::Null)
            }
            Call::Doctor => to_value(c.doctor().await),
            Call::SendTest => {
                c.self_test().await?;
                Ok(Value::Null)
            }
            Call::Defaults => to_value(Defaults::resolve(&c.settings()?)),
        }
    }

    /// Turns start at login on or off from the tray.
    pub fn toggle_autostart(&self) -> Result<bool, WireError> {
        self.set_autostart(!self.autostart.is_enabled())
    }
}
