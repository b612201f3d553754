//! What the desktop saw: Notify calls on the session bus, and the keyring.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::WAIT;

/// One `org.freedesktop.Notifications.Notify` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyCall {
    pub app_name: String,
    pub summary: String,
    pub body: String,
    /// `[key, label, key, label, ...]`
    pub actions: Vec<String>,
    pub hints: Vec<String>,
}

/// Watches Notify calls with `dbus-monitor` (a real monitor of the real bus).
pub struct NotifyMonitor {
    _child: Child,
    calls: mpsc::UnboundedReceiver<NotifyCall>,
}

impl NotifyMonitor {
    pub async fn start() -> NotifyMonitor {
        let mut child = Command::new("dbus-monitor")
            .args([
                "--session",
                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("dbus-monitor is installed (dbus-bin)");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        // The monitor prints its own NameAcquired/NameLost first: then it listens.
        tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("dbus-monitor started")
            .expect("read");
        let (tx, calls) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut current: Option<Vec<String>> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("method call") {
                    if let Some(parsed) = current.take().and_then(|args| parse(&args)) {
                        let _ = tx.send(parsed);
                    }
                    current = line.contains("member=Notify").then(Vec::new);
                } else if line.starts_with("signal")
                    || line.starts_with("method return")
                    || line.starts_with("error")
                {
                    if let Some(parsed) = current.take().and_then(|args| parse(&args)) {
                        let _ = tx.send(parsed);
                    }
                } else if let Some(args) = current.as_mut() {
                    args.push(line);
                    // The timeout (int32) is the last argument of Notify.
                    if args
                        .last()
                        .is_some_and(|l| l.trim_start().starts_with("int32 "))
                        && let Some(parsed) = current.take().and_then(|args| parse(&args))
                    {
                        let _ = tx.send(parsed);
                    }
                }
            }
        });
        NotifyMonitor {
            _child: child,
            calls,
        }
    }

    /// Closes every open toast first (earlier tests' critical toasts never
    /// expire and would take dunst's position 0), then starts watching.
    pub async fn start_clean() -> NotifyMonitor {
        let closed = std::process::Command::new("dunstctl")
            .arg("close-all")
            .status()
            .expect("dunstctl");
        assert!(closed.success(), "dunstctl close-all");
        NotifyMonitor::start().await
    }

    /// The next Notify call within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<NotifyCall> {
        tokio::time::timeout(timeout, self.calls.recv())
            .await
            .ok()
            .flatten()
    }

    /// Every call that arrives until `quiet` passes without one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<NotifyCall> {
        let mut calls = Vec::new();
        while let Some(call) = self.next(quiet).await {
            calls.push(call);
        }
        calls
    }
}

fn unquote(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("string \"")?;
    Some(rest.strip_suffix('"').unwrap_or(rest).to_owned())
}

/// Arguments of Notify as dbus-monitor prints them: app_name, replaces_id,
/// icon, summary, body, actions (array of strings), hints (array of dict
/// entries), timeout.
fn parse(lines: &[String]) -> Option<NotifyCall> {
    let mut depth = 0;
    let mut top_strings = Vec::new();
    let mut arrays: Vec<Vec<String>> = Vec::new();
    for line in lines {
        let trimmed = line.trim();
        if trimmed.starts_with("array [") {
            depth += 1;
            if depth == 1 {
                arrays.push(Vec::new());
            }
            continue;
        }
        if trimmed == "]" {
            depth -= 1;
            continue;
        }
        if let Some(s) = unquote(line) {
            if depth == 0 {
                top_strings.push(s);
            } else if let Some(array) = arrays.last_mut() {
                array.push(s);
            }
        }
    }
    let mut strings = top_strings.into_iter();
    let app_name = strings.next()?;
    let _icon = strings.next()?;
    Some(NotifyCall {
        app_name,
        summary: strings.next()?,
        body: strings.next().unwrap_or_default(),
        actions: arrays.first().cloned().unwrap_or_default(),
        hints: arrays.get(1).cloned().unwrap_or_default(),
    })
}

/// Every secret in the Secret Service whose attributes match, as
/// `secret-tool search --all` prints them.
pub fn secret_tool_search(attribute: &str, value: &str) -> String {
    let output = std::process::Command::new("secret-tool")
        .args(["search", "--all", "--unlock", attribute, value])
        .output()
        .expect("secret-tool is installed (libsecret-tools)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
