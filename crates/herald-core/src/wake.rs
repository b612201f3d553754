//! Noticing that the machine slept, where the OS does not say so.
//!
//! A suspended machine stops the monotonic clock but not the wall clock.
//! Where no OS monitor reports a resume ([`crate::os_signals`]), the link
//! compares the two on its liveness-probe tick, a timer that runs anyway
//! (there is no ticker of its own: it cost 12 wake-ups a minute). When the
//! wall clock ran far ahead, the machine was asleep, its socket is likely
//! dead, and the link reconnects at once instead of waiting for the probe's
//! timeout. A resume is thus noticed within one probe interval.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// How far the wall clock may run ahead of the monotonic one before it counts
/// as sleep (NTP adjustments are far smaller).
pub const SLACK: Duration = Duration::from_secs(10);

/// Whether `wall` elapsed exceeds `monotonic` elapsed by more than [`SLACK`].
pub fn slept(monotonic: Duration, wall: Duration) -> bool {
    wall.saturating_sub(monotonic) > SLACK
}

/// The two clocks as last read.
#[derive(Debug, Clone, Copy)]
pub struct ClockCheck {
    monotonic: Instant,
    wall: SystemTime,
}

impl Default for ClockCheck {
    fn default() -> ClockCheck {
        ClockCheck::new()
    }
}

impl ClockCheck {
    pub fn new() -> ClockCheck {
        ClockCheck {
            monotonic: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// Reads both clocks again; true if the machine slept since the last read.
    pub fn woke(&mut self) -> bool {
        let now = ClockCheck::new();
        let wall = now.wall.duration_since(self.wall).unwrap_or(Duration::ZERO);
        let woke = slept(now.monotonic - self.monotonic, wall);
        if woke {
            tracing::info!(?wall, "the machine woke up; reconnecting now");
        }
        *self = now;
        woke
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

    #[test]
    fn reading_the_clocks_at_once_is_no_sleep() {
        let mut check = ClockCheck::new();
        assert!(!check.woke());
    }
}
