//! The `herald doctor` probes against the real session services.
//!
//! Run inside `scripts/desktop-session.sh`: it has gnome-keyring and dunst,
//! and deliberately no tray (no StatusNotifierWatcher).
// The freedesktop services under test (D-Bus, the Secret Service, a
// notification server) are Linux desktop parts; scripts/cross.sh runs the
// rest of the crate under wine.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use herald_core::doctor::{Check, check_notifications, check_secret_service, check_tray_host};
use herald_core::secret::{KeyringStore, MemoryStore, SecretError, SecretKey, SecretStore, Tokens};

/// The tray tests change who owns the watcher name, so they take turns.
static TRAY: std::sync::Mutex<()> = std::sync::Mutex::new(());

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn notifications_check_names_dunst_and_its_actions() {
    let check = check_notifications();
    assert!(check.ok, "{check:?}");
    assert_eq!(check.name, "notifications");
    assert!(check.detail.starts_with("dunst "), "{check:?}");
    assert!(check.detail.contains("actions yes"), "{check:?}");
    assert!(check.detail.contains("body-markup yes"), "{check:?}");
    assert_eq!(check.hint, None, "nothing to fix: {check:?}");
}

#[test]
fn secret_service_check_round_trips_a_probe_and_leaves_nothing() {
    let store = KeyringStore::new("herald-test-doctor", TIMEOUT);
    let started = Instant::now();
    let check = check_secret_service(&store);
    assert!(check.ok, "{check:?}");
    assert!(
        started.elapsed() < 3 * TIMEOUT,
        "bounded by the store's timeout"
    );
    assert!(check.detail.contains("probe"), "{check:?}");
    // The probe entry is gone afterwards, as seen by another client.
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", "herald-test-doctor"])
        .output()
        .expect("run secret-tool");
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "{out:?}"
    );
}

#[test]
fn secret_service_check_reports_a_store_that_fails() {
    /// A store whose keyring is locked.
    struct Locked;
    impl SecretStore for Locked {
        fn load(&self, _: &SecretKey) -> Result<Option<Tokens>, SecretError> {
            Err(SecretError::Locked)
        }
        fn save(&self, _: &SecretKey, _: &Tokens) -> Result<(), SecretError> {
            Err(SecretError::Locked)
        }
        fn delete(&self, _: &SecretKey) -> Result<(), SecretError> {
            Err(SecretError::Locked)
        }
    }
    let check = check_secret_service(&Locked);
    assert!(!check.ok, "{check:?}");
    assert!(check.detail.contains("locked"), "{check:?}");
    assert!(
        check.hint.as_deref().is_some_and(|h| h.contains("unlock")),
        "{check:?}"
    );

    // And the in-memory store passes the same probe, so the probe's own
    // logic (save, read back, compare, delete) is what the keyring passed.
    let memory = MemoryStore::new();
    assert!(check_secret_service(&memory).ok);
    assert!(memory.is_empty(), "the probe deletes its entry");
}

#[test]
fn tray_check_fails_without_a_watcher_and_says_what_to_install() {
    let _turn = TRAY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let check: Check = check_tray_host();
    assert!(!check.ok, "the test session has no tray: {check:?}");
    assert_eq!(check.name, "tray");
    assert!(
        check.detail.contains("org.kde.StatusNotifierWatcher"),
        "{check:?}"
    );
    let hint = check.hint.expect("a failed check says what to do");
    assert!(
        hint.contains("AppIndicator") && hint.contains("KStatusNotifierItem"),
        "{hint}"
    );
}

#[test]
fn checks_serialise_for_json_output() {
    let _turn = TRAY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let json = serde_json::to_value(check_tray_host()).expect("a check serialises");
    assert_eq!(json["name"], "tray");
    assert_eq!(json["ok"], false);
    assert!(
        json["hint"]
            .as_str()
            .is_some_and(|h| h.contains("AppIndicator")),
        "{json}"
    );
}

/// A stand-in StatusNotifierWatcher that answers `IsStatusNotifierHostRegistered`
/// with `host`, the way a desktop's tray does. Gone (name released) on drop.
struct FakeWatcher {
    runtime: tokio::runtime::Runtime,
    bus: zbus::Connection,
    task: tokio::task::JoinHandle<()>,
}

const WATCHER: &str = "org.kde.StatusNotifierWatcher";

impl FakeWatcher {
    fn start(host: bool) -> FakeWatcher {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime for the fake watcher");
        let bus = runtime.block_on(async {
            let bus = zbus::Connection::session().await.expect("session bus");
            bus.request_name(WATCHER)
                .await
                .expect("own the watcher name");
            bus
        });
        let mut calls = zbus::MessageStream::from(&bus);
        let replier = bus.clone();
        let task = runtime.spawn(async move {
            let bus = replier;
            while let Some(Ok(msg)) = calls.next().await {
                let header = msg.header();
                let is_get = header.member().is_some_and(|m| m.as_str() == "Get")
                    && header
                        .path()
                        .is_some_and(|p| p.as_str() == "/StatusNotifierWatcher");
                if !is_get {
                    continue;
                }
                let (iface, prop): (String, String) =
                    msg.body().deserialize().expect("Get arguments");
                if iface == WATCHER && prop == "IsStatusNotifierHostRegistered" {
                    let value = zbus::Variant::from(host);
                    bus.reply(&header, &value).await.expect("reply to Get");
                } else {
                    bus.reply_error(&header, "org.freedesktop.DBus.Error.UnknownProperty", &prop)
                        .await
                        .expect("reply an error");
                }
            }
        });
        FakeWatcher { runtime, bus, task }
    }
}

impl Drop for FakeWatcher {
    fn drop(&mut self) {
        // Released by a call the bus answers, so the next test cannot see a
        // stale owner (closing the connection would release it later).
        let released = self.runtime.block_on(self.bus.release_name(WATCHER));
        if !std::thread::panicking() {
            assert!(
                matches!(released, Ok(true)),
                "released the watcher name: {released:?}"
            );
        }
        self.task.abort();
        let _ = self.runtime.block_on(&mut self.task);
    }
}

#[test]
fn tray_check_reads_the_watcher_host_flag() {
    let _turn = TRAY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    {
        let _watcher = FakeWatcher::start(true);
        let check = check_tray_host();
        assert!(check.ok, "{check:?}");
        assert!(check.detail.contains("registered tray host"), "{check:?}");
    }
    {
        let _watcher = FakeWatcher::start(false);
        let check = check_tray_host();
        assert!(!check.ok, "{check:?}");
        assert!(
            check.detail.contains("no tray host is registered"),
            "{check:?}"
        );
        assert!(check.hint.is_some_and(|h| h.contains("AppIndicator")));
    }
}
