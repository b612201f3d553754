//! The event pipeline: store first, then emit, in id order.
//!
//! One task owns both steps. It takes whatever is queued (up to a batch),
//! stores it in one transaction, then emits each event to its room before
//! answering the callers. Because one task does it, emits go out in id order:
//! a client that has seen id N has seen every earlier id it is owed, unless
//! its socket dropped, and then catch-up from its last id fills the gap. A
//! socket that cannot take an event (its buffer is full) is closed at once,
//! before the next event, so it can never skip one and carry on.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_proto::Envelope;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use tokio::sync::{mpsc, oneshot};

use crate::store::event::NewEvent;
use crate::store::{Db, StoreError};

/// How many queued events one transaction takes at most.
const BATCH: usize = 512;

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
    stats: Arc<HubStats>,
}

#[derive(Debug)]
struct Job {
    event: NewEvent,
    done: oneshot::Sender<Result<Envelope, Arc<StoreError>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the event could not be stored: {0}")]
    Store(Arc<StoreError>),
    #[error("the server is shutting down")]
    Closed,
}

impl Hub {
    /// Starts the pipeline task. It ends when every handle is dropped.
    pub fn start(db: Db, io: SocketIo) -> Hub {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        let stats = Arc::new(HubStats::default());
        tokio::spawn(run(db, io, rx, stats.clone()));
        Hub { tx, stats }
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    /// Stores `event`, emits it, and returns it with its id.
    pub async fn publish(&self, event: NewEvent) -> Result<Envelope, HubError> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Job { event, done })
            .await
            .map_err(|_| HubError::Closed)?;
        answer
            .await
            .map_err(|_| HubError::Closed)?
            .map_err(HubError::Store)
    }
}

async fn run(db: Db, io: SocketIo, mut rx: mpsc::Receiver<Job>, stats: Arc<HubStats>) {
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
                doomed.retry(&io);
                continue;
            }
        }
        let events: Vec<NewEvent> = jobs.iter().map(|j| j.event.clone()).collect();
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let stored = db.insert_events(events, created_at).await;
        match stored {
            Ok(envelopes) => {
                stats
                    .stored
                    .fetch_add(envelopes.len() as u64, Ordering::Relaxed);
                for (job, envelope) in jobs.drain(..).zip(envelopes) {
                    emit(
                        &io,
                        job.event.audience.room(),
                        &envelope,
                        &stats,
                        &mut doomed,
                    );
                    let _ = job.done.send(Ok(envelope));
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
struct Doomed(HashSet<Sid>);

impl Doomed {
    fn is_empty(&self) -> bool {
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

    fn condemn(&mut self, socket: SocketRef) {
        if socket.clone().disconnect().is_err() {
            self.0.insert(socket.id);
        }
    }

    /// Retries every pending disconnect; forgets sockets that are gone.
    fn retry(&mut self, io: &SocketIo) {
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
fn emit(
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
    for socket in sockets {
        if doomed.skip(&socket) {
            stats.emit_failures.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Err(e) = socket.emit(&envelope.kind, envelope) {
            stats.emit_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(id = envelope.id, sid = %socket.id, error = %e, "emit failed; closing the socket so its client catches up");
            doomed.condemn(socket);
        }
    }
}
