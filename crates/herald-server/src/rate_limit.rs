//! Failed-login throttling per (IP, email).
//!
//! Only failures count, and the check runs before the password is hashed, so
//! a guesser pays for neither our CPU nor its luck. A success clears the count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LoginLimit;

#[derive(Debug)]
pub struct LoginLimiter {
    limit: LoginLimit,
    failures: Mutex<HashMap<(IpAddr, String), Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Past this many tracked keys, expired windows are swept on the next failure.
const SWEEP_AT: usize = 10_000;

impl LoginLimiter {
    pub fn new(limit: LoginLimit) -> LoginLimiter {
        LoginLimiter {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(ip: IpAddr, email: &str) -> (IpAddr, String) {
        (ip, email.trim().to_lowercase())
    }

    /// `Err(seconds to wait)` when this key has used up its failures.
    pub fn check(&self, ip: IpAddr, email: &str, now: Instant) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&Self::key(ip, email)) {
            Some(w) if w.count >= self.limit.max_failures => {
                let elapsed = now.saturating_duration_since(w.started);
                match self.limit.window.checked_sub(elapsed) {
                    Some(left) if !left.is_zero() => Err(left.as_secs().max(1)),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    pub fn fail(&self, ip: IpAddr, email: &str, now: Instant) {
        let window = self.limit.window;
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, w| now.saturating_duration_since(w.started) < window);
        }
        let entry = failures.entry(Self::key(ip, email)).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.saturating_duration_since(entry.started) >= window {
            *entry = Window {
                started: now,
                count: 0,
            };
        }
        entry.count += 1;
    }

    pub fn succeed(&self, ip: IpAddr, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&Self::key(ip, email));
    }

    pub fn window(&self) -> Duration {
        self.limit.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn the_limit_applies_per_ip_and_email_and_expires() {
        let limiter = LoginLimiter::new(LoginLimit {
            max_failures: 3,
            window: Duration::from_secs(60),
        });
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let other_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, "a@x", t0).is_ok());
            limiter.fail(ip, "A@x ", t0);
        }
        assert_eq!(
            limiter.check(ip, "a@x", t0 + Duration::from_secs(10)),
            Err(50)
        );
        assert!(limiter.check(other_ip, "a@x", t0).is_ok());
        assert!(limiter.check(ip, "b@x", t0).is_ok());
        assert!(
            limiter
                .check(ip, "a@x", t0 + Duration::from_secs(61))
                .is_ok()
        );
        limiter.succeed(ip, "a@x");
        assert!(limiter.check(ip, "a@x", t0).is_ok());
    }
}
