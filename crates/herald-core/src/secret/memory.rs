//! An in-memory [`SecretStore`], for tests only: tokens vanish with the
//! process, which is never what a user wants.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use super::{SecretError, SecretKey, SecretStore, Tokens};

/// Keeps tokens in a `HashMap`. **For tests only**; the app uses
/// [`KeyringStore`](super::KeyringStore).
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<SecretKey, Tokens>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// How many entries are stored.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<SecretKey, Tokens>> {
        // A panic elsewhere while holding the lock leaves the map consistent
        // (every operation is a single insert/remove), so poisoning is moot.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are not secret; the tokens are, so only keys are shown.
        let entries = self.entries();
        let keys: Vec<&SecretKey> = entries.keys().collect();
        f.debug_struct("MemoryStore").field("keys", &keys).finish()
    }
}

impl SecretStore for MemoryStore {
    fn load(&self, key: &SecretKey) -> Result<Option<Tokens>, SecretError> {
        Ok(self.entries().get(key).cloned())
    }

    fn save(&self, key: &SecretKey, tokens: &Tokens) -> Result<(), SecretError> {
        self.entries().insert(key.clone(), tokens.clone());
        Ok(())
    }

    fn delete(&self, key: &SecretKey) -> Result<(), SecretError> {
        self.entries().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(access: &str) -> Tokens {
        Tokens {
            access: access.into(),
            refresh: Some(format!("{access}-refresh")),
        }
    }

    #[test]
    fn round_trip_and_delete() {
        let store = MemoryStore::new();
        let key = SecretKey::new("https://a.example", "me@example.com");
        assert_eq!(store.load(&key).expect("load"), None);

        store.save(&key, &tokens("one")).expect("save");
        assert_eq!(store.load(&key).expect("load"), Some(tokens("one")));

        store.save(&key, &tokens("two")).expect("save replaces");
        assert_eq!(store.load(&key).expect("load"), Some(tokens("two")));
        assert_eq!(store.len(), 1);

        store.delete(&key).expect("delete");
        assert_eq!(store.load(&key).expect("load"), None);
        store.delete(&key).expect("deleting a missing entry is Ok");
        assert!(store.is_empty());
    }

    #[test]
    fn keys_do_not_collide() {
        let store = MemoryStore::new();
        let a = SecretKey::new("https://a.example", "me@example.com");
        let b = SecretKey::new("https://b.example", "me@example.com");
        let c = SecretKey::new("https://a.example", "you@example.com");
        store.save(&a, &tokens("a")).expect("save a");
        store.save(&b, &tokens("b")).expect("save b");
        store.save(&c, &tokens("c")).expect("save c");
        assert_eq!(store.load(&a).expect("load a"), Some(tokens("a")));
        assert_eq!(store.load(&b).expect("load b"), Some(tokens("b")));
        assert_eq!(store.load(&c).expect("load c"), Some(tokens("c")));
    }

    #[test]
    fn debug_shows_keys_not_tokens() {
        let store = MemoryStore::new();
        store
            .save(
                &SecretKey::new("https://a.example", "me@example.com"),
                &tokens("SECRET"),
            )
            .expect("save");
        let shown = format!("{store:?}");
        assert!(shown.contains("me@example.com"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
