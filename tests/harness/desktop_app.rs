//! The window, `herald-desktop`, launched as a user's desktop would.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};

use crate::client::Herald;
use crate::{WAIT, bin, temp_dir};

/// A running `herald-desktop` of one [`Herald`] user.
pub struct DesktopApp {
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

impl DesktopApp {
    /// Starts the app with `args` in `user`'s environment, its output in a log.
    pub fn launch(user: &Herald, args: &[&str]) -> DesktopApp {
        let log = temp_dir("desktop-app").join("app.log");
        let out = std::fs::File::create(&log).expect("create the app log");
        let child = Command::new(bin("herald-desktop"))
            .args(args)
            .envs(user.envs())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("start herald-desktop");
        let pid = child.id().expect("a pid");
        DesktopApp { child, pid, log }
    }

    /// Waits for the app to exit by itself.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => status.expect("wait for herald-desktop"),
            Err(_) => panic!("herald-desktop did not exit:\n{}", self.log_text()),
        }
    }

    /// Whether it is still running (without waiting).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The session-bus name the running window holds (Tauri's single-instance
/// plugin): `<identifier>.SingleInstance`.
pub fn single_instance_name() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tauri.conf.json");
    let text = std::fs::read_to_string(&path).expect("read tauri.conf.json");
    let config: serde_json::Value = serde_json::from_str(&text).expect("parse tauri.conf.json");
    let id = config["identifier"].as_str().expect("an identifier");
    format!("{id}.SingleInstance")
}

/// Where test artifacts (screenshots) go: `test-artifacts/desktop/` at the
/// repository root, which CI keeps.
pub fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts/desktop");
    std::fs::create_dir_all(&dir).expect("create the artifacts folder");
    dir.join(name)
}
