//! Child processes (spawned, read line by line, killed on drop) and what
//! /proc says about them.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Memory, threads and context switches of one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub rss_kb: u64,
    pub pss_kb: u64,
    pub threads: u64,
    /// Voluntary and involuntary, summed over the live threads: each is one
    /// time a thread was put to sleep or preempted, so the count of wake-ups.
    pub ctx_switches: u64,
    /// User + system CPU time of every thread, in seconds.
    pub cpu_secs: f64,
}

fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Sample {
    pub fn of(pid: u32) -> anyhow::Result<Sample> {
        let dir = Path::new("/proc").join(pid.to_string());
        let status = std::fs::read_to_string(dir.join("status"))
            .with_context(|| format!("process {pid} is gone"))?;
        let rollup = std::fs::read_to_string(dir.join("smaps_rollup")).unwrap_or_default();
        let mut ctx_switches = 0;
        for task in std::fs::read_dir(dir.join("task"))?.flatten() {
            if let Ok(s) = std::fs::read_to_string(task.path().join("status")) {
                ctx_switches +=
                    field(&s, "voluntary_ctxt_switches") + field(&s, "nonvoluntary_ctxt_switches");
            }
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and
        // stime are the 12th and 13th, in clock ticks (100 a second on Linux).
        let ticks: u64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        Ok(Sample {
            cpu_secs: ticks as f64 / 100.0,
            rss_kb: field(&status, "VmRSS"),
            pss_kb: field(&rollup, "Pss"),
            threads: field(&status, "Threads"),
            ctx_switches,
        })
    }
}

/// A spawned process whose stdout is JSON lines. Killed when dropped, so a
/// failed scenario leaves nothing running.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command) -> anyhow::Result<Proc> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            name: name.to_owned(),
            child,
            stdin,
            lines,
        })
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .with_context(|| format!("{} has exited", self.name))
    }

    pub fn sample(&self) -> anyhow::Result<Sample> {
        Sample::of(self.pid()?)
    }

    /// The next stdout line, raw.
    pub async fn line(&mut self, timeout: std::time::Duration) -> anyhow::Result<String> {
        match tokio::time::timeout(timeout, self.lines.recv()).await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => bail!("{} exited before it said what was expected", self.name),
            Err(_) => bail!("{} said nothing for {timeout:?}", self.name),
        }
    }

    /// The next stdout line that is a JSON object holding `key`; other lines
    /// are logged and skipped.
    pub async fn wait_for(
        &mut self,
        key: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = self
                .line(left)
                .await
                .with_context(|| format!("waiting for {key:?}"))?;
            match serde_json::from_str::<Value>(&line) {
                Ok(v) if v.get(key).is_some() => return Ok(v),
                _ => tracing::debug!(proc = %self.name, %line, "skipped"),
            }
        }
    }

    /// Takes the line receiver, for a scenario that reads every line itself.
    pub fn take_lines(&mut self) -> mpsc::UnboundedReceiver<String> {
        let (_, empty) = mpsc::unbounded_channel();
        std::mem::replace(&mut self.lines, empty)
    }

    /// Closes stdin (the children take that as "stop") and waits a little
    /// for a clean exit before the kill on drop.
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Raises the open-file limit to its hard limit: 10,000 sockets need it, on
/// this side and in the servers this process starts (they inherit it).
pub fn raise_nofile() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    if let Err(e) = setrlimit(Resource::Nofile, limit) {
        tracing::warn!(error = %e, "cannot raise the open-file limit");
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}
