//! Where the agent listens, and the lock that makes it the one engine.
//!
//! The lock sits in the data directory, beside the history it protects: two
//! engines on one history would both renew the same refresh token (the server
//! then revokes the session) and toast every event twice. It is an OS file
//! lock (`flock` / `LockFileEx`), so it ends with its process however that
//! process ends, SIGKILL included, and no stale lock ever needs cleaning up.
//!
//! The socket sits in the user's runtime directory (`$XDG_RUNTIME_DIR/herald`,
//! mode 0700), or under the data directory where there is none (macOS);
//! `HERALD_RUNTIME_DIR` overrides it. On Windows it is a named pipe whose name
//! is derived from the data directory, so two users never meet on one pipe.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use herald_core::config::Paths;

/// The agent's address and its lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The Unix socket, or the named pipe's name on Windows.
    pub socket: PathBuf,
    pub lock: PathBuf,
}

impl Endpoint {
    /// The endpoint of the user whose directories are `paths`.
    pub fn of(paths: &Paths) -> Endpoint {
        let lock = paths.data_dir.join("engine.lock");
        #[cfg(windows)]
        let socket = PathBuf::from(format!(
            r"\\.\pipe\herald-agent-{:016x}",
            fnv1a(paths.data_dir.to_string_lossy().as_bytes())
        ));
        #[cfg(not(windows))]
        let socket = runtime_dir(paths).join("agent.sock");
        Endpoint { socket, lock }
    }
}

#[cfg(not(windows))]
fn runtime_dir(paths: &Paths) -> PathBuf {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("HERALD_RUNTIME_DIR")
        .or_else(|| env("XDG_RUNTIME_DIR").map(|d| d.join("herald")))
        .unwrap_or_else(|| paths.data_dir.join("run"))
}

/// A stable hash of the data directory for the pipe name (std's hasher is
/// randomly seeded per process, so it cannot name anything two processes share).
#[cfg(any(windows, test))]
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it: the one engine of this account.
    #[error("Herald is already running for this account (process {pid})", pid = holder_text(*.0))]
    Held(Option<u32>),
    #[error("cannot use the engine lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn holder_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "unknown".into(), |p| p.to_string())
}

/// The held engine lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct EngineLock {
    _file: File,
    path: PathBuf,
}

impl EngineLock {
    /// Takes the lock without waiting, and writes this process's id into it
    /// for the messages of those who find it taken.
    pub fn acquire(endpoint: &Endpoint) -> Result<EngineLock, LockError> {
        let path = &endpoint.lock;
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LockError::Held(holder(&mut file))),
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(EngineLock {
            _file: file,
            path: path.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid the holder wrote, if it has written it yet.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The pid written in a held lock file, for "already running" messages.
pub fn holder_pid(endpoint: &Endpoint) -> Option<u32> {
    let mut file = File::open(&endpoint.lock).ok()?;
    holder(&mut file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(tag: &str) -> Endpoint {
        let dir =
            std::env::temp_dir().join(format!("herald-ipc-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Endpoint {
            socket: dir.join("agent.sock"),
            lock: dir.join("engine.lock"),
        }
    }

    #[test]
    fn the_lock_is_held_once_and_names_its_holder() {
        let endpoint = endpoint("once");
        let first = EngineLock::acquire(&endpoint).expect("the first lock");
        match EngineLock::acquire(&endpoint) {
            Err(LockError::Held(pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("a second lock: {other:?}"),
        }
        let message = LockError::Held(Some(42)).to_string();
        assert_eq!(
            message,
            "Herald is already running for this account (process 42)"
        );
        drop(first);
        EngineLock::acquire(&endpoint).expect("free again after the holder is gone");
    }

    #[test]
    fn pipe_names_are_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), fnv1a(b"a"));
        assert_ne!(fnv1a(b"/home/a"), fnv1a(b"/home/b"));
    }
}
