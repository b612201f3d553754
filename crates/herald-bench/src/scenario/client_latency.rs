//! Scenario 1: event latency, from the hub's emit to (a) the client's socket
//! handler, (b) the inbox commit, (c) the notifier call.
//!
//! Three clients receive from one in-process herald-server, each signed in
//! as its own user: Herald's engine, Node's socket.io-client, and the raw
//! WebSocket client (the floor). Events go to them in turn, one at a time
//! (the next only when the last arrived), so each event wakes one client
//! and the three alternate A B C A B C through the run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_core::engine::InboxUpdate;
use serde_json::Value;

use super::{Size, node_client};
use crate::clock::now_ns;
use crate::engine;
use crate::hub::{LocalHub, PASSWORD, temp_dir};
use crate::probe::{Marks, Probe};
use crate::report::{Checks, Row, Target};
use crate::sio;
use crate::stats::{Percentiles, Rounds};

const WAIT: Duration = Duration::from_secs(10);
/// Events per client before the measured ones: connections, caches and
/// the SQLite pages are warm when counting starts.
const WARM_UP: usize = 20;

/// Latencies in ms of one client's path point, per block.
#[derive(Debug, Default)]
struct Series(Vec<Vec<f64>>);

impl Series {
    fn push(&mut self, block: usize, value: Option<f64>) {
        if self.0.len() <= block {
            self.0.resize_with(block + 1, Vec::new);
        }
        if let Some(v) = value {
            self.0[block].push(v);
        }
    }

    fn rounds(&self, pick: impl Fn(&Percentiles) -> f64) -> Rounds {
        Rounds(
            self.0
                .iter()
                .filter(|b| !b.is_empty())
                .map(|b| pick(&Percentiles::of(b)))
                .collect(),
        )
    }

    fn count(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }
}

fn ms(from: Option<u64>, to: Option<u64>) -> Option<f64> {
    Some(to?.saturating_sub(from?) as f64 / 1e6)
}

pub async fn run(size: Size, probe: &Probe, checks: &mut Checks) -> anyhow::Result<Vec<Row>> {
    let hub = LocalHub::start().await?;
    let users = [
        hub.add_user("engine@bench.invalid").await?,
        hub.add_user("node@bench.invalid").await?,
        hub.add_user("floor@bench.invalid").await?,
    ];

    // Herald: every event is its own toast here (no coalescing), so that
    // each one has a notifier call to time.
    let dir = temp_dir("latency-engine")?;
    let herald = engine::start(&dir, &hub.url, "engine@bench.invalid", PASSWORD, |s| {
        s.notifications.burst_max = usize::MAX;
    })
    .await?;
    let committed = Marks::new();
    let server_id_of: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let mut updates = herald.engine.updates();
    let (c, map) = (committed.clone(), server_id_of.clone());
    let watcher = tokio::spawn(async move {
        while let Ok(update) = updates.recv().await {
            let at = now_ns();
            if let InboxUpdate::Added(items) = update {
                for item in items {
                    let Some(server_id) = item.server_id else {
                        continue;
                    };
                    // The map first: a waiter woken by the mark reads it.
                    if let Ok(local) = u64::try_from(item.id) {
                        map.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(server_id, local);
                    }
                    c.mark(server_id, at);
                }
            }
        }
    });

    let node_token = hub.login("node@bench.invalid").await?;
    let mut node = node_client(&hub.url, &node_token, &["latency"]).await?;
    let node_marks = Marks::new();
    let mut lines = node.take_lines();
    let nm = node_marks.clone();
    let reader = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let (Some(id), Some(t)) = (
                    v["id"].as_u64(),
                    v["t"].as_str().and_then(|t| t.parse().ok()),
                )
            {
                nm.mark(id, t);
            }
        }
    });

    let floor_token = hub.login("floor@bench.invalid").await?;
    let floor = sio::Sink::new("id");
    let floor_task = sio::connect(&hub.addr.to_string(), &floor_token, floor.clone()).await?;
    // Let every socket join its rooms (herald_ready) before the first event.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let per_client = WARM_UP + size.latency_events;
    let block_len = size.latency_events.div_ceil(size.latency_blocks);
    let (mut handler, mut commit, mut notify) =
        (Series::default(), Series::default(), Series::default());
    let (mut node_handler, mut floor_handler) = (Series::default(), Series::default());
    let mut lost = [0usize; 3];
    let mut floor_seen = 0u64;
    for n in 0..per_client * 3 {
        let who = n % 3;
        let i = n / 3;
        let id = hub.emit(users[who], n as u64).await?;
        let arrived = match who {
            0 => {
                let ok = committed.wait(id, WAIT).await.is_some();
                let local = server_id_of
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&id)
                    .copied();
                match local {
                    Some(local) => ok && herald.notifier.at.wait(local, WAIT).await.is_some(),
                    None => false,
                }
            }
            1 => node_marks.wait(id, WAIT).await.is_some(),
            _ => {
                floor_seen += 1;
                floor.wait_count(floor_seen, WAIT).await
            }
        };
        if !arrived {
            lost[who] += 1;
            continue;
        }
        if i < WARM_UP {
            continue;
        }
        let block = (i - WARM_UP) / block_len;
        let emitted = probe.emitted.get(id);
        match who {
            0 => {
                let local = server_id_of
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&id)
                    .copied();
                handler.push(block, ms(emitted, probe.received.get(id)));
                commit.push(block, ms(emitted, committed.get(id)));
                notify.push(
                    block,
                    ms(emitted, local.and_then(|l| herald.notifier.at.get(l))),
                );
            }
            1 => node_handler.push(block, ms(emitted, node_marks.get(id))),
            _ => {}
        }
    }
    // The floor's arrivals carry the envelope id; pair them with the emits.
    let floor_arrivals = floor.drain();
    for (k, (id, at)) in floor_arrivals.iter().enumerate() {
        if k >= WARM_UP {
            floor_handler.push(
                (k - WARM_UP) / block_len,
                ms(probe.emitted.get(*id), Some(*at)),
            );
        }
    }

    let names = [
        "Herald's engine",
        "Node socket.io-client",
        "the raw WebSocket client",
    ];
    for (who, lost) in lost.iter().enumerate() {
        checks.expect(
            *lost == 0,
            format!(
                "latency: {} received every event ({lost} missing)",
                names[who]
            ),
        );
    }
    let measured = size.latency_events;
    for (what, series) in [
        ("handler", &handler),
        ("inbox commit", &commit),
        ("notifier call", &notify),
    ] {
        checks.expect(
            series.count() == measured,
            format!(
                "latency: the engine's {what} timed for every event ({} of {measured})",
                series.count()
            ),
        );
    }
    checks.expect(
        node_handler.count() == measured && floor_handler.count() == measured,
        "latency: the Node and floor clients timed every event",
    );

    drop(node);
    floor_task.abort();
    watcher.abort();
    reader.abort();
    herald.engine.shutdown().await;
    hub.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let s = "1 latency";
    let p50 = |p: &Percentiles| p.p50;
    let p99 = |p: &Percentiles| p.p99;
    let max = |p: &Percentiles| p.max;
    Ok(vec![
        Row::new(s, "emit → socket handler, p50", "ms")
            .herald(handler.rounds(p50))
            .peer("Node socket.io-client", node_handler.rounds(p50)),
        Row::new(s, "emit → socket handler, p99", "ms")
            .herald(handler.rounds(p99))
            .peer("Node socket.io-client", node_handler.rounds(p99)),
        Row::new(s, "emit → socket handler, p50", "ms")
            .herald(handler.rounds(p50))
            .peer("raw WebSocket (floor)", floor_handler.rounds(p50)),
        Row::new(s, "emit → socket handler, p99", "ms")
            .herald(handler.rounds(p99))
            .peer("raw WebSocket (floor)", floor_handler.rounds(p99)),
        Row::new(s, "emit → inbox commit, p50", "ms").herald(commit.rounds(p50)),
        Row::new(s, "emit → inbox commit, p99", "ms").herald(commit.rounds(p99)),
        Row::new(s, "emit → notifier call, p50", "ms")
            .herald(notify.rounds(p50))
            .peer("Node: emit → handler", node_handler.rounds(p50)),
        Row::new(s, "emit → notifier call, p99", "ms")
            .herald(notify.rounds(p99))
            .peer("Node: emit → handler", node_handler.rounds(p99))
            .target(Target::AtMost(1.0)),
        Row::new(s, "emit → notifier call, max", "ms")
            .herald(notify.rounds(max))
            .peer("Node: emit → handler", node_handler.rounds(max)),
    ])
}
