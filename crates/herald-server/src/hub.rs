//! The event pipeline: store first, then emit, in id order.
//!
//! One task owns both steps. It takes whatever is queued (up to a batch),
//! stores it in one transaction, then emits each event to its room before
//! answering the callers. Because one task does it, emits go out in id order:
//! a client that has seen id N has seen every earlier id it is owed, unless
//! its socket dropped, and then catch-up from its last id fills the gap.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_proto::Envelope;
use socketioxide::SocketIo;
use tokio::sync::{mpsc, oneshot};

use crate::store::event::{self, NewEvent};
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
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        let events: Vec<NewEvent> = jobs.iter().map(|j| j.event.clone()).collect();
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let stored = db
            .call(move |conn| event::insert_batch(conn, &events, &created_at))
            .await;
        match stored {
            Ok(envelopes) => {
                stats
                    .stored
                    .fetch_add(envelopes.len() as u64, Ordering::Relaxed);
                for (job, envelope) in jobs.drain(..).zip(envelopes) {
                    emit(&io, job.event.audience.room(), &envelope, &stats).await;
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

async fn emit(io: &SocketIo, room: Option<String>, envelope: &Envelope, stats: &HubStats) {
    let result = match room {
        Some(room) => io.to(room).emit(&envelope.kind, envelope).await,
        None => io.emit(&envelope.kind, envelope).await,
    };
    if let Err(e) = result {
        stats.emit_failures.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(id = envelope.id, error = %e, "emit failed; the client will catch up");
    }
}
