//! Failed-login throttling per (IP, email).
//!
//! A login *reserves* an attempt before its password is looked at: the check
//! and the record happen under one lock, so concurrent guesses cannot all pass
//! a check made before any of them was counted. A wrong password keeps its
//! reservation (it is the failure); a right one clears the key; an attempt the
//! server never judged (it was too busy to hash) gives its reservation back.
//! A guesser therefore pays for neither our CPU nor its luck once the limit
//! is reached, whatever its concurrency.
//!
//! Memory is bounded: a key is the IP and a 128-bit digest of the lowercased
//! email (never the raw string), there are at most [`LoginLimit::max_keys`]
//! of them, and room is made by dropping the window that started first,
//! from a queue in start order: O(1) amortised, never a scan under the lock.
//!
//! Why not the `governor` crate: its GCRA counts every request, not failures,
//! it cannot give back a reservation nor clear a key on success, and its keyed
//! store (a DashMap) has no key cap, only a full-scan `retain_recent`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::cluster::limit::{SharedAttempt, SharedLimiter};
use crate::config::LoginLimit;

/// (IP, the first 16 bytes of SHA-256 of the trimmed, lowercased email).
type Key = (IpAddr, [u8; 16]);

#[derive(Debug)]
pub struct LoginLimiter {
    limit: LoginLimit,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    windows: HashMap<Key, Window>,
    /// Every window by the instant it started, oldest first. An entry whose
    /// key has since been removed or restarted is stale and is skipped.
    order: VecDeque<(Key, Instant)>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// A reserved login attempt: counted as a failure unless
/// [`Attempt::succeeded`] or [`Attempt::not_judged`] says otherwise. Dropping
/// it (a wrong password, or a client that hung up mid-check) keeps the count.
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it is resolved"]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    key: Key,
    started: Instant,
}

impl Attempt<'_> {
    /// The password was right: the key starts afresh.
    pub fn succeeded(self) {
        let mut table = self.limiter.lock();
        table.windows.remove(&self.key);
    }

    /// The password was never checked (the server was busy): the
    /// reservation is given back.
    pub fn not_judged(self) {
        let mut table = self.limiter.lock();
        if let Some(w) = table.windows.get_mut(&self.key)
            && w.started == self.started
        {
            w.count = w.count.saturating_sub(1);
            // A key with no failure holds no place: refused logins cannot
            // fill the table to push others' windows out.
            if w.count == 0 {
                table.windows.remove(&self.key);
            }
        }
    }
}

impl LoginLimiter {
    pub fn new(limit: LoginLimit) -> LoginLimiter {
        LoginLimiter {
            limit,
            table: Mutex::new(Table::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key of (`ip`, `email`); the shared limiter names its Redis keys by it.
    pub(crate) fn key(ip: IpAddr, email: &str) -> Key {
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        let mut short = [0u8; 16];
        short.copy_from_slice(&digest[..16]);
        (ip, short)
    }

    /// Reserves one attempt for (`ip`, `email`), or `Err(seconds to wait)`
    /// when its failures (those in flight included) are used up.
    pub fn reserve(&self, ip: IpAddr, email: &str, now: Instant) -> Result<Attempt<'_>, u64> {
        let key = Self::key(ip, email);
        let window = self.limit.window;
        let mut table = self.lock();
        table.prune(now, window);
        let live = table
            .windows
            .get(&key)
            .filter(|w| now.saturating_duration_since(w.started) < window)
            .copied();
        let started = match live {
            Some(w) if w.count >= self.limit.max_failures => {
                let left = window.saturating_sub(now.saturating_duration_since(w.started));
                return Err(ceil_secs(left).max(1));
            }
            Some(w) => w.started,
            None => {
                if !table.windows.contains_key(&key) {
                    table.make_room(self.limit.max_keys.max(1));
                }
                table.windows.insert(
                    key,
                    Window {
                        started: now,
                        count: 0,
                    },
                );
                table.order.push_back((key, now));
                table.compact(self.limit.max_keys);
                now
            }
        };
        if let Some(w) = table.windows.get_mut(&key) {
            w.count += 1;
        }
        Ok(Attempt {
            limiter: self,
            key,
            started,
        })
    }

    /// How many (IP, email) keys are tracked now; never more than
    /// [`LoginLimit::max_keys`].
    pub fn tracked_keys(&self) -> usize {
        self.lock().windows.len()
    }

    pub fn window(&self) -> Duration {
        self.limit.window
    }

    pub fn limit(&self) -> LoginLimit {
        self.limit
    }
}

/// The limiter a node judges logins by: its own table, or (`--redis-url`)
/// counts shared by every node.
#[derive(Debug)]
pub enum Limiter {
    Local(LoginLimiter),
    Shared(SharedLimiter),
}

/// A reserved attempt of either limiter; see [`Attempt`].
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it is resolved"]
pub enum Reservation<'a> {
    Local(Attempt<'a>),
    Shared(SharedAttempt<'a>),
}

impl Limiter {
    /// Reserves one attempt for (`ip`, `email`), or `Err(seconds to wait)`.
    pub async fn reserve(&self, ip: IpAddr, email: &str) -> Result<Reservation<'_>, u64> {
        match self {
            Limiter::Local(local) => local
                .reserve(ip, email, Instant::now())
                .map(Reservation::Local),
            Limiter::Shared(shared) => shared.reserve(ip, email).await.map(Reservation::Shared),
        }
    }

    /// Keys this node tracks itself (in Redis mode, those of its fallback).
    pub fn tracked_keys(&self) -> usize {
        match self {
            Limiter::Local(local) => local.tracked_keys(),
            Limiter::Shared(shared) => shared.local().tracked_keys(),
        }
    }
}

impl Reservation<'_> {
    /// The password was right: the key starts afresh.
    pub async fn succeeded(self) {
        match self {
            Reservation::Local(attempt) => attempt.succeeded(),
            Reservation::Shared(attempt) => attempt.succeeded().await,
        }
    }

    /// The password was never checked: the reservation is given back.
    pub async fn not_judged(self) {
        match self {
            Reservation::Local(attempt) => attempt.not_judged(),
            Reservation::Shared(attempt) => attempt.not_judged().await,
        }
    }
}

impl Table {
    /// Whether the queue entry (`key`, `started`) is the key's current window.
    fn is_current(&self, key: &Key, started: Instant) -> bool {
        self.windows.get(key).is_some_and(|w| w.started == started)
    }

    /// Drops stale entries and expired windows from the front of the queue.
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&(key, started)) = self.order.front() {
            if !self.is_current(&key, started) {
                self.order.pop_front();
            } else if now.saturating_duration_since(started) >= window {
                self.windows.remove(&key);
                self.order.pop_front();
            } else {
                break;
            }
        }
    }

    /// Evicts the oldest windows until a new key fits under `max_keys`.
    fn make_room(&mut self, max_keys: usize) {
        while self.windows.len() >= max_keys {
            let Some((key, started)) = self.order.pop_front() else {
                // Unreachable while every window has a queue entry; keep the
                // cap even so.
                self.windows.clear();
                return;
            };
            if self.is_current(&key, started) {
                self.windows.remove(&key);
            }
        }
    }

    /// Drops stale queue entries once they outnumber the live ones, so the
    /// queue stays within twice the key cap: O(1) amortised.
    fn compact(&mut self, max_keys: usize) {
        if self.order.len() > 2 * max_keys.max(self.windows.len()) + 16 {
            let windows = &self.windows;
            self.order
                .retain(|(key, started)| windows.get(key).is_some_and(|w| w.started == *started));
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn limit(max_failures: u32, max_keys: usize) -> LoginLimit {
        LoginLimit {
            max_failures,
            window: Duration::from_secs(60),
            max_keys,
        }
    }

    #[test]
    fn the_limit_applies_per_ip_and_email_and_expires() {
        let limiter = LoginLimiter::new(limit(3, 100));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let other_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(limiter.reserve(ip, "A@x ", t0).expect("allowed"));
        }
        assert_eq!(
            limiter
                .reserve(ip, "a@x", t0 + Duration::from_secs(10))
                .err(),
            Some(50)
        );
        assert!(limiter.reserve(other_ip, "a@x", t0).is_ok());
        assert!(limiter.reserve(ip, "b@x", t0).is_ok());
        let later = limiter
            .reserve(ip, "a@x", t0 + Duration::from_secs(61))
            .expect("a new window");
        later.succeeded();
        assert!(limiter.reserve(ip, "a@x", t0).is_ok());
    }

    #[test]
    fn reservations_count_before_they_are_judged_and_can_be_given_back() {
        let limiter = LoginLimiter::new(limit(2, 100));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        let first = limiter.reserve(ip, "a@x", t0).expect("first");
        let second = limiter.reserve(ip, "a@x", t0).expect("second");
        // Both still in flight: a third is refused already.
        assert!(limiter.reserve(ip, "a@x", t0).is_err());
        second.not_judged();
        let third = limiter.reserve(ip, "a@x", t0).expect("given back");
        drop(third);
        drop(first);
        assert!(limiter.reserve(ip, "a@x", t0).is_err());
        // A key whose only attempt was given back is not kept.
        limiter.reserve(ip, "b@x", t0).expect("new").not_judged();
        assert_eq!(limiter.tracked_keys(), 1);
    }

    #[test]
    fn keys_are_capped_and_the_oldest_window_goes_first() {
        let limiter = LoginLimiter::new(limit(1, 10_000));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        let started = Instant::now();
        for n in 0..30_000u32 {
            let now = t0 + Duration::from_micros(u64::from(n));
            drop(
                limiter
                    .reserve(ip, &format!("user{n}@x"), now)
                    .expect("new key"),
            );
            assert!(limiter.tracked_keys() <= 10_000);
        }
        // 30,000 new keys past the cap: no per-request scan of the map.
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(limiter.tracked_keys(), 10_000);
        let now = t0 + Duration::from_millis(40);
        // The newest are still throttled, the oldest were evicted.
        assert!(limiter.reserve(ip, "user29999@x", now).is_err());
        assert!(limiter.reserve(ip, "user0@x", now).is_ok());
        assert!(limiter.lock().order.len() <= 2 * 10_000 + 16);
    }
}
