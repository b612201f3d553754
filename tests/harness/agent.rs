//! `herald-agent`, the one always-on engine of a [`Herald`] user.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};

use crate::client::Herald;
use crate::{WAIT, bin, proc, temp_dir, wait_for};

/// A running `herald-agent`. Dropping it kills it (and so any window it
/// started keeps no agent to talk to); [`AgentProcess::kill9`] is a crash.
pub struct AgentProcess {
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
    socket: PathBuf,
}

impl AgentProcess {
    /// Starts the agent in `user`'s environment and waits until its socket
    /// answers connections.
    pub async fn start(user: &Herald) -> AgentProcess {
        Self::start_with(user, &[]).await
    }

    pub async fn start_with(user: &Herald, envs: &[(&str, &str)]) -> AgentProcess {
        let mut agent = Self::spawn(user, &[], envs);
        agent.wait_listening().await;
        agent
    }

    /// Starts it without waiting for anything.
    pub fn spawn(user: &Herald, args: &[&str], envs: &[(&str, &str)]) -> AgentProcess {
        let log = temp_dir("agent").join("agent.log");
        let out = std::fs::File::create(&log).expect("create the agent log");
        let child = Command::new(bin("herald-agent"))
            .args(args)
            .envs(user.envs())
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("start herald-agent");
        let pid = child.id().expect("a pid");
        AgentProcess {
            child,
            pid,
            log,
            socket: user.runtime_dir().join("agent.sock"),
        }
    }

    /// Waits until a connection to the socket succeeds.
    pub async fn wait_listening(&mut self) {
        let socket = self.socket.clone();
        let log = self.log.clone();
        wait_for(
            &format!("the agent's socket {}", socket.display()),
            WAIT,
            || {
                let socket = socket.clone();
                let log = log.clone();
                let running = self.running();
                async move {
                    assert!(
                        running,
                        "the agent exited:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    tokio::net::UnixStream::connect(&socket)
                        .await
                        .ok()
                        .map(drop)
                }
            },
        )
        .await;
    }

    /// SIGKILL: the agent gets no chance to tidy up.
    pub fn kill9(&mut self) {
        let _ = self.child.start_kill();
    }

    /// Waits for it to exit by itself (or after [`Self::kill9`]).
    pub async fn wait_exit(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => status.expect("wait for herald-agent"),
            Err(_) => panic!("herald-agent did not exit:\n{}", self.log_text()),
        }
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, as a session's end sends it.
    pub fn terminate(&self) {
        proc::terminate(self.pid);
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The agent a window or CLI of `user` started by itself (not a child of the
/// test): its pid from the engine lock, once its socket answers.
pub async fn started_by_others(user: &Herald) -> u32 {
    let lock = user.data_dir.join("engine.lock");
    let socket = user.runtime_dir().join("agent.sock");
    wait_for("an agent started by a front-end", WAIT, || {
        let lock = lock.clone();
        let socket = socket.clone();
        async move {
            tokio::net::UnixStream::connect(&socket).await.ok()?;
            std::fs::read_to_string(&lock).ok()?.trim().parse().ok()
        }
    })
    .await
}
