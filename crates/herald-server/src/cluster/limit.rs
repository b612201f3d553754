//! The login limiter's counts in Redis, so that N nodes allow the same
//! number of failures as one.
//!
//! The semantics are the local limiter's (`rate_limit.rs`): an attempt is
//! reserved before the password is looked at, by one atomic script, so
//! concurrent guesses spread over every node cannot all pass a check made
//! before any was counted; a right password clears the key; an attempt never
//! judged gives its reservation back. A key is `herald:login:` and the hex of
//! the IP and the email's digest (never the email), and it expires with its
//! window, so Redis holds no key longer than [`crate::config::LoginLimit`]'s
//! window.
//!
//! When Redis cannot be reached (within [`super::REDIS_TIMEOUT`]), the node
//! falls back to its own local limiter (capped like any local one) and logs
//! the change once: logins keep working, each node then allowing the limit
//! on its own until Redis is back. Redis holds at most one key per (IP,
//! email) that failed within the window, so their number is the distinct
//! failing logins of one window; Redis's `maxmemory` is the operator's cap
//! on it (a key is about 100 bytes).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::rate_limit::{Attempt, LoginLimiter};

/// Reserves one attempt: returns the new count, or minus the milliseconds
/// left in the window when the failures are used up.
const RESERVE: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local left = redis.call('PTTL', KEYS[1])
  if left < 1 then left = 1 end
  return -left
end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
";

/// Gives a reservation back; a key left with no failure is deleted.
const GIVE_BACK: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then redis.call('DEL', KEYS[1]) else redis.call('DECR', KEYS[1]) end
return 0
";

#[derive(Debug)]
pub struct SharedLimiter {
    redis: ConnectionManager,
    /// Used while Redis cannot be reached.
    local: LoginLimiter,
    reserve: Script,
    give_back: Script,
    /// Whether the last reservation fell back to the local table: the
    /// change is logged, not every login while Redis is away.
    degraded: AtomicBool,
}

/// A reserved attempt, in Redis or (Redis being down) in the local table.
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it is resolved"]
pub enum SharedAttempt<'a> {
    Redis {
        limiter: &'a SharedLimiter,
        key: String,
    },
    Local(Attempt<'a>),
}

impl SharedLimiter {
    pub fn new(redis: ConnectionManager, local: LoginLimiter) -> SharedLimiter {
        SharedLimiter {
            redis,
            local,
            reserve: Script::new(RESERVE),
            give_back: Script::new(GIVE_BACK),
            degraded: AtomicBool::new(false),
        }
    }

    pub fn local(&self) -> &LoginLimiter {
        &self.local
    }

    /// Reserves one attempt for (`ip`, `email`), or `Err(seconds to wait)`.
    pub async fn reserve(&self, ip: IpAddr, email: &str) -> Result<SharedAttempt<'_>, u64> {
        let key = redis_key(ip, email);
        let limit = self.local.limit();
        let window_ms = u64::try_from(limit.window.as_millis()).unwrap_or(u64::MAX);
        let mut redis = self.redis.clone();
        let answer: Result<i64, _> = self
            .reserve
            .key(&key)
            .arg(limit.max_failures)
            .arg(window_ms.max(1))
            .invoke_async(&mut redis)
            .await;
        match answer {
            Ok(n) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("the shared login limit is reachable again");
                }
                if n < 0 {
                    Err(n.unsigned_abs().div_ceil(1000).max(1))
                } else {
                    Ok(SharedAttempt::Redis { limiter: self, key })
                }
            }
            Err(e) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "the shared login limit is unreachable; this node counts alone until it is back");
                }
                self.local
                    .reserve(ip, email, Instant::now())
                    .map(SharedAttempt::Local)
            }
        }
    }
}

impl SharedAttempt<'_> {
    /// The password was right: the key starts afresh.
    pub async fn succeeded(self) {
        match self {
            SharedAttempt::Redis { limiter, key } => {
                let mut redis = limiter.redis.clone();
                let deleted: Result<i64, _> =
                    redis::cmd("DEL").arg(&key).query_async(&mut redis).await;
                if let Err(e) = deleted {
                    tracing::warn!(error = %e, "cannot clear a login limit key");
                }
            }
            SharedAttempt::Local(attempt) => attempt.succeeded(),
        }
    }

    /// The password was never checked: the reservation is given back.
    pub async fn not_judged(self) {
        match self {
            SharedAttempt::Redis { limiter, key } => {
                let mut redis = limiter.redis.clone();
                let given: Result<i64, _> =
                    limiter.give_back.key(&key).invoke_async(&mut redis).await;
                if let Err(e) = given {
                    tracing::warn!(error = %e, "cannot give a login attempt back");
                }
            }
            SharedAttempt::Local(attempt) => attempt.not_judged(),
        }
    }
}

fn redis_key(ip: IpAddr, email: &str) -> String {
    let (ip, digest) = LoginLimiter::key(ip, email);
    let mut key = String::from("herald:login:");
    let ip_bytes = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    for byte in ip_bytes.iter().chain(digest.iter()) {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_no_email_and_tell_ips_and_emails_apart() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let key = redis_key(ip, " Alice@Example.com ");
        assert!(key.starts_with("herald:login:"));
        assert!(!key.to_lowercase().contains("alice"));
        assert_eq!(key, redis_key(ip, "alice@example.com"));
        assert_ne!(
            key,
            redis_key(IpAddr::from([127, 0, 0, 2]), "alice@example.com")
        );
        assert_ne!(key, redis_key(ip, "bob@example.com"));
    }
}
