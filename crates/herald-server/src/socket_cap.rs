//! How many Socket.IO connections one account, and one login, may hold.
//!
//! Without a cap one access token could open sockets until the server's
//! connection limit, each with its own packet buffer and timers, and crowd
//! out every other user. The handshake middleware takes a [`SocketSlot`]
//! before it accepts a socket: the check and the count happen under one
//! lock, so a hundred concurrent handshakes cannot all pass a check made
//! before any of them was counted. The slot lives in the socket's
//! extensions and gives its place back when the socket is dropped, however
//! it ended (a disconnect, a transport error, a failed CONNECT packet), so
//! no path can leak a place.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};

/// Sockets one account may have open at once: 20. A person's devices (the
/// desktop agent, a CLI listener, a few browsers) hold one each, and a
/// socket whose network vanished lingers up to 45 s (engine.io's ping
/// interval plus timeout) after its client has reconnected; 20 covers four
/// devices with that overlap. At about 24 KB per idle socket (benchmark 4)
/// an account costs the server at most about 480 KB of idle sockets.
pub const SOCKETS_PER_USER: usize = 20;

/// Sockets one login session (one access token's `sid`) may have open at
/// once: 5, one for the client and room for lingering ones after
/// reconnects. A stolen access token therefore cannot use up the account's
/// 20 places and lock its owner's other devices out.
pub const SOCKETS_PER_SESSION: usize = 5;

/// The two caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLimits {
    pub per_user: usize,
    pub per_session: usize,
}

impl Default for SocketLimits {
    fn default() -> SocketLimits {
        SocketLimits {
            per_user: SOCKETS_PER_USER,
            per_session: SOCKETS_PER_SESSION,
        }
    }
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapReached {
    #[error("at most {0} sockets per account are open already")]
    User(usize),
    #[error("at most {0} sockets per login are open already")]
    Session(usize),
}

/// Counts open sockets per user and per session.
#[derive(Debug, Clone)]
pub struct SocketCap {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    limits: SocketLimits,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    users: HashMap<u64, Count>,
    sessions: HashMap<String, usize>,
}

#[derive(Debug, Default)]
struct Count {
    open: usize,
    /// A refusal of this user was logged since they last had a free place:
    /// an attacker's flood of handshakes is logged once, not per attempt.
    logged: bool,
}

/// One socket's place under the caps, given back when dropped.
#[derive(Debug)]
pub struct SocketSlot {
    shared: Arc<Shared>,
    user: u64,
    session: String,
}

impl SocketCap {
    pub fn new(limits: SocketLimits) -> SocketCap {
        SocketCap {
            inner: Arc::new(Shared {
                limits,
                table: Mutex::new(Table::default()),
            }),
        }
    }

    /// Takes a place for a socket of `user` under login `session`.
    pub fn acquire(&self, user: u64, session: &str) -> Result<SocketSlot, CapReached> {
        let limits = self.inner.limits;
        let mut table = self.inner.lock();
        let Table { users, sessions } = &mut *table;
        let count = users.entry(user).or_default();
        let in_session = sessions.get(session).copied().unwrap_or(0);
        let refusal = if count.open >= limits.per_user {
            Some(CapReached::User(limits.per_user))
        } else if in_session >= limits.per_session {
            Some(CapReached::Session(limits.per_session))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            if !count.logged {
                count.logged = true;
                tracing::warn!(
                    user,
                    open = count.open,
                    %refusal,
                    "refusing a socket (logged once until the user's count goes down)"
                );
            }
            if count.open == 0 {
                // Only possible with a cap of 0: keep no entry for nobody.
                users.remove(&user);
            }
            return Err(refusal);
        }
        count.open += 1;
        *sessions.entry(session.to_owned()).or_default() += 1;
        Ok(SocketSlot {
            shared: self.inner.clone(),
            user,
            session: session.to_owned(),
        })
    }

    /// Sockets open for `user` now.
    pub fn open_for(&self, user: u64) -> usize {
        self.inner.lock().users.get(&user).map_or(0, |c| c.open)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut table = self.shared.lock();
        if let Entry::Occupied(mut entry) = table.users.entry(self.user) {
            let count = entry.get_mut();
            count.open = count.open.saturating_sub(1);
            count.logged = false;
            if count.open == 0 {
                entry.remove();
            }
        }
        if let Entry::Occupied(mut entry) = table.sessions.entry(std::mem::take(&mut self.session))
        {
            *entry.get_mut() = entry.get().saturating_sub(1);
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(per_user: usize, per_session: usize) -> SocketCap {
        SocketCap::new(SocketLimits {
            per_user,
            per_session,
        })
    }

    #[test]
    fn the_user_cap_counts_every_session_and_frees_on_drop() {
        let cap = cap(3, 2);
        let a1 = cap.acquire(1, "a").expect("first");
        let _a2 = cap.acquire(1, "a").expect("second");
        assert_eq!(cap.acquire(1, "a").err(), Some(CapReached::Session(2)));
        let _b1 = cap.acquire(1, "b").expect("another login");
        assert_eq!(cap.acquire(1, "c").err(), Some(CapReached::User(3)));
        // Another user is not affected.
        let _other = cap.acquire(2, "z").expect("other user");
        drop(a1);
        assert_eq!(cap.open_for(1), 2);
        let _c1 = cap.acquire(1, "c").expect("a place came back");
    }

    #[test]
    fn empty_entries_are_not_kept() {
        let cap = cap(2, 2);
        drop(cap.acquire(7, "s").expect("slot"));
        let table = cap.inner.lock();
        assert!(table.users.is_empty() && table.sessions.is_empty());
    }

    #[test]
    fn concurrent_takers_never_exceed_the_cap() {
        let cap = cap(20, 100);
        let slots: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..100)
                .map(|_| scope.spawn(|| cap.acquire(1, "s").ok()))
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok().flatten())
                .collect()
        });
        assert_eq!(slots.len(), 20);
        assert_eq!(cap.open_for(1), 20);
    }
}
