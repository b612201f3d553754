//! The commands that change the engine's state, and where they run.
//!
//! One engine per account: when one runs (the agent, or another
//! `herald listen`), `read`, `test`, `logout` and `login` ask it over its
//! socket, so its session, its history and its notifications stay the one
//! truth. When none runs they act directly, but only after taking the engine
//! lock, so an engine starting meanwhile waits for them instead of renewing
//! the same refresh token at the same moment.

use std::time::Duration;

use anyhow::{anyhow, bail};
use herald_core::config::Paths;
use herald_ipc::{Attached, Call, Client, Endpoint, EngineLock, LockError, WireError};
use serde_json::{Value, json};

use crate::print::clean;

/// How long a command waits for an engine that holds the lock but does not
/// answer yet (one starting up).
pub const ATTACH_WAIT: Duration = Duration::from_secs(5);

/// Where a command runs.
#[derive(Debug)]
pub enum Engine {
    /// In the running engine, through its socket.
    Agent(Client),
    /// Here: none runs, and this process holds the lock until it is done.
    Local(EngineLock),
}

/// Finds the running engine, or takes the lock.
pub async fn engine(paths: &Paths) -> anyhow::Result<Engine> {
    let endpoint = Endpoint::of(paths);
    match herald_ipc::attach(&endpoint, ATTACH_WAIT).await {
        Ok(Attached::Agent(client)) => Ok(Engine::Agent(client)),
        Ok(Attached::Engine(lock)) => Ok(Engine::Local(lock)),
        Err(e) => Err(silent(&endpoint, e)),
    }
}

/// The lock is held but nobody answers on the socket.
pub fn silent(endpoint: &Endpoint, e: LockError) -> anyhow::Error {
    match e {
        LockError::Held(pid) => anyhow!(
            "Herald's engine{} holds the lock {} but does not answer on {}; \
             wait a moment and try again, or stop that process",
            pid.map(|p| format!(" (process {p})")).unwrap_or_default(),
            endpoint.lock.display(),
            endpoint.socket.display()
        ),
        other => anyhow!(other),
    }
}

/// An agent's error as `herald: <message>`.
pub fn wire(e: WireError) -> anyhow::Error {
    if e.kind == "notSignedIn" {
        return anyhow!(
            "not signed in: run `herald --server URL login --email EMAIL --password-stdin`"
        );
    }
    anyhow!("{}", clean(&e.message))
}

pub async fn mark_read(client: &Client, ids: &[i64], read: bool) -> anyhow::Result<()> {
    client
        .call::<Value>(Call::MarkRead, json!({ "ids": ids, "read": read }))
        .await
        .map_err(wire)?;
    eprintln!(
        "{} marked {} (by Herald's agent, which tells the server)",
        ids.len(),
        if read { "read" } else { "unread" }
    );
    Ok(())
}

pub async fn send_test(client: &Client) -> anyhow::Result<()> {
    client
        .call::<Value>(Call::SendTest, Value::Null)
        .await
        .map_err(wire)?;
    let status: Value = client.call(Call::Status, Value::Null).await.map_err(wire)?;
    eprintln!(
        "asked {} for one test notification of each type",
        clean(status["server"].as_str().unwrap_or("the server"))
    );
    Ok(())
}

pub async fn sign_out(client: &Client) -> anyhow::Result<()> {
    client
        .call::<Value>(Call::SignOut, Value::Null)
        .await
        .map_err(wire)?;
    eprintln!("signed out");
    Ok(())
}

/// Signs in through the running engine, which switches to the new session.
pub async fn sign_in(
    client: &Client,
    server: &str,
    email: &str,
    password: &str,
    insecure_http: bool,
    ca_pem: Option<String>,
) -> anyhow::Result<()> {
    let status: Value = client
        .call(
            Call::SignIn,
            json!({ "server": server, "email": email, "password": password,
                    "insecureHttp": insecure_http, "caPem": ca_pem }),
        )
        .await
        .map_err(wire)?;
    let who = status["user"].as_str().unwrap_or(email);
    eprintln!(
        "signed in to {} as {}; the tokens are in the OS keyring, and Herald's agent uses them now",
        clean(status["server"].as_str().unwrap_or(server)),
        clean(who)
    );
    Ok(())
}

/// The engine as `herald status` reports it.
#[derive(Debug)]
pub enum AgentState {
    Running {
        pid: Option<u64>,
        /// `herald_ipc::view::StatusView` as JSON.
        status: Value,
    },
    /// The lock is held, the socket does not answer (starting, or stuck).
    Silent(Option<u32>),
    NotRunning,
}

/// Asks the running engine who it is and how it is; never takes the lock
/// for longer than a look.
pub async fn agent_state(paths: &Paths) -> anyhow::Result<AgentState> {
    let endpoint = Endpoint::of(paths);
    if let Ok(client) = Client::connect(&endpoint).await {
        let hello: Value = client.call(Call::Hello, Value::Null).await.map_err(wire)?;
        let status: Value = client.call(Call::Status, Value::Null).await.map_err(wire)?;
        return Ok(AgentState::Running {
            pid: hello["pid"].as_u64(),
            status,
        });
    }
    if !endpoint.lock.exists() {
        return Ok(AgentState::NotRunning);
    }
    Ok(match EngineLock::acquire(&endpoint) {
        Ok(_free) => AgentState::NotRunning,
        Err(LockError::Held(pid)) => AgentState::Silent(pid),
        Err(e) => bail!(e),
    })
}

impl AgentState {
    pub fn json(&self) -> (Value, Value) {
        match self {
            AgentState::Running { pid, status } => {
                (json!({ "running": true, "pid": pid }), status.clone())
            }
            AgentState::Silent(pid) => (
                json!({ "running": false, "answering": false, "lockHeldBy": pid }),
                Value::Null,
            ),
            AgentState::NotRunning => (json!({ "running": false }), Value::Null),
        }
    }

    /// The text lines of `herald status` about the engine.
    pub fn lines(&self) -> Vec<String> {
        let AgentState::Running { pid, status } = self else {
            return vec![match self {
                AgentState::Silent(pid) => format!(
                    "agent:       not answering (process {} holds the engine lock)",
                    pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string())
                ),
                _ => "agent:       not running".to_owned(),
            }];
        };
        let text = |key: &str| status[key].as_str().map(|s| clean(s).into_owned());
        let pid = pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        vec![
            format!("agent:       running (process {pid})"),
            format!(
                "connection:  {} ({})",
                text("label").unwrap_or_default(),
                text("server").unwrap_or_else(|| "-".into())
            ),
            format!(
                "user:        {}",
                text("user").unwrap_or_else(|| "-".into())
            ),
            format!(
                "connected:   {}",
                text("connectedSince").map_or_else(|| "no".into(), |t| format!("since {t}"))
            ),
            format!(
                "last event:  {}",
                text("lastEventAt").unwrap_or_else(|| "none yet".into())
            ),
            format!("unread:      {}", status["unread"].as_u64().unwrap_or(0)),
            format!(
                "reconnects:  {}",
                status["reconnects"].as_u64().unwrap_or(0)
            ),
        ]
    }
}
