//! Several herald-server nodes as one hub: Postgres holds the truth, Redis
//! carries what one node must tell the others.
//!
//! # Layout
//!
//! - [`wire`]: the messages, JSON on two pub/sub channels.
//! - [`relay`]: the one task per node that emits every event to this node's
//!   sockets, in id order, whichever node stored it, filling any gap from
//!   the database.
//! - [`limit`]: the login limiter's counts, kept in Redis so that every node
//!   sees every failure.
//! - This module: [`Cluster`], which starts the publisher, the subscriber and
//!   the relay, and what `/healthz` reports of them.
//!
//! Why not socketioxide's Redis adapter: the adapter broadcasts a packet to
//! the other nodes' sockets, but herald-server emits socket by socket so
//! that a socket that cannot take event N is closed before N+1, and it
//! orders events from all nodes by id, which a broadcast cannot do. The
//! adapter would also make every socket operation generic over it and
//! asynchronous across nodes. Revoking a session on every node is one
//! message on our own channel, handled by the same subscriber.

pub mod limit;
pub mod relay;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use socketioxide::SocketIo;
use tokio::sync::{mpsc, watch};

use crate::hub::HubStats;
use crate::store::Db;
use crate::store::event::StoredEvent;
use relay::RelayInput;
use wire::{EventsMessage, SessionMessage, WireEvent};

/// How long a Redis connection or command may take: 2 s. Past it the
/// command fails; nothing waits on it but the publisher and the limiter.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the subscriber waits before it connects again: 500 ms.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);
/// Messages waiting to be published at most: 1024. Past it a message is
/// dropped (and counted); the other nodes' relays read it from the database.
const OUTGOING: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid --redis-url: {0}")]
    Url(String),
    #[error("cannot read the last event id: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// This node's part of the cluster; cheap to clone.
#[derive(Debug, Clone)]
pub struct Cluster(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    node: String,
    commands: ConnectionManager,
    outgoing: mpsc::Sender<Outgoing>,
    relay: mpsc::Sender<RelayInput>,
    stats: Arc<ClusterStats>,
}

#[derive(Debug)]
enum Outgoing {
    Events(Arc<Vec<StoredEvent>>),
    Session(String),
}

/// Counters for `/healthz`.
#[derive(Debug, Default)]
pub struct ClusterStats {
    subscribed: AtomicBool,
    last_error: Mutex<Option<String>>,
    published: AtomicU64,
    publish_failures: AtomicU64,
    received: AtomicU64,
    pub(crate) relay: relay::RelayStats,
}

impl ClusterStats {
    fn failed(&self, what: &str, error: &redis::RedisError) {
        let text = format!("{what}: {error}");
        tracing::warn!(error = %text, "redis");
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
    }
}

/// What `/healthz` says of the cluster.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSnapshot {
    pub node: String,
    /// Whether this node is subscribed to the other nodes' messages now.
    pub redis_ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_error: Option<String>,
    pub published: u64,
    /// Messages this node could not publish; the other nodes' relays read
    /// their events from the database instead.
    pub publish_failures: u64,
    pub received: u64,
    /// Events the relay read from the database because no message brought them (yet).
    pub filled_from_database: u64,
    /// Times the relay closed every local socket because a gap could not be filled.
    pub gaps_closed: u64,
}

/// What a node needs to join the cluster.
#[derive(Debug)]
pub struct ClusterParts {
    pub redis_url: String,
    pub db: Db,
    pub io: SocketIo,
    pub hub_stats: Arc<HubStats>,
    /// Ends the subscriber, and with it the relay, when it turns true.
    pub stop: watch::Receiver<bool>,
}

impl Cluster {
    /// Starts the publisher, the subscriber and the relay. Redis need not be
    /// up: the node serves without it, and its relay reads what other nodes
    /// stored from the database.
    pub async fn start(parts: ClusterParts) -> Result<Cluster, ClusterError> {
        let ClusterParts {
            redis_url,
            db,
            io,
            hub_stats,
            stop,
        } = parts;
        let client = redis::Client::open(redis_url.as_str())
            .map_err(|e| ClusterError::Url(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| ClusterError::Url(e.to_string()))?;
        let node = crate::token::random_token(8);
        let stats = Arc::new(ClusterStats::default());
        let last = db.last_event_id().await?;
        let (relay_tx, relay_rx) = mpsc::channel(64);
        tokio::spawn(relay::run(
            relay::Relay::new(db, io.clone(), hub_stats, stats.clone(), last),
            relay_rx,
        ));
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING);
        tokio::spawn(publish(
            node.clone(),
            commands.clone(),
            outgoing_rx,
            stats.clone(),
        ));
        tokio::spawn(subscribe(
            node.clone(),
            client,
            io,
            relay_tx.clone(),
            stats.clone(),
            stop,
        ));
        tracing::info!(node = %node, "joined the cluster");
        Ok(Cluster(Arc::new(Inner {
            node,
            commands,
            outgoing,
            relay: relay_tx,
            stats,
        })))
    }

    /// A batch this node stored: to this node's sockets through the relay,
    /// and to the other nodes through Redis.
    pub async fn stored(&self, events: Vec<StoredEvent>) {
        let events = Arc::new(events);
        if self
            .0
            .outgoing
            .try_send(Outgoing::Events(events.clone()))
            .is_err()
        {
            self.0
                .stats
                .publish_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.0.relay.send(RelayInput::Stored(events)).await;
    }

    /// A session signed out or revoked here: the other nodes close its sockets.
    pub fn session_ended(&self, session: &str) {
        if self
            .0
            .outgoing
            .try_send(Outgoing::Session(session.to_owned()))
            .is_err()
        {
            self.0
                .stats
                .publish_failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The connection the login limiter sends its commands on.
    pub fn commands(&self) -> ConnectionManager {
        self.0.commands.clone()
    }

    pub fn snapshot(&self) -> ClusterSnapshot {
        let s = &self.0.stats;
        ClusterSnapshot {
            node: self.0.node.clone(),
            redis_ok: s.subscribed.load(Ordering::Relaxed),
            redis_error: s
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            published: s.published.load(Ordering::Relaxed),
            publish_failures: s.publish_failures.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            filled_from_database: s.relay.filled.load(Ordering::Relaxed),
            gaps_closed: s.relay.gaps_closed.load(Ordering::Relaxed),
        }
    }
}

/// Publishes in the order things happened here; ends with the last handle.
async fn publish(
    node: String,
    mut commands: ConnectionManager,
    mut rx: mpsc::Receiver<Outgoing>,
    stats: Arc<ClusterStats>,
) {
    while let Some(out) = rx.recv().await {
        let (channel, payload) = match out {
            Outgoing::Events(events) => (
                wire::EVENTS,
                serde_json::to_vec(&EventsMessage {
                    node: node.clone(),
                    events: events
                        .iter()
                        .map(|e| WireEvent {
                            audience: e.audience.into(),
                            envelope: e.envelope.clone(),
                        })
                        .collect(),
                }),
            ),
            Outgoing::Session(session) => (
                wire::SESSIONS,
                serde_json::to_vec(&SessionMessage {
                    node: node.clone(),
                    session,
                }),
            ),
        };
        let Ok(payload) = payload else { continue };
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut commands)
            .await;
        match sent {
            Ok(_) => {
                stats.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.publish_failures.fetch_add(1, Ordering::Relaxed);
                stats.failed("publish", &e);
            }
        }
    }
}

/// Listens to the other nodes until `stop`; subscribes again after any
/// failure, and has the relay catch up from the database each time it does,
/// since messages sent while it was away are gone.
async fn subscribe(
    node: String,
    client: redis::Client,
    io: SocketIo,
    relay: mpsc::Sender<RelayInput>,
    stats: Arc<ClusterStats>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let session = async {
            let mut pubsub = tokio::time::timeout(REDIS_TIMEOUT, client.get_async_pubsub())
                .await
                .map_err(|_| {
                    redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
                })??;
            pubsub.subscribe(&[wire::EVENTS, wire::SESSIONS]).await?;
            stats.subscribed.store(true, Ordering::Relaxed);
            tracing::info!("subscribed to the other nodes");
            let _ = relay.send(RelayInput::CatchUp).await;
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                stats.received.fetch_add(1, Ordering::Relaxed);
                on_message(
                    &node,
                    &io,
                    &relay,
                    message.get_channel_name(),
                    message.get_payload_bytes(),
                )
                .await;
            }
            Err(redis::RedisError::from(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))
        };
        let ended: Result<(), redis::RedisError> = tokio::select! {
            ended = session => ended,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        stats.subscribed.store(false, Ordering::Relaxed);
        if let Err(e) = ended {
            stats.failed("subscribe", &e);
        }
        tokio::select! {
            () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

async fn on_message(
    node: &str,
    io: &SocketIo,
    relay: &mpsc::Sender<RelayInput>,
    channel: &str,
    payload: &[u8],
) {
    if channel == wire::EVENTS {
        match serde_json::from_slice::<EventsMessage>(payload) {
            Ok(message) if message.node == node => {}
            Ok(message) => {
                let events = message
                    .events
                    .into_iter()
                    .map(|e| StoredEvent {
                        audience: e.audience.into(),
                        envelope: e.envelope,
                    })
                    .collect();
                let _ = relay.send(RelayInput::Stored(Arc::new(events))).await;
            }
            Err(e) => tracing::warn!(error = %e, "an events message that does not parse"),
        }
    } else if channel == wire::SESSIONS {
        match serde_json::from_slice::<SessionMessage>(payload) {
            Ok(message) if message.node == node => {}
            Ok(message) => {
                crate::socket::disconnect_session(io, &message.session);
            }
            Err(e) => tracing::warn!(error = %e, "a sessions message that does not parse"),
        }
    }
}
