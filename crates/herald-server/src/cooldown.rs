//! Once per user per period: the limit on `POST /api/notifications/test`.
//!
//! The check and the record happen under one lock, so of any number of
//! concurrent calls exactly one gets through. Memory is bounded by the users
//! who called within the last period: older entries are swept out once the
//! table has doubled since the last sweep, O(1) amortised.
//!
//! Why not the `governor` crate: it is not in the tree, and this needs no
//! more than one instant per user.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A refused call: how long to wait, and whether it is the first refusal
/// of this user in the current period (the one to log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSoon {
    pub retry_after: Duration,
    pub first: bool,
}

impl TooSoon {
    /// `retry_after` in whole seconds, rounded up, at least 1 (`Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

#[derive(Debug)]
pub struct Cooldown {
    every: Duration,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    last: HashMap<u64, Entry>,
    /// Sweep expired entries when the table reaches this size.
    sweep_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Instant,
    refused: bool,
}

/// Entries kept before the first sweep.
const FIRST_SWEEP: usize = 64;

impl Cooldown {
    pub fn new(every: Duration) -> Cooldown {
        Cooldown {
            every,
            table: Mutex::new(Table {
                last: HashMap::new(),
                sweep_at: FIRST_SWEEP,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets `user` through at `now`, or says how long until it may.
    pub fn take(&self, user: u64, now: Instant) -> Result<(), TooSoon> {
        let every = self.every;
        let mut table = self.lock();
        if let Some(entry) = table.last.get_mut(&user) {
            let since = now.saturating_duration_since(entry.at);
            if since < every {
                let first = !entry.refused;
                entry.refused = true;
                return Err(TooSoon {
                    retry_after: every - since,
                    first,
                });
            }
        }
        table.last.insert(
            user,
            Entry {
                at: now,
                refused: false,
            },
        );
        if table.last.len() >= table.sweep_at {
            table
                .last
                .retain(|_, e| now.saturating_duration_since(e.at) < every);
            table.sweep_at = (2 * table.last.len()).max(FIRST_SWEEP);
        }
        Ok(())
    }

    /// Users tracked now.
    pub fn tracked(&self) -> usize {
        self.lock().last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_period_per_user() {
        let cooldown = Cooldown::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(cooldown.take(1, t0).is_ok());
        let soon = cooldown
            .take(1, t0 + Duration::from_millis(2500))
            .expect_err("too soon");
        assert_eq!(soon.retry_after, Duration::from_millis(7500));
        assert_eq!(soon.retry_after_secs(), 8);
        assert!(soon.first);
        let again = cooldown.take(1, t0 + Duration::from_secs(3));
        assert_eq!(again.map_err(|e| e.first), Err(false), "logged once");
        assert!(cooldown.take(2, t0).is_ok(), "another user");
        assert!(cooldown.take(1, t0 + Duration::from_secs(10)).is_ok());
        assert!(cooldown.take(1, t0 + Duration::from_secs(11)).is_err());
    }

    #[test]
    fn expired_entries_are_swept() {
        let cooldown = Cooldown::new(Duration::from_secs(1));
        let t0 = Instant::now();
        for user in 0..10_000u64 {
            let now = t0 + Duration::from_secs(user);
            assert!(cooldown.take(user, now).is_ok());
            assert!(cooldown.tracked() <= FIRST_SWEEP);
        }
    }

    #[test]
    fn concurrent_calls_let_exactly_one_through() {
        let cooldown = Cooldown::new(Duration::from_secs(10));
        let now = Instant::now();
        let passed = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..64)
                .map(|_| scope.spawn(|| cooldown.take(1, now).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(false))
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(passed, 1);
    }
}
