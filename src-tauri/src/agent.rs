//! The window's one connection to the agent, and what happens when it ends.
//!
//! The agent owns the engine; this process only shows it. Its pushes
//! (`status`, `inbox`, `open`) become the page's events of the same names.
//! When the agent goes away (it crashed, or the user quit it from the tray)
//! the window stays: it says so with an `agentUnavailable` status and tries
//! to connect again every second, but never starts an agent by itself, since
//! quitting the agent must not be undone behind the user's back. "Start
//! Herald" on the page does that ([`crate::command::start_agent`]). When an
//! agent answers again the page gets its status and an `inbox` reset, so it
//! reloads a history it may have missed changes to.

use std::time::Duration;

use herald_core::status::{SignOutReason, Status};
use herald_ipc::view::StatusView;
use herald_ipc::wire::{kind, push};
use herald_ipc::{Client, Endpoint, Push, WireError};
use serde_json::{Value, json};
use tauri::{AppHandle, Manager};
use tokio::sync::{mpsc, watch};

use crate::window::{self, Route};

/// How often a window without an agent looks for one.
const RETRY: Duration = Duration::from_secs(1);

/// The label of the `agentUnavailable` state.
pub const UNAVAILABLE_LABEL: &str = "Herald's agent is not running";

/// A connection with its pushes.
pub type Subscription = (Client, mpsc::Receiver<Push>);

/// The connection, shared by the commands (in Tauri's state).
#[derive(Debug)]
pub struct Agent {
    endpoint: Endpoint,
    /// `None` while no agent answers.
    client: watch::Sender<Option<Client>>,
}

impl Agent {
    pub fn new(endpoint: Endpoint) -> Agent {
        Agent {
            endpoint,
            client: watch::Sender::new(None),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn current(&self) -> Option<Client> {
        self.client.borrow().clone().filter(|c| !c.is_closed())
    }

    pub fn is_connected(&self) -> bool {
        self.current().is_some()
    }

    fn set(&self, client: Option<Client>) {
        self.client.send_replace(client);
    }

    /// Calls the agent; without one, fails at once with `agentUnavailable`.
    pub async fn call(&self, name: &str, args: Value) -> Result<Value, WireError> {
        let Some(client) = self.current() else {
            return Err(WireError::new(
                kind::AGENT_UNAVAILABLE,
                "Herald's agent is not running, so nothing can be done until it runs again. \
                 Press \u{201c}Start Herald\u{201d}, or start Herald from your applications.",
            ));
        };
        client.call_named(name, args).await
    }

    /// Waits until a connection is up, at most `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut changes = self.client.subscribe();
        let up = changes.wait_for(|c| c.as_ref().is_some_and(|c| !c.is_closed()));
        matches!(tokio::time::timeout(timeout, up).await, Ok(Ok(_)))
    }
}

/// The status the page shows while no agent answers: the agent's own shape
/// (an empty status, every field there), so the page's status view needs no
/// second path, with the state `agentUnavailable`.
pub fn unavailable_status() -> Value {
    let empty = StatusView::from(Status::signed_out(SignOutReason::NotSignedIn));
    let mut status = serde_json::to_value(empty).unwrap_or_else(|_| json!({}));
    status["state"] = json!({ "kind": kind::AGENT_UNAVAILABLE });
    status["label"] = json!(UNAVAILABLE_LABEL);
    status
}

/// Connects to the agent at start-up, starting it when none answers.
pub async fn connect_at_start(agent: &Agent, wait: Duration) -> Option<Subscription> {
    let program = herald_ipc::sibling("herald-agent");
    let client = match herald_ipc::connect_or_start(agent.endpoint(), &program, wait).await {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "no agent to show");
            return None;
        }
    };
    match client.subscribe(true).await {
        Ok((_, pushes)) => {
            agent.set(Some(client.clone()));
            Some((client, pushes))
        }
        Err(e) => {
            tracing::error!(error = %e, "the agent refused the window's subscription");
            None
        }
    }
}

/// Follows the agent for as long as the process runs: its pushes to the
/// page while it is there, and a new connection after it went away.
pub async fn supervise(app: AppHandle, mut current: Option<Subscription>) {
    loop {
        if let Some((client, pushes)) = current.take() {
            follow(&app, &client, pushes).await;
            app.state::<Agent>().set(None);
            tracing::warn!("Herald's agent went away; waiting for it to return");
            window::emit(&app, push::STATUS, unavailable_status());
        }
        current = Some(reconnect(&app).await);
    }
}

async fn follow(app: &AppHandle, client: &Client, mut pushes: mpsc::Receiver<Push>) {
    loop {
        tokio::select! {
            // What the agent sent before it went away is still delivered.
            biased;
            push = pushes.recv() => match push {
                Some(push) => deliver(app, push),
                None => break,
            },
            () = client.closed() => break,
        }
    }
}

fn deliver(app: &AppHandle, push: Push) {
    match push.name.as_str() {
        push::OPEN => {
            if let Err(e) = window::show(app, Route::Open(push.data)) {
                tracing::error!(error = %e, "cannot show the notification's details");
            }
        }
        push::STATUS | push::INBOX => window::emit(app, &push.name, push.data),
        other => tracing::debug!(push = other, "a push this window does not know"),
    }
}

/// Tries every [`RETRY`] until an agent answers and takes the subscription;
/// then the page gets the fresh status and reloads its history.
async fn reconnect(app: &AppHandle) -> Subscription {
    let agent = app.state::<Agent>();
    let mut tick = tokio::time::interval(RETRY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(client) = Client::connect(agent.endpoint()).await else {
            continue;
        };
        match client.subscribe(true).await {
            Ok((status, pushes)) => {
                tracing::info!("connected to Herald's agent again");
                agent.set(Some(client.clone()));
                window::emit(app, push::STATUS, status);
                window::emit(app, push::INBOX, json!({ "kind": "reset" }));
                return (client, pushes);
            }
            Err(e) => tracing::debug!(error = %e, "the agent is not ready yet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unavailable_status_says_so_and_is_otherwise_empty() {
        let status = unavailable_status();
        assert_eq!(status["state"], json!({ "kind": "agentUnavailable" }));
        assert_eq!(status["label"], UNAVAILABLE_LABEL);
        assert_eq!(status["unread"], 0);
        assert_eq!(status["warnings"], json!([]));
        for field in ["server", "user", "connectedSince", "nextRetryAt"] {
            assert_eq!(status[field], Value::Null, "{field}");
        }
    }

    #[tokio::test]
    async fn without_an_agent_calls_fail_at_once_with_agent_unavailable() {
        let dir = std::env::temp_dir().join(format!("herald-desktop-agent-{}", std::process::id()));
        let agent = Agent::new(Endpoint {
            socket: dir.join("agent.sock"),
            lock: dir.join("engine.lock"),
        });
        assert!(!agent.is_connected());
        let e = agent
            .call("history", json!({}))
            .await
            .expect_err("no agent");
        assert_eq!(e.kind, "agentUnavailable");
        assert!(e.message.contains("not running"), "{e}");
        assert!(!agent.wait_connected(Duration::from_millis(20)).await);
    }
}
