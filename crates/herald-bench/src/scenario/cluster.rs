//! Scenario 8: herald-server's storage and its cluster, under the server
//! scenarios' load (`server_load::measure`: the same sockets, fan-out,
//! burst and ingest). Three setups take turns, A B C A B C:
//!
//! - **SQLite, one node**: `--data-dir` alone, as `server_load` runs it;
//! - **Postgres, one node**: `--database-url`, no Redis;
//! - **Postgres and Redis, two nodes**: `--redis-url --websocket-only`,
//!   the sockets spread over both, the operator posting to the first, so
//!   the room latency is the cross-node path (the room's one socket is on
//!   the second node).
//!
//! The rows are ratios within this run: two nodes against one (both on
//! Postgres), and Postgres against SQLite (one node each). Both databases
//! are as the tests run them: Postgres private to the run with fsync off,
//! SQLite in WAL with `synchronous = NORMAL`; neither waits for the disk
//! at a commit. On this machine the nodes share its two cores with the
//! load generator, Postgres and Redis: the two-node rows measure what the
//! cluster costs, not what a second machine would add.

use std::sync::Arc;

use anyhow::Context;

use super::Size;
use super::server::{Peer, Setup};
use super::server_load::{Figures, INGEST_BATCHES_IN_FLIGHT, measure};
use crate::report::{Checks, Row};

// The same private servers the cluster tests start, from one file.
#[allow(dead_code)]
#[path = "../../../herald-server/tests/support/postgres.rs"]
mod postgres;
#[allow(dead_code)]
#[path = "../../../herald-server/tests/support/redis.rs"]
mod redis;

const SQLITE: &str = "SQLite, 1 node";
const POSTGRES: &str = "Postgres, 1 node";
const CLUSTER: &str = "Postgres + Redis, 2 nodes";

/// The setups in their turn: the name, whether on Postgres, and the nodes
/// (more than one share Redis).
const SETUPS: [(&str, bool, usize); 3] =
    [(SQLITE, false, 1), (POSTGRES, true, 1), (CLUSTER, true, 2)];

pub async fn run(size: Size, checks: &mut Checks) -> anyhow::Result<Vec<Row>> {
    // Their helpers panic when a server cannot start (they are the tests'):
    // here that is the scenario's error, not the bench's end.
    let pg = Arc::new(
        tokio::task::spawn_blocking(postgres::TestPostgres::start)
            .await
            .context("Postgres did not start (scripts/setup.sh installs it)")?,
    );
    let redis = tokio::spawn(redis::RedisServer::start())
        .await
        .context("redis-server did not start (scripts/setup.sh installs it)")?;
    let mut figures: [Figures; 3] = Default::default();
    for round in 0..size.rounds {
        for (i, (name, on_postgres, nodes)) in SETUPS.into_iter().enumerate() {
            let database_url = if on_postgres {
                // A fresh database each time, as a new deployment has.
                let pg = pg.clone();
                let db = format!("bench_{round}_{i}");
                Some(
                    tokio::task::spawn_blocking(move || pg.create_database(&db))
                        .await
                        .context("createdb failed")?,
                )
            } else {
                None
            };
            let setup = Setup {
                database_url,
                redis_url: (nodes > 1).then(|| redis.url.clone()),
                nodes,
            };
            let peer = Peer::herald(&setup, size.server_sockets, size.admin_sockets).await?;
            let measured = measure(&peer, name, size, &mut figures[i], checks).await;
            peer.stop().await;
            measured?;
        }
    }
    drop(redis);
    Ok(rows(size, figures))
}

/// One figure of a setup's rounds.
type Pick = fn(&Figures) -> crate::stats::Rounds;

/// Each figure twice: two nodes against one, then Postgres against SQLite.
fn rows(size: Size, [sqlite, postgres, cluster]: [Figures; 3]) -> Vec<Row> {
    let (n, a, b) = (
        size.server_sockets,
        size.admin_sockets,
        size.burst_broadcasts,
    );
    let batch = herald_server::api::MAX_BATCH;
    let figures: [(String, &'static str, Pick); 7] = [
        (
            format!("memory per authenticated idle socket ({n} sockets, all nodes)"),
            "KB",
            |f| f.kb_per_socket.clone(),
        ),
        (
            "sockets connected per second (64 handshakes in flight)".into(),
            "sockets/s",
            |f| f.connect_per_sec.clone(),
        ),
        (format!("one user's room, {n} connected: p50"), "ms", |f| {
            f.room_p50.clone()
        }),
        (format!("one user's room, {n} connected: p99"), "ms", |f| {
            f.room_p99.clone()
        }),
        (format!("admin room of {a}: p99 per delivery"), "ms", |f| {
            f.admin_p99.clone()
        }),
        (
            format!("{b} broadcasts to {a} sockets: deliveries/s"),
            "deliveries/s",
            |f| f.burst_per_sec.clone(),
        ),
        (
            format!(
                "events stored per second, arrays of {batch} ({INGEST_BATCHES_IN_FLIGHT} in flight)"
            ),
            "events/s",
            |f| f.ingest_batched.clone(),
        ),
    ];
    let mut rows = Vec::new();
    for (figure, unit, of) in figures {
        rows.push(
            Row::new("8 cluster: 2 nodes", format!("{figure}; {CLUSTER}"), unit)
                .herald(of(&cluster))
                .peer(POSTGRES, of(&postgres)),
        );
        rows.push(
            Row::new("8 storage: Postgres", format!("{figure}; {POSTGRES}"), unit)
                .herald(of(&postgres))
                .peer(SQLITE, of(&sqlite)),
        );
    }
    rows
}
