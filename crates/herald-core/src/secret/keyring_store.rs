//! [`KeyringStore`]: tokens in the OS keyring, through the `keyring` crate,
//! with a timeout on every call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use keyring::Entry;

use super::{SecretError, SecretKey, SecretStore, Tokens};

/// How many keyring calls may be unfinished at once. A Secret Service that
/// never answers strands the thread of every call; past this many, calls fail
/// at once instead of stranding more threads.
const MAX_IN_FLIGHT: usize = 4;

/// The OS keyring: one entry per (server origin, account).
///
/// On the Secret Service an entry has the attributes `service` (the service
/// string given to [`KeyringStore::new`]), `username` (`"{account} @ {server}"`)
/// and `target` (`default`: the default collection), and the label
/// `"Herald: {account} on {server}"`, which is what Seahorse shows.
///
/// Each call runs on a thread of its own and the caller waits at most the
/// timeout, so the store works the same from plain threads and from async
/// code (through `spawn_blocking`), and a keyring that never answers costs
/// the caller one timeout, not a hang.
#[derive(Debug)]
pub struct KeyringStore {
    service: String,
    timeout: Duration,
    /// Serialises calls: the Secret Service has no "create or replace" by
    /// attributes, so two concurrent saves of one key could create two items.
    gate: Arc<Mutex<()>>,
    in_flight: Arc<AtomicUsize>,
}

impl KeyringStore {
    /// `service` names the application in the keyring, e.g. `"herald"`.
    pub fn new(service: &str, timeout: Duration) -> KeyringStore {
        KeyringStore {
            service: service.to_owned(),
            timeout,
            gate: Arc::new(Mutex::new(())),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `f` on its own thread and waits for it at most the timeout.
    fn run<T, F>(&self, what: &'static str, f: F) -> Result<T, SecretError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, SecretError> + Send + 'static,
    {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(
                what,
                "earlier keyring calls never returned; not waiting again"
            );
            return Err(SecretError::Timeout(self.timeout));
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let gate = Arc::clone(&self.gate);
        let in_flight = Arc::clone(&self.in_flight);
        let spawned = std::thread::Builder::new()
            .name(format!("herald-keyring-{what}"))
            .spawn(move || {
                let result = {
                    // A panicking call left nothing half-done in our state.
                    let _turn = gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    f()
                };
                in_flight.fetch_sub(1, Ordering::SeqCst);
                // The caller may have given up (timeout); that is fine.
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(SecretError::Other(format!(
                "cannot start a keyring thread: {e}"
            )));
        }
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(what, timeout = ?self.timeout, "the keyring did not answer");
                Err(SecretError::Timeout(self.timeout))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(SecretError::Other(format!(
                "the keyring call ({what}) panicked"
            ))),
        }
    }
}

impl SecretStore for KeyringStore {
    fn load(&self, key: &SecretKey) -> Result<Option<Tokens>, SecretError> {
        let (service, key) = (self.service.clone(), key.clone());
        self.run("load", move || {
            let bytes = match entry(&service, &key)?.get_secret() {
                Ok(bytes) => bytes,
                Err(keyring::Error::NoEntry) => return Ok(None),
                Err(e) => return Err(classify(e)),
            };
            // serde_json's message could quote the secret; keep only where.
            serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                SecretError::Corrupt(format!(
                    "the keyring entry is not Herald's tokens (JSON {:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })
        })
    }

    fn save(&self, key: &SecretKey, tokens: &Tokens) -> Result<(), SecretError> {
        let secret = serde_json::to_vec(tokens)
            .map_err(|e| SecretError::Other(format!("cannot encode tokens: {e}")))?;
        let (service, key) = (self.service.clone(), key.clone());
        self.run("save", move || {
            let entry = entry(&service, &key)?;
            match entry.set_secret(&secret) {
                Ok(()) => Ok(()),
                // Several matching items (made by another tool or an old
                // race): replace them all with one.
                Err(keyring::Error::Ambiguous(items)) => {
                    tracing::warn!(count = items.len(), "replacing duplicate keyring entries");
                    delete_all(items)?;
                    entry.set_secret(&secret).map_err(classify)
                }
                Err(e) => Err(classify(e)),
            }
        })
    }

    fn delete(&self, key: &SecretKey) -> Result<(), SecretError> {
        let (service, key) = (self.service.clone(), key.clone());
        self.run("delete", move || {
            match entry(&service, &key)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(keyring::Error::Ambiguous(items)) => delete_all(items),
                Err(e) => Err(classify(e)),
            }
        })
    }
}

fn delete_all(items: Vec<Box<keyring::Credential>>) -> Result<(), SecretError> {
    for item in items {
        match item.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => {}
            Err(e) => return Err(classify(e)),
        }
    }
    Ok(())
}

/// The keyring's user name for a key: readable in Seahorse or Keychain Access.
fn user_name(key: &SecretKey) -> String {
    format!("{} @ {}", key.account, key.server)
}

/// The entry for `key`. On the Secret Service the credential is built by hand
/// to give it a label that says "Herald", in the default collection (a
/// non-default target would make keyring create a collection of its own,
/// which prompts the user for a new password).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn entry(service: &str, key: &SecretKey) -> Result<Entry, SecretError> {
    let mut credential =
        keyring::secret_service::SsCredential::new_with_target(None, service, &user_name(key))
            .map_err(classify)?;
    credential.label = format!("Herald: {} on {}", key.account, key.server);
    Ok(Entry::new_with_credential(Box::new(credential)))
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
fn entry(service: &str, key: &SecretKey) -> Result<Entry, SecretError> {
    use keyring::credential::CredentialPersistence;
    // Where keyring has no native store it falls back to a mock that keeps
    // secrets in memory only; a sign-in that silently vanishes is worse than
    // a clear error.
    if !matches!(
        keyring::default::default_credential_builder().persistence(),
        CredentialPersistence::UntilDelete
    ) {
        return Err(SecretError::Unavailable {
            reason: "no supported keyring on this platform".into(),
        });
    }
    Entry::new(service, &user_name(key)).map_err(classify)
}

/// Maps a keyring error to what it means for the user.
fn classify(error: keyring::Error) -> SecretError {
    match error {
        keyring::Error::NoStorageAccess(inner) => platform::no_access(inner.as_ref()),
        keyring::Error::PlatformFailure(inner) => platform::failure(inner.as_ref()),
        keyring::Error::Ambiguous(items) => SecretError::Corrupt(format!(
            "{} keyring entries match this account; delete the extra ones",
            items.len()
        )),
        keyring::Error::BadEncoding(_) => {
            SecretError::Corrupt("the keyring entry is not text".into())
        }
        other => SecretError::Other(other.to_string()),
    }
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
mod platform {
    //! The Secret Service's errors arrive boxed; look inside to tell "nobody
    //! is there" from "it is locked" from a real failure.

    use std::error::Error as StdError;
    use std::sync::Arc;

    use secret_service::Error as SsError;

    use crate::secret::SecretError;

    type Inner<'a> = &'a (dyn StdError + Send + Sync + 'static);

    /// D-Bus errors that mean no Secret Service is there to ask. These are
    /// protocol names, stable across D-Bus implementations and zbus versions.
    const ABSENT: &[&str] = &[
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.Spawn.",
        "org.freedesktop.DBus.Error.NoServer",
        "org.freedesktop.DBus.Error.Disconnected",
        "org.freedesktop.DBus.Error.UnknownObject",
    ];

    pub(super) fn no_access(inner: Inner<'_>) -> SecretError {
        match inner.downcast_ref::<SsError>() {
            // "NoResult": the default collection (alias) does not exist.
            Some(SsError::NoResult) => SecretError::Unavailable {
                reason: "the Secret Service has no default keyring".into(),
            },
            _ => SecretError::Locked,
        }
    }

    pub(super) fn failure(inner: Inner<'_>) -> SecretError {
        match inner.downcast_ref::<SsError>() {
            Some(SsError::Unavailable) => {
                return SecretError::Unavailable {
                    reason: "no D-Bus session bus".into(),
                };
            }
            Some(SsError::Locked | SsError::Prompt) => return SecretError::Locked,
            _ => {}
        }
        let mut cause: Option<&(dyn StdError + 'static)> = Some(inner);
        while let Some(e) = cause {
            // The bus itself cannot be reached (no socket, nobody listening).
            if e.is::<std::io::Error>() || e.is::<Arc<std::io::Error>>() {
                return SecretError::Unavailable {
                    reason: format!("cannot reach the D-Bus session bus: {e}"),
                };
            }
            let text = e.to_string();
            if ABSENT.iter().any(|name| text.contains(name)) {
                return SecretError::Unavailable {
                    reason: format!("no Secret Service on the session bus: {text}"),
                };
            }
            cause = e.source();
        }
        SecretError::Other(inner.to_string())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
mod platform {
    use std::error::Error as StdError;

    use crate::secret::SecretError;

    type Inner<'a> = &'a (dyn StdError + Send + Sync + 'static);

    /// The keychain or Credential Manager refused access: locked, or the
    /// user denied it.
    pub(super) fn no_access(_inner: Inner<'_>) -> SecretError {
        SecretError::Locked
    }

    pub(super) fn failure(inner: Inner<'_>) -> SecretError {
        SecretError::Other(inner.to_string())
    }
}

/// The Credential Manager itself (wine's, under scripts/cross.sh): a sign-in
/// is stored, read back, replaced and deleted, as the engine does it.
#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_the_credential_manager() {
        let store = KeyringStore::new("herald-test", Duration::from_secs(10));
        let key = SecretKey::new(
            "https://hub.example.com",
            format!("user-{}@example.com", std::process::id()),
        );
        let first = Tokens {
            access: "a".repeat(600),
            refresh: Some("r".repeat(600)),
        };
        store.save(&key, &first).expect("save");
        assert_eq!(store.load(&key).expect("load"), Some(first));
        let renewed = Tokens {
            access: "b".repeat(600),
            refresh: None,
        };
        store.save(&key, &renewed).expect("replace");
        assert_eq!(store.load(&key).expect("load"), Some(renewed));
        store.delete(&key).expect("delete");
        assert_eq!(store.load(&key).expect("load after delete"), None);
    }
}
