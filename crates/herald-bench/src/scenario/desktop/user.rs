//! One round's user: a herald-server of its own, an account on it, signed in
//! with the `herald` CLI, and directories of its own (config, data, runtime,
//! home), so rounds share nothing and nothing of the person running the bench
//! is touched. Every Herald process of the round is started with this user's
//! environment, and its stderr goes to a log in the user's directory, which
//! a failed round prints.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// The longest any step may take.
pub const STEP: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct User {
    dir: PathBuf,
    server: Child,
    http: reqwest::Client,
    health: String,
}

impl User {
    /// Starts the server, adds the account and signs it in.
    pub async fn new(server_bin: &Path, cli: &Path, round: usize) -> anyhow::Result<User> {
        let dir = std::env::temp_dir().join(format!(
            "herald-bench-desktop-{}-{round}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home"))?;
        // The socket's directory is private, as XDG_RUNTIME_DIR is.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir.join("runtime"))?;
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let server = spawn(
            Command::new(server_bin)
                .arg("--bind")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(dir.join("server")),
        )?;
        let user = User {
            dir,
            server,
            http: reqwest::Client::new(),
            health: format!("{url}/healthz"),
        };
        until("herald-server to answer", || async {
            user.http
                .get(&user.health)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        })
        .await?;
        let email = "desk@example.com";
        let password = "bench-desktop-password";
        feed(
            Command::new(server_bin)
                .arg("--data-dir")
                .arg(user.dir.join("server"))
                .args([
                    "user", "add", "--email", email, "--name", "Desk", "--role", "user",
                ])
                .arg("--password-stdin"),
            password,
        )
        .await
        .context("add the bench user")?;
        feed(
            user.command(cli).args([
                "--server",
                &url,
                "login",
                "--email",
                email,
                "--password-stdin",
            ]),
            password,
        )
        .await
        .context("sign in with the herald CLI")?;
        Ok(user)
    }

    /// The user's directories, as every Herald program reads them.
    fn env(&self) -> [(&'static str, PathBuf); 4] {
        [
            ("HERALD_CONFIG_DIR", self.dir.join("config")),
            ("HERALD_DATA_DIR", self.data_dir()),
            ("HERALD_RUNTIME_DIR", self.dir.join("runtime")),
            ("HOME", self.dir.join("home")),
        ]
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where the agent listens.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("runtime").join("agent.sock")
    }

    /// `program` with this user's environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// Starts `program` as this user, its stderr in `<name>.log`.
    pub fn start(&self, program: &Path, name: &str) -> anyhow::Result<Child> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        self.command(program)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", program.display()))
    }

    /// The sockets herald-server has connected (the agent's, once signed in).
    pub async fn sockets(&self) -> Option<u64> {
        let body: serde_json::Value = self
            .http
            .get(&self.health)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["sockets"].as_u64()
    }

    /// The end of every log the round's programs wrote.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            if !tail.is_empty() {
                out.push_str(&format!("\n--- {}:\n{tail}", log.display()));
            }
        }
        out
    }

    /// Stops the server and removes the user's directories.
    pub async fn end(mut self) {
        let _ = self.server.start_kill();
        let _ = self.server.wait().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `command` with no input and its output dropped, killed on drop.
pub fn spawn(command: &mut Command) -> anyhow::Result<Child> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {command:?}"))
}

/// Runs `command` with `input` on its stdin, and checks it succeeded.
async fn feed(command: &mut Command, input: &str) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(input.as_bytes()).await?;
    drop(stdin);
    let out = tokio::time::timeout(STEP, child.wait_with_output()).await??;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Polls `check` until it answers, at most [`STEP`].
pub async fn until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    let deadline = Instant::now() + STEP;
    while check().await.is_none() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
