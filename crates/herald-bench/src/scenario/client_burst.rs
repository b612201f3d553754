//! Scenario 3: a burst of events to one client. Herald's engine (its own
//! process) and Node's socket.io-client take turns, A B A B, each getting
//! the whole burst from the in-process herald-server.
//!
//! The burst is posted in batches (`POST /api/events` with arrays of
//! [`BATCH`] events), so that the hub's ingest outruns the client and the
//! wall-clock rate measures the client; its capacity is also given as
//! events per CPU-second it spent.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::{Size, engine_proc, node_client};
use crate::clock::now_ns;
use crate::hub::{LocalHub, emit_batch, temp_dir};
use crate::proc::Proc;
use crate::report::{Checks, Row, Target};
use crate::stats::Rounds;

/// Events per request while the burst is sent.
pub const BATCH: u64 = 500;

/// Batches in flight while the burst is sent.
const IN_FLIGHT: usize = 4;

#[derive(Debug, Default)]
struct Figures {
    per_sec: Rounds,
    per_cpu_sec: Rounds,
    lost: Rounds,
    rss_growth_mb: Rounds,
    toasts: Rounds,
    hub_rate: Rounds,
}

/// Sends `n` events to `user` in batches of [`BATCH`], `IN_FLIGHT` at a time.
async fn blast(hub: &LocalHub, user: u64, n: u64) -> anyhow::Result<()> {
    let (http, url, admin) = hub.client();
    let mut sends = futures_util::stream::iter((0..n).step_by(BATCH as usize))
        .map(|k| {
            let (http, url, admin) = (http.clone(), url.clone(), admin.clone());
            async move { emit_batch(&http, &url, &admin, user, k..(k + BATCH).min(n)).await }
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(sent) = sends.next().await {
        sent?;
    }
    Ok(())
}

fn ns(v: &Value) -> Option<u64> {
    v.as_str()?.parse().ok()
}

/// One burst to one client; `done` is the client's `done` line.
async fn burst(
    hub: &LocalHub,
    user: u64,
    size: Size,
    client: &mut Proc,
    figures: &mut Figures,
) -> anyhow::Result<Value> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = client.sample()?;
    let start = now_ns();
    blast(hub, user, size.burst_events).await?;
    let sent = now_ns();
    let done = client
        .wait_for(
            "done",
            Duration::from_secs(if size.smoke { 60 } else { 300 }),
        )
        .await?;
    let after = client.sample()?;
    let last = ns(&done["last"]).unwrap_or(0);
    let got = done["done"].as_u64().unwrap_or(0);
    let secs = last.saturating_sub(start) as f64 / 1e9;
    figures.per_sec.push(got as f64 / secs);
    figures
        .per_cpu_sec
        .push(got as f64 / (after.cpu_secs - before.cpu_secs).max(0.01));
    figures
        .hub_rate
        .push(size.burst_events as f64 / (sent.saturating_sub(start) as f64 / 1e9));
    figures
        .rss_growth_mb
        .push((after.rss_kb as f64 - before.rss_kb as f64) / 1024.0);
    Ok(done)
}

pub async fn run(size: Size, checks: &mut Checks) -> anyhow::Result<Vec<Row>> {
    let hub = LocalHub::start().await?;
    let (mut herald, mut peer) = (Figures::default(), Figures::default());
    for round in 0..size.rounds {
        // A: Herald's engine, a fresh user and inbox each round.
        let email = format!("burst-engine-{round}@bench.invalid");
        let user = hub.add_user(&email).await?;
        let dir = temp_dir("burst-engine")?;
        let mut engine = engine_proc::spawn(&hub.url, &email, &dir, size.burst_events).await?;
        let done = burst(&hub, user, size, &mut engine, &mut herald).await?;
        // `done` counts the burst's distinct ids the engine stored; the
        // inbox also holds the sign-in's own login alert.
        let stored = done["done"].as_u64().unwrap_or(0);
        let lost = size.burst_events.saturating_sub(stored);
        herald.lost.push(lost as f64);
        checks.expect(
            lost == 0 && done["inbox"].as_u64() >= Some(size.burst_events),
            format!(
                "burst {round}: every event in Herald's inbox ({stored} of {})",
                size.burst_events
            ),
        );
        let toasts = engine.wait_for("toasts", Duration::from_secs(30)).await?;
        tracing::info!(round, toasts = %toasts, "what the burst showed");
        herald
            .toasts
            .push(toasts["toasts"].as_u64().unwrap_or(0) as f64);
        engine.stop().await;
        let _ = std::fs::remove_dir_all(&dir);

        // B: Node's socket.io-client.
        let email = format!("burst-node-{round}@bench.invalid");
        let user = hub.add_user(&email).await?;
        let token = hub.login(&email).await?;
        let count = size.burst_events.to_string();
        let mut node = node_client(&hub.url, &token, &["count", &count]).await?;
        let done = burst(&hub, user, size, &mut node, &mut peer).await?;
        let distinct = done["distinct"].as_u64().unwrap_or(0);
        peer.lost
            .push(size.burst_events.saturating_sub(distinct) as f64);
        checks.expect(
            distinct == size.burst_events,
            format!(
                "burst {round}: the Node client got every event ({distinct} of {})",
                size.burst_events
            ),
        );
        node.stop().await;
    }
    hub.stop().await;

    let s = "3 burst";
    let node = "Node socket.io-client";
    let n = size.burst_events;
    Ok(vec![
        Row::new(
            s,
            format!("{n} events: rate until all are stored (Node: received)"),
            "events/s",
        )
        .herald(herald.per_sec)
        .peer(node, peer.per_sec)
        .target(Target::AtLeast(100_000.0)),
        Row::new(
            s,
            format!("the hub's ingest rate during that burst (batches of {BATCH})"),
            "events/s",
        )
        .herald(herald.hub_rate)
        .peer("(same hub, Node's turn)", peer.hub_rate),
        Row::new(
            s,
            "client capacity: events per CPU-second of the client",
            "events/s",
        )
        .herald(herald.per_cpu_sec)
        .peer(node, peer.per_cpu_sec)
        .target(Target::AtLeast(100_000.0)),
        Row::new(s, "lost events", "count")
            .herald(herald.lost)
            .peer(node, peer.lost)
            .target(Target::AtMost(0.0)),
        Row::new(s, "RSS growth", "MB")
            .herald(herald.rss_growth_mb)
            .peer(node, peer.rss_growth_mb)
            .target(Target::AtMost(2.0)),
        Row::new(s, "desktop notifications shown", "count")
            .herald(herald.toasts)
            .target(Target::AtMost(3.0)),
    ])
}
