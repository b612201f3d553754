//! Scenarios 4–6 against one server: idle memory of 10,000 authenticated
//! sockets, fan-out latency (one user's room with 10,000 connected, and the
//! admin room of 1,000), and a burst of back-to-back admin broadcasts.
//! herald-server and the Node seed server take turns, A B A B.
//!
//! Latency here is the operator's: from sending the emit request to the
//! event's arrival at a socket of the load generator.
//!
//! herald-server alone (the seed server stores nothing) also gives its
//! ingest rate with every socket still connected: events stored per second
//! through `POST /api/events` with arrays, against one event per request.

use std::time::Duration;

use futures_util::StreamExt;

use super::Size;
use super::server::{Kind, Peer, To};
use crate::clock::now_ns;
use crate::report::{Checks, Row, Target};
use crate::sio::Sink;
use crate::stats::{Percentiles, Rounds};

/// Handshakes in flight while the sockets connect.
const CONNECTING: usize = 64;

/// One server's figures, a value per round.
#[derive(Debug, Default)]
pub struct Figures {
    pub kb_per_socket: Rounds,
    pub connect_per_sec: Rounds,
    pub room_p50: Rounds,
    pub room_p99: Rounds,
    pub admin_p50: Rounds,
    pub admin_p99: Rounds,
    pub burst_per_sec: Rounds,
    pub burst_delivered: Rounds,
    /// CPU time per delivery during the burst, in µs: the server's, and the
    /// load generator's (this process) while it received them.
    pub burst_server_us: Rounds,
    pub burst_loadgen_us: Rounds,
    pub ingest_batched: Rounds,
    pub ingest_single: Rounds,
}

/// Requests in flight in the ingest rows: arrays, and single events.
pub const INGEST_BATCHES_IN_FLIGHT: usize = 2;
const INGEST_SINGLES_IN_FLIGHT: usize = 64;

/// Stores `n` events `per_request` at a time; pushes the rate and checks
/// that every event got its own id.
async fn ingest(
    peer: &Peer,
    (n, per_request, in_flight): (u64, u64, usize),
    rate: &mut Rounds,
    checks: &mut Checks,
) -> anyhow::Result<()> {
    let started = now_ns();
    let ids = peer.ingest(n, per_request, in_flight).await?;
    rate.push(n as f64 / (now_ns().saturating_sub(started) as f64 / 1e9));
    let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
    checks.expect(
        distinct.len() as u64 == n,
        format!(
            "herald-server: every ingested event stored once, {per_request} a request ({} of {n})",
            distinct.len()
        ),
    );
    Ok(())
}

/// Arrival − send time, in ms, of every delivery of `sent` (indexed by seq - base).
fn latencies(arrivals: &[(u64, u64)], sent: &[u64], base: u64) -> Vec<f64> {
    arrivals
        .iter()
        .filter_map(|(seq, at)| {
            let at_send = *sent.get(usize::try_from(seq.checked_sub(base)?).ok()?)?;
            Some(at.saturating_sub(at_send) as f64 / 1e6)
        })
        .collect()
}

async fn one_round(
    kind: Kind,
    size: Size,
    figures: &mut Figures,
    checks: &mut Checks,
) -> anyhow::Result<()> {
    let peer = Peer::start(kind, size.server_sockets, size.admin_sockets).await?;
    let measured = measure(&peer, kind.name(), size, figures, checks).await;
    peer.stop().await;
    measured
}

/// Scenarios 4–6 against a started server (`name` in the checks): every
/// socket of its population connects (to the node [`Peer::addr_for`]
/// says), and the operator posts to its first node.
pub async fn measure(
    peer: &Peer,
    name: &str,
    size: Size,
    figures: &mut Figures,
    checks: &mut Checks,
) -> anyhow::Result<()> {
    let n = size.server_sockets;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = peer.sample()?;

    // 4. Idle memory: every socket authenticated, then quiet.
    let sink = Sink::new("seq");
    let started = now_ns();
    let mut tasks = Vec::with_capacity(n);
    let mut connects = futures_util::stream::iter(peer.tokens.clone().into_iter().enumerate())
        .map(|(i, token)| {
            let (addr, sink) = (peer.addr_for(i).to_owned(), sink.clone());
            async move { crate::sio::connect(&addr, &token, sink).await }
        })
        .buffered(CONNECTING);
    while let Some(task) = connects.next().await {
        tasks.push(task?);
    }
    figures
        .connect_per_sec
        .push(n as f64 / (now_ns().saturating_sub(started) as f64 / 1e9));
    tokio::time::sleep(Duration::from_secs(if size.smoke { 1 } else { 3 })).await;
    let after = peer.sample()?;
    figures
        .kb_per_socket
        .push((after.rss_kb as f64 - before.rss_kb as f64) / n as f64);
    sink.drain();

    // 5a. One user's room (one socket, the last one, not an admin) while
    // every other socket stays connected.
    let mut seq = 0u64;
    let mut sent = Vec::new();
    let mut missing = 0;
    for k in 0..size.fanout_events as u64 {
        sent.push(now_ns());
        peer.emit(To::User(n - 1), seq + k).await?;
        if !sink.wait_count(k + 1, Duration::from_secs(10)).await {
            missing += 1;
        }
    }
    let room = Percentiles::of(&latencies(&sink.drain(), &sent, seq));
    figures.room_p50.push(room.p50);
    figures.room_p99.push(room.p99);
    checks.expect(
        missing == 0 && room.count == size.fanout_events,
        format!(
            "{name}: every room event arrived ({} of {})",
            room.count, size.fanout_events
        ),
    );
    seq += size.fanout_events as u64;

    // 5b. The admin room: every admin socket, one broadcast at a time.
    let admins = size.admin_sockets as u64;
    sent.clear();
    for k in 0..size.broadcast_events as u64 {
        sent.push(now_ns());
        peer.emit(To::Admins, seq + k).await?;
        sink.wait_count((k + 1) * admins, Duration::from_secs(30))
            .await;
    }
    let admin = Percentiles::of(&latencies(&sink.drain(), &sent, seq));
    figures.admin_p50.push(admin.p50);
    figures.admin_p99.push(admin.p99);
    let want = size.broadcast_events * size.admin_sockets;
    checks.expect(
        admin.count == want,
        format!(
            "{name}: every admin broadcast delivered ({} of {want})",
            admin.count
        ),
    );
    seq += size.broadcast_events as u64;

    // 6. Burst: back-to-back broadcasts, each request sent as soon as the
    // previous one is answered; then wait for every delivery.
    let want = (size.burst_broadcasts * size.admin_sockets) as u64;
    let cpu = |pid| crate::proc::Sample::of(pid).map(|s| s.cpu_secs);
    let own_pid = std::process::id();
    let (server_cpu, own_cpu) = (peer.sample()?.cpu_secs, cpu(own_pid)?);
    let started = now_ns();
    for k in 0..size.burst_broadcasts as u64 {
        peer.emit(To::Admins, seq + k).await?;
    }
    let all = sink.wait_count(want, Duration::from_secs(120)).await;
    let per_delivery_us = |spent: f64| spent * 1e6 / want as f64;
    figures
        .burst_server_us
        .push(per_delivery_us(peer.sample()?.cpu_secs - server_cpu));
    figures
        .burst_loadgen_us
        .push(per_delivery_us(cpu(own_pid)? - own_cpu));
    let arrivals = sink.drain();
    let last = arrivals.iter().map(|(_, at)| *at).max().unwrap_or(started);
    let delivered = arrivals.len() as u64;
    figures
        .burst_per_sec
        .push(delivered as f64 / (last.saturating_sub(started) as f64 / 1e9));
    figures.burst_delivered.push(delivered as f64);
    checks.expect(
        all && delivered == want,
        format!("{name}: every burst delivery arrived ({delivered} of {want})"),
    );
    if peer.kind == Kind::Herald {
        let batch = herald_server::api::MAX_BATCH as u64;
        let batched = (size.ingest_batched, batch, INGEST_BATCHES_IN_FLIGHT);
        ingest(peer, batched, &mut figures.ingest_batched, checks).await?;
        let single = (size.ingest_single, 1, INGEST_SINGLES_IN_FLIGHT);
        ingest(peer, single, &mut figures.ingest_single, checks).await?;
    }
    checks.expect(
        sink.closed.load(std::sync::atomic::Ordering::Relaxed) == 0,
        format!("{name}: no socket was closed during the run"),
    );
    for task in tasks {
        task.abort();
    }
    Ok(())
}

pub async fn run(size: Size, checks: &mut Checks) -> anyhow::Result<Vec<Row>> {
    let (mut herald, mut seed) = (Figures::default(), Figures::default());
    for _ in 0..size.rounds {
        one_round(Kind::Herald, size, &mut herald, checks).await?;
        one_round(Kind::Seed, size, &mut seed, checks).await?;
    }
    let node = Kind::Seed.name();
    let (n, a) = (size.server_sockets, size.admin_sockets);
    let b = size.burst_broadcasts;
    Ok(vec![
        Row::new(
            "4 server idle",
            format!("memory per authenticated idle socket ({n} sockets)"),
            "KB",
        )
        .herald(herald.kb_per_socket)
        .peer(node, seed.kb_per_socket)
        .target(Target::AtMost(30.0)),
        Row::new(
            "4 server idle",
            "sockets connected per second (64 handshakes in flight)",
            "sockets/s",
        )
        .herald(herald.connect_per_sec)
        .peer(node, seed.connect_per_sec),
        Row::new(
            "5 fan-out",
            format!("one user's room, {n} connected: p50"),
            "ms",
        )
        .herald(herald.room_p50)
        .peer(node, seed.room_p50),
        Row::new(
            "5 fan-out",
            format!("one user's room, {n} connected: p99"),
            "ms",
        )
        .herald(herald.room_p99)
        .peer(node, seed.room_p99)
        .target(Target::RatioAtMost(0.7)),
        Row::new(
            "5 fan-out",
            format!("admin room of {a}: p50 per delivery"),
            "ms",
        )
        .herald(herald.admin_p50)
        .peer(node, seed.admin_p50),
        Row::new(
            "5 fan-out",
            format!("admin room of {a}: p99 per delivery"),
            "ms",
        )
        .herald(herald.admin_p99)
        .peer(node, seed.admin_p99)
        .target(Target::RatioAtMost(0.7)),
        Row::new(
            "6 server burst",
            format!("{b} broadcasts to {a} sockets: deliveries/s"),
            "deliveries/s",
        )
        .herald(herald.burst_per_sec)
        .peer(node, seed.burst_per_sec)
        .target(Target::RatioAtLeast(10.0)),
        Row::new(
            "6 server burst",
            format!("delivered (of {})", b * a),
            "count",
        )
        .herald(herald.burst_delivered)
        .peer(node, seed.burst_delivered)
        .target(Target::AtLeast((b * a) as f64)),
        Row::new(
            "6 server burst",
            "CPU per delivery during the burst: the server's",
            "µs",
        )
        .herald(herald.burst_server_us)
        .peer(node, seed.burst_server_us),
        Row::new(
            "6 server burst",
            "CPU per delivery during the burst: the load generator's (receiving)",
            "µs",
        )
        .herald(herald.burst_loadgen_us)
        .peer("(the same, Node's turn)", seed.burst_loadgen_us),
        Row::new(
            "6 server ingest",
            format!(
                "events stored per second, arrays of {} ({INGEST_BATCHES_IN_FLIGHT} in flight; peer: one per request, {INGEST_SINGLES_IN_FLIGHT} in flight)",
                herald_server::api::MAX_BATCH
            ),
            "events/s",
        )
        .herald(herald.ingest_batched)
        .peer("herald-server, one event a request", herald.ingest_single),
    ])
}
