//! Probes for `herald doctor`: is each desktop service Herald relies on
//! there, and if not, what should the user do.
//!
//! Every probe is bounded in time: a D-Bus service that never answers makes a
//! check fail with a hint, never hang.

use std::sync::mpsc;
use std::time::Duration;

use std::sync::Arc;

use crate::api::{Api, ApiError};
use crate::config::Settings;
use crate::notify::desktop;
use crate::secret::{SecretError, SecretKey, SecretStore, Tokens};
use crate::session;

/// How long a D-Bus probe of the doctor's own waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of one probe.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// What to do about it; set when not ok, and for an ok with a caveat.
    pub hint: Option<String>,
}

impl Check {
    fn ok(name: &str, detail: String) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail,
            hint: None,
        }
    }

    fn failed(name: &str, detail: String, hint: &str) -> Check {
        Check {
            name: name.into(),
            ok: false,
            detail,
            hint: Some(hint.into()),
        }
    }
}

/// Saves, reads back and deletes a probe entry, so the check proves what
/// signing in needs: that the keyring is reachable, unlocked and writable.
/// Each call obeys the store's own timeout.
pub fn check_secret_service(store: &dyn SecretStore) -> Check {
    const NAME: &str = "keyring";
    let key = SecretKey::new("herald-doctor://probe", "probe");
    let nonce = format!(
        "probe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let probe = Tokens {
        access: nonce,
        refresh: None,
    };
    let result = store
        .save(&key, &probe)
        .and_then(|()| store.load(&key))
        .and_then(|loaded| {
            // Delete even when the read-back is wrong, so no probe stays behind.
            store.delete(&key)?;
            match loaded {
                Some(tokens) if tokens == probe => Ok(()),
                Some(_) => Err(SecretError::Corrupt(
                    "the probe read back differently".into(),
                )),
                None => Err(SecretError::Corrupt(
                    "the probe vanished after saving".into(),
                )),
            }
        });
    match result {
        Ok(()) => Check::ok(NAME, "saved, read back and deleted a probe entry".into()),
        Err(e) => {
            let hint = match &e {
                SecretError::Unavailable { .. } => {
                    "start gnome-keyring or KeePassXC (with its Secret Service integration \
                     enabled), or sign in to a desktop session that provides one"
                }
                SecretError::Locked => {
                    "unlock the login keyring (Seahorse, \"Passwords and Keys\")"
                }
                SecretError::Timeout(_) => {
                    "the Secret Service did not answer: check that gnome-keyring or KeePassXC is \
                     running and not waiting on a prompt"
                }
                SecretError::Corrupt(_) | SecretError::Other(_) => {
                    "check the keyring with Seahorse or `secret-tool search service herald`"
                }
            };
            Check::failed(NAME, e.to_string(), hint)
        }
    }
}

/// Who the notification server is and whether it shows actions and markup.
pub fn check_notifications() -> Check {
    const NAME: &str = "notifications";
    match desktop::server_info() {
        Ok(info) => {
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            let detail = format!(
                "{} {} ({}): actions {}, body-markup {}",
                info.name,
                info.version,
                info.vendor,
                yes_no(info.actions),
                yes_no(info.body_markup)
            );
            let mut check = Check::ok(NAME, detail);
            if !info.actions {
                check.hint = Some(info.hint.unwrap_or_else(|| {
                    "this notification server shows no buttons; use the tray menu or \
                     `herald list` to act on notifications"
                        .into()
                }));
            }
            check
        }
        Err(e) => Check::failed(
            NAME,
            e.to_string(),
            "start a notification server (your desktop's, or dunst, mako, xfce4-notifyd); \
             notifications are still kept in the history",
        ),
    }
}

/// What to do when there is no tray host.
pub const TRAY_HINT: &str = "no system tray host: on GNOME install and enable the \
     \"AppIndicator and KStatusNotifierItem Support\" extension \
     (gnome-shell-extension-appindicator); KDE, XFCE, Cinnamon and most other desktops have one \
     built in. Herald still runs and notifies without it";

/// Whether a StatusNotifierItem host (a tray) is on the session bus:
/// `org.kde.StatusNotifierWatcher` is owned and reports a registered host.
pub fn check_tray_host() -> Check {
    tray::check()
}

/// Which monitor tells the engine about sleep and the network: logind and
/// NetworkManager on the system bus, or the fallback (the clock check on
/// the probe tick). Always ok: the fallback works, only later.
pub fn check_os_monitor() -> Check {
    const NAME: &str = "sleep/network";
    let monitor =
        bounded(crate::os_signals::detect_blocking).unwrap_or(crate::os_signals::Monitor::FALLBACK);
    let mut check = Check::ok(NAME, monitor.describe().into());
    if monitor
        != (crate::os_signals::Monitor {
            logind: true,
            network_manager: true,
        })
    {
        check.hint = Some(
            "without logind and NetworkManager, a resume is noticed at the next liveness probe              (within a minute) instead of at once"
                .into(),
        );
    }
    check
}

/// Every check, in the order a report shows them: the keyring, the
/// notification server, the tray host, the sleep/network monitor, then the
/// server.
pub async fn check_all(settings: &Settings, store: Arc<dyn SecretStore>) -> Vec<Check> {
    let probe = store.clone();
    let desktop = tokio::task::spawn_blocking(move || {
        vec![
            check_secret_service(probe.as_ref()),
            check_notifications(),
            check_tray_host(),
            check_os_monitor(),
        ]
    })
    .await
    .unwrap_or_default();
    let mut checks = desktop;
    checks.extend(check_server(settings, store).await);
    checks
}

/// The server's checks: does it answer, and can it send what was missed.
pub async fn check_server(settings: &Settings, store: Arc<dyn SecretStore>) -> Vec<Check> {
    let check = |name: &str, ok: bool, detail: String, hint: Option<&str>| Check {
        name: name.to_owned(),
        ok,
        detail,
        hint: hint.map(str::to_owned),
    };
    let Some(server) = settings.server.as_deref() else {
        return vec![check(
            "server",
            false,
            "no server configured".into(),
            Some("sign in with the server's URL"),
        )];
    };
    let api = match Api::with_options(server, settings.net_options()) {
        Ok(api) => api,
        Err(e) => {
            return vec![check(
                "server",
                false,
                e.to_string(),
                Some("fix the server URL"),
            )];
        }
    };
    let mut checks = vec![match api.reachable().await {
        Ok(()) => check("server", true, format!("{} answers", api.origin()), None),
        // The certificate error's own words say what to do.
        Err(e @ ApiError::Certificate(_)) => check("server", false, e.to_string(), None),
        Err(e) => check(
            "server",
            false,
            e.to_string(),
            Some("check the URL and the network"),
        ),
    }];
    let catch_up = match session::stored_tokens(settings, store).await {
        Ok((api, _, tokens)) => match api.catch_up(&tokens.access, u64::MAX >> 1, 1).await {
            Ok(_) => check(
                "catch-up",
                true,
                "the server sends what was missed while offline".into(),
                None,
            ),
            Err(ApiError::Unsupported(_)) => check(
                "catch-up",
                false,
                "unavailable: events sent while Herald is offline are lost".into(),
                Some("use herald-server, or a server with GET /api/notifications?after=ID"),
            ),
            Err(e) => check("catch-up", false, e.to_string(), Some("sign in again")),
        },
        Err(e) => check(
            "catch-up",
            false,
            format!("cannot check: {e}"),
            Some("sign in first"),
        ),
    };
    checks.push(catch_up);
    checks
}

/// Runs `f` on its own thread, waiting at most [`PROBE_TIMEOUT`].
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("herald-doctor".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(PROBE_TIMEOUT).ok()
}

#[cfg(all(unix, not(target_os = "macos")))]
mod tray {
    use super::{Check, PROBE_TIMEOUT, TRAY_HINT, bounded};

    const NAME: &str = "tray";
    const WATCHER: &str = "org.kde.StatusNotifierWatcher";

    enum Found {
        NoWatcher,
        NoHost,
        Host,
    }

    async fn probe() -> zbus::Result<Found> {
        let bus = zbus::Connection::session().await?;
        let owned: bool = bus
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "NameHasOwner",
                &(WATCHER,),
            )
            .await?
            .body()
            .deserialize()?;
        if !owned {
            return Ok(Found::NoWatcher);
        }
        let registered: zbus::OwnedVariant = bus
            .call_method(
                Some(WATCHER),
                "/StatusNotifierWatcher",
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(WATCHER, "IsStatusNotifierHostRegistered"),
            )
            .await?
            .body()
            .deserialize()?;
        Ok(if bool::try_from(registered)? {
            Found::Host
        } else {
            Found::NoHost
        })
    }

    pub(super) fn check() -> Check {
        match bounded(|| zbus::block_on(probe())) {
            Some(Ok(Found::Host)) => Check::ok(
                NAME,
                format!("{WATCHER} is running with a registered tray host"),
            ),
            Some(Ok(Found::NoHost)) => Check::failed(
                NAME,
                format!("{WATCHER} is running but no tray host is registered"),
                TRAY_HINT,
            ),
            Some(Ok(Found::NoWatcher)) => Check::failed(
                NAME,
                format!("nobody owns {WATCHER} on the session bus"),
                TRAY_HINT,
            ),
            Some(Err(e)) => {
                Check::failed(NAME, format!("cannot ask the session bus: {e}"), TRAY_HINT)
            }
            None => Check::failed(
                NAME,
                format!("the session bus did not answer within {PROBE_TIMEOUT:?}"),
                TRAY_HINT,
            ),
        }
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
mod tray {
    use super::Check;

    /// The macOS menu bar and the Windows notification area are always there.
    pub(super) fn check() -> Check {
        Check::ok("tray", "the system tray is part of this desktop".into())
    }
}
