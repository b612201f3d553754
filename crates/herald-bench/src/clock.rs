//! One clock for every process of a run.
//!
//! Latencies cross processes (the Node client, the engine in its own
//! process), so every timestamp is CLOCK_MONOTONIC in nanoseconds: the clock
//! Node's `process.hrtime.bigint()` reads, shared by every process on the
//! machine and never stepped by NTP.

/// Nanoseconds on CLOCK_MONOTONIC.
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}
