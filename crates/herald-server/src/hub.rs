//! The event pipeline: store first, then emit, in id order.
//!
//! One task owns both steps. It takes whatever is queued (up to a batch),
//! stores it in one transaction, then emits each event to its room before
//! answering the callers. Because one task does it, emits go out in id order:
//! a client that has seen id N has seen every earlier id it is owed, unless
//! its socket dropped, and then catch-up from its last id fills the gap. A
//! socket that cannot take an event (its buffer is full) is closed at once,
//! before the next event, so it can never skip one and carry on.
//!
//! With several nodes ([`Delivery::Cluster`]) the hub stores and hands the
//! batch to the cluster, and this node's relay (`cluster/relay.rs`) emits
//! it, in one id order with what the other nodes stored.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_proto::Envelope;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::cluster::Cluster;
use crate::store::event::{NewEvent, StoredEvent};
use crate::store::{Db, StoreError};

/// How many queued requests one transaction takes at most.
const BATCH: usize = 512;

/// How many events may be queued or in a transaction at once, over every
/// request (a batch holds up to [`crate::api::MAX_BATCH`]): a caller waits
/// for room, so a flood of batches costs waiting, not memory.
const QUEUED_EVENTS: usize = 4 * BATCH;

/// Counters the health endpoint reports.
#[derive(Debug, Default)]
pub struct HubStats {
    pub stored: AtomicU64,
    /// Emits a socket refused (buffer full or closing). The event is stored,
    /// so the client gets it by catch-up; this counts the round trips owed.
    pub emit_failures: AtomicU64,
}

/// A handle to publish events; cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    tx: mpsc::Sender<Job>,
    room: Arc<Semaphore>,
    stats: Arc<HubStats>,
}

/// One caller's events: stored in the same transaction, emitted in order.
#[derive(Debug)]
struct Job {
    events: Vec<NewEvent>,
    done: oneshot::Sender<Result<Vec<Envelope>, Arc<StoreError>>>,
    /// The job's room under [`QUEUED_EVENTS`], given back when it is done.
    _room: OwnedSemaphorePermit,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the event could not be stored: {0}")]
    Store(Arc<StoreError>),
    #[error("the server is shutting down")]
    Closed,
}

/// Where stored events go: straight to this node's sockets, or (several
/// nodes) to the cluster, whose relay emits them here in id order along
/// with the other nodes' events.
#[derive(Debug)]
pub enum Delivery {
    Local(SocketIo),
    Cluster(Cluster),
}

impl Hub {
    /// Starts the pipeline task. It ends when every handle is dropped.
    pub fn start(db: Db, delivery: Delivery, stats: Arc<HubStats>) -> Hub {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        tokio::spawn(run(db, delivery, rx, stats.clone()));
        let room = Arc::new(Semaphore::new(QUEUED_EVENTS));
        Hub { tx, room, stats }
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    /// Stores `event`, emits it, and returns it with its id.
    pub async fn publish(&self, event: NewEvent) -> Result<Envelope, HubError> {
        self.publish_batch(vec![event])
            .await?
            .pop()
            .ok_or(HubError::Closed)
    }

    /// Stores `events` in one transaction (all or none), emits them in the
    /// order given, and returns them with their ids, which increase in that
    /// order. No other caller's event is stored between two of them.
    pub async fn publish_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Envelope>, HubError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // More than the whole queue can never be let in: such a batch waits
        // for it all (a caller's limit is far below it).
        let wanted = u32::try_from(events.len().min(QUEUED_EVENTS)).unwrap_or(u32::MAX);
        let _room = self
            .room
            .clone()
            .acquire_many_owned(wanted)
            .await
            .map_err(|_| HubError::Closed)?;
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Job {
                events,
                done,
                _room,
            })
            .await
            .map_err(|_| HubError::Closed)?;
        answer
            .await
            .map_err(|_| HubError::Closed)?
            .map_err(HubError::Store)
    }
}

async fn run(db: Db, delivery: Delivery, mut rx: mpsc::Receiver<Job>, stats: Arc<HubStats>) {
    let mut jobs = Vec::with_capacity(BATCH);
    let mut doomed = Doomed::default();
    let mut sweep = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tokio::select! {
            received = rx.recv_many(&mut jobs, BATCH) => {
                if received == 0 {
                    return;
                }
            }
            _ = sweep.tick(), if !doomed.is_empty() => {
                if let Delivery::Local(io) = &delivery {
                    doomed.retry(io);
                }
                continue;
            }
        }
        let events: Vec<NewEvent> = jobs.iter().flat_map(|j| j.events.clone()).collect();
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let stored = db.insert_events(events, created_at).await;
        match stored {
            Ok(envelopes) => {
                stats
                    .stored
                    .fetch_add(envelopes.len() as u64, Ordering::Relaxed);
                if let Delivery::Cluster(cluster) = &delivery {
                    let stored: Vec<StoredEvent> = jobs
                        .iter()
                        .flat_map(|job| job.events.iter())
                        .zip(&envelopes)
                        .map(|(event, envelope)| StoredEvent {
                            audience: event.audience,
                            envelope: envelope.clone(),
                        })
                        .collect();
                    cluster.stored(stored).await;
                }
                let mut envelopes = envelopes.into_iter();
                for job in jobs.drain(..) {
                    let mine: Vec<Envelope> = envelopes.by_ref().take(job.events.len()).collect();
                    if let Delivery::Local(io) = &delivery {
                        for (event, envelope) in job.events.iter().zip(&mine) {
                            emit(io, event.audience.room(), envelope, &stats, &mut doomed);
                        }
                    }
                    let _ = job.done.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, count = jobs.len(), "cannot store events");
                let e = Arc::new(e);
                for job in jobs.drain(..) {
                    let _ = job.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Sockets that missed an event and must be closed before they get another.
///
/// socketioxide cannot disconnect a socket whose buffer is full (the
/// DISCONNECT packet does not fit), so such a socket is skipped for every
/// later event and its disconnect retried until it goes through, or until
/// the transport dies on its own.
#[derive(Debug, Default)]
pub(crate) struct Doomed(HashSet<Sid>);

impl Doomed {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `socket` must not be sent anything; tries to close it again.
    fn skip(&mut self, socket: &SocketRef) -> bool {
        if !self.0.contains(&socket.id) {
            return false;
        }
        if socket.clone().disconnect().is_ok() {
            self.0.remove(&socket.id);
        }
        true
    }

    pub(crate) fn condemn(&mut self, socket: SocketRef) {
        if socket.clone().disconnect().is_err() {
            self.0.insert(socket.id);
        }
    }

    /// Retries every pending disconnect; forgets sockets that are gone.
    pub(crate) fn retry(&mut self, io: &SocketIo) {
        let sockets = io.sockets();
        self.0.retain(|sid| sockets.iter().any(|s| s.id == *sid));
        for socket in sockets {
            if self.0.contains(&socket.id) && socket.clone().disconnect().is_ok() {
                self.0.remove(&socket.id);
            }
        }
    }
}

/// Emits to every socket of the room, one by one, so that a socket that
/// cannot take the event is closed before the next event is emitted. That
/// keeps the invariant clients rely on: a socket never sees id N+1 after
/// missing id N. Its client reconnects and catches up from its last id.
///
/// The envelope is serialised once, into JSON text; each socket's emit then
/// copies that text into its packet instead of walking the envelope again.
/// (socketioxide's broadcast encodes once too, but its error does not say
/// which sockets missed the event, and those are the ones to close.)
pub(crate) fn emit(
    io: &SocketIo,
    room: Option<String>,
    envelope: &Envelope,
    stats: &HubStats,
    doomed: &mut Doomed,
) {
    let sockets = match room {
        Some(room) => io.to(room).sockets(),
        None => io.sockets(),
    };
    // herald-bench's clock for "emit → client" latency starts here (its own
    // subscriber enables this target; otherwise the event costs nothing).
    tracing::trace!(target: "herald_server::hub::emit", id = envelope.id, sockets = sockets.len(), "emitting");
    if sockets.is_empty() {
        return;
    }
    let encoded = match serde_json::value::to_raw_value(envelope) {
        Ok(encoded) => encoded,
        Err(e) => {
            // An envelope is plain data, so this is not expected; if it
            // happens, every socket missed the event and must be closed.
            tracing::error!(id = envelope.id, error = %e, "cannot encode an event");
            for socket in sockets {
                stats.emit_failures.fetch_add(1, Ordering::Relaxed);
                doomed.condemn(socket);
            }
            return;
        }
    };
    for socket in sockets {
        if doomed.skip(&socket) {
            stats.emit_failures.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Err(e) = socket.emit(&envelope.kind, &encoded) {
            stats.emit_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(id = envelope.id, sid = %socket.id, error = %e, "emit failed; closing the socket so its client catches up");
            doomed.condemn(socket);
        }
    }
}
