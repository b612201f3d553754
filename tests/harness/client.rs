//! The `herald` CLI, with its own directories, run as a user would.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::{WAIT, bin, temp_dir};

/// One `herald` user: a home, config and data directories, and an opener
/// that logs what "View Details" would open.
pub struct Herald {
    /// Everything of this user is under here, `HOME` included.
    pub root: PathBuf,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub opened_log: PathBuf,
    opener: PathBuf,
}

/// A finished command.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Herald {
    pub fn new(tag: &str) -> Herald {
        let root = temp_dir(tag);
        let opened_log = root.join("opened.log");
        let opener = root.join("opener.sh");
        std::fs::write(
            &opener,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                opened_log.display()
            ),
        )
        .expect("write the opener");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755))
                .expect("chmod the opener");
        }
        std::fs::create_dir_all(root.join("home")).expect("create the home");
        Herald {
            config_dir: root.join("config"),
            data_dir: root.join("data"),
            root,
            opened_log,
            opener,
        }
    }

    /// This user's environment: its directories, `HOME` and the opener. The
    /// CLI and the tray app of one user share it, and so their sign-in.
    pub fn envs(&self) -> Vec<(&'static str, String)> {
        let path = |p: &std::path::Path| p.display().to_string();
        vec![
            ("HERALD_CONFIG_DIR", path(&self.config_dir)),
            ("HERALD_DATA_DIR", path(&self.data_dir)),
            ("HERALD_OPENER", path(&self.opener)),
            // The agent's socket: per test user, so parallel tests never meet.
            ("HERALD_RUNTIME_DIR", path(&self.runtime_dir())),
            ("HERALD_LOG", "info".into()),
            ("HOME", path(&self.home())),
        ]
    }

    /// Where this user's agent listens (`agent.sock`).
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(bin("herald"));
        command
            .envs(self.envs())
            .env_remove("HERALD_SERVER")
            .kill_on_drop(true);
        command
    }

    /// Runs `herald ARGS` to completion, with `stdin` as its input.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = self.command();
        command.args(args);
        run_to_end(command, stdin).await
    }

    /// Runs `herald ARGS` with extra environment variables.
    pub async fn run_with_env(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let mut command = self.command();
        command.args(args).envs(env.iter().copied());
        run_to_end(command, stdin).await
    }

    /// Signs in and asserts that it worked.
    pub async fn login_ok(&self, server: &str, email: &str, password: &str) {
        let output = self.login(server, email, password).await;
        assert!(
            output.status.success(),
            "login of {email} failed: {}",
            output.stderr
        );
    }

    pub async fn login(&self, server: &str, email: &str, password: &str) -> Output {
        self.login_with(server, email, password, &[], &[]).await
    }

    /// `herald login` with more arguments (`--ca-file …`) and variables.
    pub async fn login_with(
        &self,
        server: &str,
        email: &str,
        password: &str,
        more: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let mut args = vec![
            "--server",
            server,
            "login",
            "--email",
            email,
            "--password-stdin",
        ];
        args.extend_from_slice(more);
        self.run_with_env(&args, Some(password), env).await
    }

    /// `herald history --json`, oldest first.
    pub async fn history(&self, limit: u32) -> Vec<Value> {
        let output = self
            .run(&["history", "--json", "--limit", &limit.to_string()], None)
            .await;
        assert!(output.status.success(), "history: {}", output.stderr);
        let mut items: Vec<Value> = output
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        items.reverse();
        items
    }

    /// `herald status --json`: the account, and the engine if one runs
    /// (`agent`: `{running, pid}`; `connection`: its live status).
    pub async fn status_json(&self) -> Value {
        let output = self.run(&["status", "--json"], None).await;
        assert!(output.status.success(), "status: {}", output.stderr);
        serde_json::from_str(output.stdout.trim()).expect("status --json is JSON")
    }

    /// The engine's socket of this user (the agent's, or a `herald listen`'s).
    pub fn agent_socket(&self) -> PathBuf {
        self.runtime_dir().join("agent.sock")
    }

    /// Starts `herald listen ARGS`.
    pub fn listen(&self, args: &[&str]) -> Listen {
        self.listen_with_env(args, &[])
    }

    /// Starts `herald listen ARGS` with extra environment variables.
    pub fn listen_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Listen {
        let mut child = self
            .command()
            .arg("listen")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start herald listen");
        let (tx, lines) = mpsc::unbounded_channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(out).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send(Line::Out(line));
            }
        });
        tokio::spawn(async move {
            let mut reader = BufReader::new(err).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx2.send(Line::Err(line));
            }
        });
        Listen {
            child,
            lines,
            seen: Vec::new(),
        }
    }
}

/// Runs `command` to completion with `stdin` as its input.
async fn run_to_end(mut command: Command, stdin: Option<&str>) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run herald");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("herald finished in time")
        .expect("output");
    Output {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Out(String),
    Err(String),
}

/// A running `herald listen`.
pub struct Listen {
    child: Child,
    lines: mpsc::UnboundedReceiver<Line>,
    /// Every line so far, in order.
    pub seen: Vec<Line>,
}

impl Listen {
    /// Waits for a line matching `pred`; panics after [`WAIT`] with what was seen.
    pub async fn wait_line(&mut self, what: &str, pred: impl Fn(&Line) -> bool) -> Line {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "herald listen ended before {what}; it said: {:#?}",
                    self.seen
                ),
                Err(_) => panic!(
                    "timed out waiting for {what}; herald listen said: {:#?}",
                    self.seen
                ),
            }
        }
    }

    pub async fn wait_status(&mut self, label: &str) {
        let wanted = format!("status: {label}");
        self.wait_line(
            label,
            |l| matches!(l, Line::Err(e) if e.starts_with(&wanted)),
        )
        .await;
    }

    /// Stdout JSON items, waiting until `n` more have arrived.
    pub async fn items(&mut self, n: usize) -> Vec<Value> {
        let mut items = Vec::with_capacity(n);
        while items.len() < n {
            if let Line::Out(line) = self
                .wait_line("an item", |l| matches!(l, Line::Out(_)))
                .await
            {
                items.push(serde_json::from_str(&line).expect("a JSON item"));
            }
        }
        items
    }

    /// The next stdout item matching `pred`, skipping others.
    pub async fn item_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let line = self.wait_line(what, |l| matches!(l, Line::Out(_))).await;
            if let Line::Out(line) = line {
                let item: Value = serde_json::from_str(&line).expect("a JSON item");
                if pred(&item) {
                    return item;
                }
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The stdout JSON items among the lines seen so far, in order.
    pub fn printed(&self) -> Vec<Value> {
        self.seen
            .iter()
            .filter_map(|line| match line {
                Line::Out(line) => serde_json::from_str(line).ok(),
                Line::Err(_) => None,
            })
            .collect()
    }

    /// SIGTERM, then the exit status and the rest of the output.
    pub async fn stop(self) -> (ExitStatus, Vec<Line>) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        self.finish().await
    }

    /// Waits for the process to end by itself.
    pub async fn finish(mut self) -> (ExitStatus, Vec<Line>) {
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("herald listen ended in time")
            .expect("exit status");
        while let Ok(Some(line)) =
            tokio::time::timeout(std::time::Duration::from_secs(2), self.lines.recv()).await
        {
            self.seen.push(line);
        }
        (status, self.seen)
    }
}
