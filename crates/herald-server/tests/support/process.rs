//! The real `herald-server` binary as a child process on 127.0.0.1:0, for
//! what only a process of its own shows: its memory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct ServerProcess {
    pub url: String,
    child: Child,
    dir: PathBuf,
}

impl ServerProcess {
    /// Starts the binary in a fresh data directory; returns once it listens.
    pub fn start() -> ServerProcess {
        let dir = std::env::temp_dir().join(format!(
            "herald-proc-{}-{}",
            std::process::id(),
            herald_server::token::random_token(6)
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald-server"))
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .env("HERALD_JWT_SECRET", super::server::JWT_SECRET)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn herald-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads every line, so the pipe never fills; the address goes out once.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
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
            child,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
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
