//! The commands the page invokes (`docs/ui-contract.md`). Nearly all are the
//! agent's calls of the same name: their arguments go to it as the page sent
//! them and its answer comes back as it is, so this process holds no copy of
//! the engine's types to drift from the agent's. Errors are the agent's
//! `{ kind, message }`.

use std::time::Duration;

use herald_ipc::WireError;
use herald_ipc::wire::kind;
use serde_json::{Value, json};
use tauri::State;
use tauri::ipc::{InvokeBody, Request};

use crate::agent::{self, Agent};

type Result<T> = std::result::Result<T, WireError>;

/// How long "Start Herald" waits for the agent it started to answer.
const START_WAIT: Duration = Duration::from_secs(10);

/// The arguments as the page sent them (always a JSON object from `api.js`).
fn args_of(request: &Request<'_>) -> Result<Value> {
    match request.body() {
        InvokeBody::Json(Value::Null) => Ok(json!({})),
        InvokeBody::Json(value) => Ok(value.clone()),
        InvokeBody::Raw(_) => Err(WireError::invalid(
            "the window's commands take JSON arguments",
        )),
    }
}

/// One forwarding command per forwarded name of `commands.rs`.
macro_rules! forwarders {
    (forwarded: $($f:ident),* ; local: $($l:ident),* ;) => {
        /// The commands that go to the agent unchanged.
        pub mod forwarded {
            use super::*;
            $(
                #[tauri::command]
                pub async fn $f(agent: State<'_, Agent>, request: Request<'_>) -> Result<Value> {
                    let args = args_of(&request)?;
                    agent.call(stringify!($f), args).await
                }
            )*
        }
    };
}

window_commands!(forwarders);

/// The agent's status; while there is no agent, the `agentUnavailable` one,
/// so a page that loads then still learns what is going on.
#[tauri::command]
pub async fn status(agent: State<'_, Agent>) -> Result<Value> {
    match agent.call("status", json!({})).await {
        Err(e) if e.kind == kind::AGENT_UNAVAILABLE => Ok(agent::unavailable_status()),
        answer => answer,
    }
}

/// The agent's sign-in prefill, with this process's `HERALD_SIGNIN_*` on
/// top: the demo sets them on the window it starts, not on the agent.
#[tauri::command]
pub async fn defaults(agent: State<'_, Agent>) -> Result<Value> {
    let mut answer = agent.call("defaults", json!({})).await?;
    overlay_env(&mut answer, |name| std::env::var(name).ok());
    Ok(answer)
}

fn overlay_env(defaults: &mut Value, env: impl Fn(&str) -> Option<String>) {
    if !defaults.is_object() {
        *defaults = json!({});
    }
    for (field, name) in [
        ("server", "HERALD_SIGNIN_SERVER"),
        ("email", "HERALD_SIGNIN_EMAIL"),
        ("password", "HERALD_SIGNIN_PASSWORD"),
    ] {
        if let Some(value) = env(name).filter(|v| !v.is_empty()) {
            defaults[field] = Value::String(value);
        }
    }
}

/// "Start Herald": starts the agent installed beside this program and waits
/// until the window is connected to it again.
#[tauri::command]
pub async fn start_agent(agent: State<'_, Agent>) -> Result<()> {
    if agent.is_connected() {
        return Ok(());
    }
    let program = herald_ipc::sibling("herald-agent");
    herald_ipc::start_detached(&program, &[]).map_err(|e| {
        WireError::new(
            kind::AGENT_UNAVAILABLE,
            format!("cannot start Herald's agent ({}): {e}", program.display()),
        )
    })?;
    if agent.wait_connected(START_WAIT).await {
        Ok(())
    } else {
        Err(WireError::new(
            kind::AGENT_UNAVAILABLE,
            format!(
                "Herald's agent was started but did not answer within {} s",
                START_WAIT.as_secs()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signin_env_overlays_the_agents_defaults() {
        let mut answer =
            json!({ "server": "http://agent", "email": "a@example.com", "password": null });
        overlay_env(&mut answer, |name| match name {
            "HERALD_SIGNIN_EMAIL" => Some("demo@example.com".into()),
            "HERALD_SIGNIN_PASSWORD" => Some("secret".into()),
            "HERALD_SIGNIN_SERVER" => Some(String::new()),
            _ => None,
        });
        assert_eq!(
            answer,
            json!({ "server": "http://agent", "email": "demo@example.com", "password": "secret" })
        );
        let mut odd = Value::Null;
        overlay_env(&mut odd, |_| None);
        assert_eq!(odd, json!({}));
    }
}
