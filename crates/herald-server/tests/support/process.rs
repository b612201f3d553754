//! The real `herald-server` binary as a child process on 127.0.0.1:0, for
//! what only a process of its own shows: its memory, and its log.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct ServerProcess {
    pub url: String,
    /// Everything the server wrote to standard error so far.
    pub log: Arc<Mutex<String>>,
    child: Child,
    dir: PathBuf,
}

/// A fresh data directory path (not created).
pub fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "herald-proc-{}-{}",
        std::process::id(),
        herald_server::token::random_token(6)
    ))
}

/// Adds an account with `herald-server user add`, the password on stdin.
pub fn add_user(dir: &Path, email: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(["user", "add", "--email", email, "--name", "User"])
        .arg("--password-stdin")
        .env("HERALD_JWT_SECRET", super::server::JWT_SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn herald-server user add");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(password.as_bytes())
        .expect("write the password");
    drop(stdin);
    // Bounded: the wait runs on a thread, and a hung child fails the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(super::WAIT)
        .expect("user add finishes")
        .expect("user add ran");
    assert!(status.success(), "user add: {status}");
}

impl ServerProcess {
    /// Starts the binary in a fresh data directory; returns once it listens.
    pub fn start() -> ServerProcess {
        ServerProcess::start_in(data_dir(), "info")
    }

    /// Starts the binary on `dir` with `RUST_LOG=rust_log`; returns once it
    /// listens.
    pub fn start_in(dir: PathBuf, rust_log: &str) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald-server"))
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .env("HERALD_JWT_SECRET", super::server::JWT_SECRET)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn herald-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let kept = log.clone();
        // Reads every line, so the pipe never fills; the address goes out once.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut log) = kept.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                if line.contains("herald-server listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(super::WAIT)
            .expect("the server says where it listens");
        ServerProcess {
            url: format!("http://{addr}"),
            log,
            child,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (at most [`super::WAIT`]) until the log contains `text`.
    pub async fn wait_for_log(&self, text: &str) {
        let seen = tokio::time::timeout(super::WAIT, async {
            while !self.log().contains(text) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(seen.is_ok(), "the log never said {text:?}:\n{}", self.log());
    }

    /// A `kB` field of the server's `/proc/PID/status`, e.g. `VmRSS`, `VmHWM`.
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
