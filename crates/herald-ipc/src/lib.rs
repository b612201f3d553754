//! herald-ipc: how Herald's processes find and talk to the one engine.
//!
//! One process per account runs the engine: the agent, or a headless
//! `herald listen`. It holds the engine lock and serves this protocol on a
//! per-user socket; every other front-end (the window, the CLI) is a client.
//!
//! # Layout
//!
//! - [`wire`]: the frames (JSON lines), the version, the call names, the limits.
//! - [`view`]: the JSON shapes of answers and pushes.
//! - [`endpoint`]: where the socket and the lock are, and the lock itself.
//! - [`transport`]: the Unix socket / named pipe, and the peer's uid check.
//! - [`server`] and [`service`]: the engine side: connections, and the call
//!   table onto herald-core's `Controller`.
//! - [`client`]: the front-end side.
//! - [`attach`] (here): "connect to the engine, or become it".

pub mod client;
pub mod endpoint;
pub mod server;
pub mod service;
pub mod transport;
pub mod view;
pub mod wire;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use client::{Client, Push};
pub use endpoint::{Endpoint, EngineLock, LockError};
pub use server::Server;
pub use service::Service;
pub use wire::{Call, WireError};

/// What a front-end found.
#[derive(Debug)]
pub enum Attached {
    /// An engine runs: talk to it.
    Agent(Client),
    /// None runs, and now this process holds the lock: run the engine here.
    Engine(EngineLock),
}

/// Connects to the running engine, or takes the lock to become it. A lock
/// held by a process whose socket does not answer yet (an agent starting up)
/// is retried until `wait` has passed.
pub async fn attach(endpoint: &Endpoint, wait: Duration) -> Result<Attached, LockError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Ok(client) = Client::connect(endpoint).await {
            return Ok(Attached::Agent(client));
        }
        match EngineLock::acquire(endpoint) {
            Ok(lock) => return Ok(Attached::Engine(lock)),
            Err(LockError::Held(pid)) if tokio::time::Instant::now() >= deadline => {
                return Err(LockError::Held(pid));
            }
            Err(LockError::Held(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => return Err(e),
        }
    }
}

/// Connects to the agent, starting `program` first when none answers, and
/// waits up to `wait` for it to listen.
pub async fn connect_or_start(
    endpoint: &Endpoint,
    program: &Path,
    wait: Duration,
) -> Result<Client, WireError> {
    if let Ok(client) = Client::connect(endpoint).await {
        return Ok(client);
    }
    start_detached(program, &[]).map_err(|e| {
        WireError::new(
            wire::kind::AGENT_UNAVAILABLE,
            format!("cannot start Herald's agent ({}): {e}", program.display()),
        )
    })?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match Client::connect(endpoint).await {
            Ok(client) => return Ok(client),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Starts `program` so that it outlives its starter: its own process group
/// (a Ctrl+C in the starter's terminal does not reach it), no inherited
/// standard streams.
pub fn start_detached(program: &Path, args: &[&str]) -> std::io::Result<()> {
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let child = command.spawn()?;
    // Nobody waits for it here; a thread reaps it if it ends while we run.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(())
}

/// A program of Herald's installed beside the running one (the agent beside
/// the window, and the other way round), else the bare name for `PATH`.
pub fn sibling(name: &str) -> PathBuf {
    let file = if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_owned()
    };
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&file)))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(file))
}
