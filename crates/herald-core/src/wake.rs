//! Noticing that the machine slept.
//!
//! A suspended machine stops the monotonic clock but not the wall clock. Every
//! few seconds the watcher compares the two; when the wall clock ran far ahead,
//! the machine was asleep, its sockets are likely dead, and the link should
//! reconnect at once instead of waiting for the probe or a backoff delay.

use std::time::{Duration, SystemTime};

use crate::link::{Link, LinkCommand};

/// How often the clocks are compared.
pub const TICK: Duration = Duration::from_secs(5);
/// How far the wall clock may run ahead of the monotonic one before it counts
/// as sleep (NTP adjustments are far smaller).
pub const SLACK: Duration = Duration::from_secs(10);

/// Whether `wall` elapsed exceeds `monotonic` elapsed by more than [`SLACK`].
pub fn slept(monotonic: Duration, wall: Duration) -> bool {
    wall.saturating_sub(monotonic) > SLACK
}

/// Watches for sleep and, on waking, reconnects. It runs until the link has
/// ended or its [`Engine`](crate::engine::Engine) aborts it (on shutdown, or
/// when dropped).
pub async fn watch(link: Link) {
    let mut interval = tokio::time::interval(TICK);
    interval.tick().await;
    let mut mono = tokio::time::Instant::now();
    let mut wall = SystemTime::now();
    loop {
        interval.tick().await;
        let (now_mono, now_wall) = (tokio::time::Instant::now(), SystemTime::now());
        let wall_elapsed = now_wall.duration_since(wall).unwrap_or(Duration::ZERO);
        if slept(now_mono - mono, wall_elapsed) {
            tracing::info!(?wall_elapsed, "the machine woke up; reconnecting now");
            if !link.send_checked(LinkCommand::NetworkUp) {
                return;
            }
        }
        (mono, wall) = (now_mono, now_wall);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_large_wall_clock_jump_counts_as_sleep() {
        let s = Duration::from_secs;
        assert!(!slept(s(5), s(5)));
        assert!(!slept(s(5), s(14)), "small drift or an NTP step");
        assert!(slept(s(5), s(600)), "ten minutes asleep");
        assert!(!slept(s(5), s(0)), "the wall clock going back is not sleep");
    }
}
