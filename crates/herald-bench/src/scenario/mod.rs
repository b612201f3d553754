//! The scenarios. Each returns rows for the table and records the
//! invariants it checks; [`Size`] sets the counts (the full run or the smoke).

pub mod client_burst;
pub mod client_idle;
pub mod client_latency;
pub mod cluster;
pub mod desktop;
pub mod engine_proc;
pub mod server;
pub mod server_load;

use std::time::Duration;

use crate::node;
use crate::proc::Proc;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub smoke: bool,
    /// Sequential events per client in the latency scenario.
    pub latency_events: usize,
    /// Blocks the latency events are split into (the rounds of its spread).
    pub latency_blocks: usize,
    pub idle: Duration,
    pub burst_events: u64,
    /// Rounds of each side, alternated A B A B.
    pub rounds: usize,
    pub server_sockets: usize,
    pub admin_sockets: usize,
    pub fanout_events: usize,
    pub broadcast_events: usize,
    pub burst_broadcasts: usize,
    /// Events stored through arrays of `MAX_BATCH`, and one per request, in
    /// the ingest rows.
    pub ingest_batched: u64,
    pub ingest_single: u64,
}

impl Size {
    pub const FULL: Size = Size {
        smoke: false,
        latency_events: 2000,
        latency_blocks: 4,
        idle: Duration::from_secs(60),
        burst_events: 50_000,
        rounds: 2,
        server_sockets: 10_000,
        admin_sockets: 1000,
        fanout_events: 200,
        broadcast_events: 30,
        burst_broadcasts: 300,
        ingest_batched: 100_000,
        ingest_single: 10_000,
    };

    pub const SMOKE: Size = Size {
        smoke: true,
        latency_events: 30,
        latency_blocks: 1,
        idle: Duration::from_secs(3),
        burst_events: 2000,
        rounds: 1,
        server_sockets: 300,
        admin_sockets: 100,
        fanout_events: 20,
        broadcast_events: 5,
        burst_broadcasts: 20,
        ingest_batched: 3000,
        ingest_single: 300,
    };
}

/// Starts the Node socket.io-client peer and waits until it is connected.
pub async fn node_client(url: &str, token: &str, mode: &[&str]) -> anyhow::Result<Proc> {
    let mut args = vec![url.to_owned(), token.to_owned()];
    args.extend(mode.iter().map(|s| (*s).to_owned()));
    let mut proc = Proc::spawn(
        "node socket.io-client",
        node::script("crates/herald-bench/node/client.mjs", &args),
    )?;
    let answer = proc.wait_for("connected", Duration::from_secs(30)).await;
    if answer.is_err() {
        anyhow::bail!("the Node client did not connect to {url}");
    }
    Ok(proc)
}
