//! The system tests' harness: real binaries in real processes.
//!
//! # Layout
//!
//! - [`server`]: a `herald-server` process on a fixed loopback port, which a
//!   test can kill with SIGKILL and start again on the same port.
//! - [`client`]: the `herald` CLI with its own config and data directories.
//! - [`agent`]: `herald-agent`, the always-on engine, of one such user.
//! - [`balancer`], [`postgres`], [`redis`]: what a herald-server cluster
//!   runs on and behind: a plain TCP balancer, Postgres and Redis servers.
//! - [`desktop`]: a monitor of `org.freedesktop.Notifications.Notify` calls on
//!   the session bus (`dbus-monitor`), and Secret Service look-ups (`secret-tool`).
//!
//! The tests run inside `scripts/desktop-session.sh`: a D-Bus session with
//! gnome-keyring unlocked and dunst running.
#![allow(clippy::unwrap_used, missing_debug_implementations)]

pub mod agent;
pub mod balancer;
pub mod client;
pub mod desktop;
pub mod desktop_app;
pub mod inbox;
// The Postgres and Redis of the cluster tests: the very files the
// herald-server tests use.
#[path = "../../crates/herald-server/tests/support/postgres.rs"]
pub mod postgres;
pub mod proc;
pub mod proxy;
#[path = "../../crates/herald-server/tests/support/redis.rs"]
pub mod redis;
pub mod seed;
pub mod server;
pub mod tray;
pub mod webdriver;
pub mod x11;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// How long any single wait may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A binary of this workspace, next to the test executable's `deps/` folder.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace`",
        path.display()
    );
    path
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "herald-{tag}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback port (free a moment ago).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// This machine's address on its network (not loopback): what another
/// machine would use to reach it. Found by asking the kernel which source
/// address a UDP socket towards a documentation address would use; no packet
/// is sent.
pub fn lan_ip() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind a UDP socket");
    socket
        .connect("203.0.113.1:9")
        .expect("a route off this machine: these tests need a non-loopback interface");
    let ip = socket.local_addr().expect("local addr").ip();
    assert!(!ip.is_loopback(), "no non-loopback address: {ip}");
    ip
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path);
            }
        }
    }
    found
}
