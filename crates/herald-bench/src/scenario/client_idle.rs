//! Scenario 2: a connected, idle client. RSS, PSS, threads and wake-ups
//! (context switches) per minute of Herald's engine in its own process and
//! of Node's socket.io-client, side by side over the same minute (idle
//! processes do not compete for the CPU, so they can share the window).

use std::time::Duration;

use super::{Size, engine_proc, node_client};
use crate::hub::{LocalHub, temp_dir};
use crate::proc::Sample;
use crate::report::{Checks, Row, Target};
use crate::stats::Rounds;

/// Samples per run: the spread of each figure is over these windows.
const WINDOWS: u32 = 6;

#[derive(Debug, Default)]
struct Figures {
    rss_mb: Rounds,
    pss_mb: Rounds,
    threads: Rounds,
    wakeups_per_min: Rounds,
}

impl Figures {
    fn add(&mut self, before: &Sample, after: &Sample, window: Duration) {
        self.rss_mb.push(after.rss_kb as f64 / 1024.0);
        self.pss_mb.push(after.pss_kb as f64 / 1024.0);
        self.threads.push(after.threads as f64);
        let switches = after.ctx_switches.saturating_sub(before.ctx_switches) as f64;
        self.wakeups_per_min
            .push(switches * 60.0 / window.as_secs_f64());
    }
}

pub async fn run(size: Size, checks: &mut Checks) -> anyhow::Result<Vec<Row>> {
    let hub = LocalHub::start().await?;
    hub.add_user("idle-engine@bench.invalid").await?;
    hub.add_user("idle-node@bench.invalid").await?;
    let dir = temp_dir("idle-engine")?;
    let engine = engine_proc::spawn(&hub.url, "idle-engine@bench.invalid", &dir, 0).await?;
    let token = hub.login("idle-node@bench.invalid").await?;
    let node = node_client(&hub.url, &token, &["idle"]).await?;
    // Past the start-up: the catch-up, the first probe, allocator warm-up.
    tokio::time::sleep(if size.smoke {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    })
    .await;

    let window = size.idle / WINDOWS;
    let (mut herald, mut peer) = (Figures::default(), Figures::default());
    let (mut h0, mut n0) = (engine.sample()?, node.sample()?);
    for _ in 0..WINDOWS {
        tokio::time::sleep(window).await;
        let (h1, n1) = (engine.sample()?, node.sample()?);
        herald.add(&h0, &h1, window);
        peer.add(&n0, &n1, window);
        (h0, n0) = (h1, n1);
    }
    checks.expect(
        herald.rss_mb.median() > 0.0,
        "idle: the engine process was alive and measured",
    );
    engine.stop().await;
    node.stop().await;
    hub.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let s = "2 idle";
    let node = "Node socket.io-client";
    Ok(vec![
        Row::new(s, "RSS, headless engine", "MB")
            .herald(herald.rss_mb)
            .peer(node, peer.rss_mb)
            .target(Target::AtMost(8.0)),
        Row::new(s, "PSS", "MB")
            .herald(herald.pss_mb)
            .peer(node, peer.pss_mb),
        Row::new(s, "threads", "count")
            .herald(herald.threads)
            .peer(node, peer.threads),
        Row::new(s, "wake-ups (context switches)", "per min")
            .herald(herald.wakeups_per_min)
            .peer(node, peer.wakeups_per_min)
            .target(Target::AtMost(10.0)),
    ])
}
