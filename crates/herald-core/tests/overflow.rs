//! An engine that falls behind a burst: the link drops the live events its
//! queue cannot hold (its receive loop must never wait), and the engine
//! catches up on them at once, not at the next liveness probe, which an
//! idle engine sends once a minute.

mod support;

use std::time::Duration;

use herald_core::link::LinkConfig;
use herald_core::status::{CatchUpSupport, ConnectionState};
use serde_json::Value;
use support::{order, until};
use tokio::time::Instant;

/// One batch: the hub emits its events back to back.
const EVENTS: u64 = 1000;

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_that_falls_behind_catches_up_at_once_not_at_its_next_probe() {
    let (hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    // The default link (a probe a minute), with room for 4 live events: a
    // batch of 1,000 overflows it.
    let link = LinkConfig {
        queue: 4,
        ..LinkConfig::default()
    };
    assert!(link.probe_interval >= Duration::from_secs(60));
    let engine = device.start(link).await;
    let mut status = engine.status();
    until(&mut status, "connected and caught up", |s| {
        s.state == ConnectionState::Connected && s.catch_up == CatchUpSupport::Available
    })
    .await;

    let batch: Vec<Value> = (1..=EVENTS).map(|n| order(alice, n)).collect();
    assert_eq!(
        hub.post("/api/events", &admin, Value::Array(batch)).await,
        201
    );
    let posted = Instant::now();
    // Far less than the probe interval: only a prompt catch-up gets there.
    let deadline = posted + support::WAIT;
    loop {
        let history = support::history_ids(&engine, "order_update");
        if history.len() as u64 == EVENTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {EVENTS} in the history after {:?}",
            history.len(),
            posted.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.shutdown().await;
}
