//! A private D-Bus daemon and the temporary directory it lives in, for tests
//! that need a session bus on which a desktop service is known to be absent.
//!
//! Included by several test binaries with `#[path]`; each uses only part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A string no other test run uses: test runs share the system temp dir, the
/// keyring and the notification server, so names must not collide.
pub fn unique(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{tag}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(&format!("herald-{tag}")));
        std::fs::create_dir(&path).expect("create a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private D-Bus daemon with no service activation at all, so nothing
/// answers for a well-known name (a Secret Service, a notification server)
/// unless a test puts it there. Killed, and its directory removed, on drop.
pub struct PrivateBus {
    daemon: Child,
    /// What to put in `DBUS_SESSION_BUS_ADDRESS` to use this bus.
    pub address: String,
    // Dropped after `Drop::drop` has killed the daemon that listens in it.
    _dir: TempDir,
}

impl PrivateBus {
    pub fn start() -> PrivateBus {
        let dir = TempDir::new("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, bus_config(dir.path())).expect("write the bus config");
        let mut daemon = Command::new("dbus-daemon")
            .args(["--nofork", "--print-address=1", "--config-file"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        // The daemon prints its address once it listens: a readiness signal.
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().expect("dbus-daemon stdout"))
            .read_line(&mut address)
            .expect("read the bus address");
        let address = address.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        PrivateBus {
            daemon,
            address,
            _dir: dir,
        }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A session bus listening in `dir`. It names no service directories, so
/// nothing is ever activated on it; the open policy lets tests own any name
/// and monitor the bus.
fn bus_config(dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        dir.display()
    )
}
