//! The reconnect schedule.
//!
//! Full-jitter exponential backoff: attempt `n` (0-based) waits a uniformly
//! random time in `[0, min(60 s, 1 s × 2ⁿ)]`, with a floor of 100 ms so a
//! flapping server is never hammered in a tight loop. The ceiling is reached
//! at attempt 6 and the schedule never ends; a confirmed connect resets it.

use std::time::Duration;

use rand::Rng;

pub const BASE: Duration = Duration::from_secs(1);
pub const CAP: Duration = Duration::from_secs(60);
pub const FLOOR: Duration = Duration::from_millis(100);

/// The upper bound of attempt `attempt`'s wait: `min(CAP, BASE × 2^attempt)`.
pub fn ceiling(attempt: u32) -> Duration {
    BASE.checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(CAP)
        .min(CAP)
}

/// How long to wait before reconnect attempt `attempt`, jittered with `rng`.
pub fn next_delay_with(attempt: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = ceiling(attempt);
    let millis = rng.random_range(0..=ceiling.as_millis() as u64);
    Duration::from_millis(millis).max(FLOOR)
}

/// [`next_delay_with`] on the thread's random generator.
pub fn next_delay(attempt: u32) -> Duration {
    next_delay_with(attempt, &mut rand::rng())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn the_ceiling_doubles_from_one_second_to_sixty_and_stays() {
        let ceilings: Vec<u64> = (0..10).map(|n| ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(ceiling(u32::MAX), CAP, "no overflow, never ends");
    }

    #[test]
    fn delays_stay_within_floor_and_ceiling_and_are_jittered() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..40 {
            let samples: Vec<Duration> = (0..200)
                .map(|_| next_delay_with(attempt, &mut rng))
                .collect();
            assert!(
                samples
                    .iter()
                    .all(|d| *d >= FLOOR && *d <= ceiling(attempt))
            );
            let distinct: std::collections::BTreeSet<_> = samples.iter().collect();
            assert!(
                distinct.len() > 20,
                "attempt {attempt}: jitter spreads the delays"
            );
        }
    }
}
