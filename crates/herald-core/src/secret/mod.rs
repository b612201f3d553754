//! Where the access and refresh tokens live: the OS keyring, and nowhere else.
//!
//! [`KeyringStore`] keeps one keyring entry per (server origin, account):
//! the Secret Service on Linux and the BSDs (gnome-keyring, KeePassXC), the
//! login keychain on macOS, the Credential Manager on Windows. Every call has
//! a timeout, because a Secret Service that D-Bus cannot start never answers.
//!
//! When no keyring is reachable the store says so with a [`SecretError`] that
//! tells the user what to do. There is no plaintext fallback.
//!
//! [`MemoryStore`] is for tests only.

mod keyring_store;
mod memory;

use std::fmt;
use std::time::Duration;

pub use keyring_store::KeyringStore;
pub use memory::MemoryStore;

/// Which keyring entry: one per (server origin, account email).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretKey {
    /// The server's origin, e.g. `https://hub.example.com`.
    pub server: String,
    /// The account's email.
    pub account: String,
}

impl SecretKey {
    pub fn new(server: impl Into<String>, account: impl Into<String>) -> SecretKey {
        SecretKey {
            server: server.into(),
            account: account.into(),
        }
    }
}

/// What is stored, as one JSON secret. `Debug` prints `<redacted>` for both
/// tokens, so a stray `{:?}` or `tracing` field never leaks them.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access", &Redacted)
            .field("refresh", &self.refresh.as_ref().map(|_| Redacted))
            .finish()
    }
}

/// Formats as `<redacted>`, in place of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Stores tokens. Calls block for at most the store's timeout; async code
/// should call them from a blocking-friendly context (`spawn_blocking`).
pub trait SecretStore: Send + Sync + 'static {
    /// `Ok(None)` when there is no entry for `key`.
    fn load(&self, key: &SecretKey) -> Result<Option<Tokens>, SecretError>;
    /// Creates or replaces the entry for `key`.
    fn save(&self, key: &SecretKey, tokens: &Tokens) -> Result<(), SecretError>;
    /// Deleting a missing entry is `Ok`.
    fn delete(&self, key: &SecretKey) -> Result<(), SecretError>;
}

/// What the user can do when no keyring answers, for this platform.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
const UNAVAILABLE_HINT: &str = "start gnome-keyring or KeePassXC's Secret Service, \
     or sign in to a desktop session that provides one";
#[cfg(target_os = "macos")]
const UNAVAILABLE_HINT: &str = "sign in to a macOS user session so the login keychain is available";
#[cfg(target_os = "windows")]
const UNAVAILABLE_HINT: &str =
    "sign in to a Windows user session so the Credential Manager is available";
#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
const UNAVAILABLE_HINT: &str = "this platform has no keyring Herald can use";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No Secret Service or keychain is reachable.
    #[error(
        "no keyring is reachable ({reason}). Herald keeps sign-in tokens only in the OS keyring, \
         never in a file: {hint}",
        hint = UNAVAILABLE_HINT
    )]
    Unavailable { reason: String },
    /// The keyring is locked and was not unlocked (the prompt was dismissed).
    #[error(
        "the keyring is locked and was not unlocked; unlock it (for example with Seahorse, \
         \"Passwords and Keys\") and try again"
    )]
    Locked,
    /// The keyring did not answer in time.
    #[error(
        "the keyring did not answer within {0:?}; a Secret Service that D-Bus cannot start \
         never answers: check that gnome-keyring or KeePassXC is running and unlocked"
    )]
    Timeout(Duration),
    /// The entry exists but is not what Herald stores.
    #[error("the stored sign-in is unreadable ({0}); sign in again")]
    Corrupt(String),
    #[error("keyring error: {0}")]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_debug_hides_both_tokens() {
        let tokens = Tokens {
            access: "acc-SECRET".into(),
            refresh: Some("ref-SECRET".into()),
        };
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(
            shown,
            "Tokens { access: <redacted>, refresh: Some(<redacted>) }"
        );

        let shown = format!(
            "{:?}",
            Tokens {
                access: "acc-SECRET".into(),
                refresh: None
            }
        );
        assert_eq!(shown, "Tokens { access: <redacted>, refresh: None }");
    }

    #[test]
    fn tokens_round_trip_as_json() {
        let tokens = Tokens {
            access: "a".into(),
            refresh: Some("r".into()),
        };
        let json = serde_json::to_string(&tokens).expect("tokens serialise");
        assert_eq!(json, r#"{"access":"a","refresh":"r"}"#);
        let back: Tokens = serde_json::from_str(&json).expect("tokens deserialise");
        assert_eq!(back, tokens);
    }

    #[test]
    fn unavailable_says_what_to_do() {
        let text = SecretError::Unavailable {
            reason: "no bus".into(),
        }
        .to_string();
        assert!(text.contains("no bus"), "{text}");
        assert!(text.contains(UNAVAILABLE_HINT), "{text}");
        assert!(text.contains("never in a file"), "{text}");
    }
}
