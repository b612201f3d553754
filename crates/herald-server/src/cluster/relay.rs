//! The relay: this node's one emitter when nodes share a database.
//!
//! Events reach it from this node's hub (after they are stored) and from the
//! other nodes (through Redis), in no particular order between the two. It
//! emits them to this node's sockets strictly in id order, so a socket never
//! sees id N+1 after missing N, whichever node stored them.
//!
//! Why that is possible: ids are given out in the storing transaction under
//! a row lock held until commit (see the store), so when an event with id X
//! is visible, every smaller id is committed (or was rolled back and never
//! exists). So when X arrives and the relay has emitted up to L < X - 1, it
//! reads (L, X) from the database and emits those first. Every second, and
//! whenever its subscription is made again, it also reads whatever was
//! stored after L: that is how it learns of events whose message was lost
//! (Redis down, a publish that failed) even when nothing else arrives.
//!
//! When the database cannot be read, a gap cannot be filled: then the relay
//! closes every socket of this node before it emits past the gap. No socket
//! saw the gap, and each client catches up from its own last id when it
//! connects again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socketioxide::SocketIo;
use tokio::sync::mpsc;

use super::ClusterStats;
use crate::hub::{self, Doomed, HubStats};
use crate::store::Db;
use crate::store::event::StoredEvent;

/// How often the relay reads what was stored after its last event: 1 s.
/// This bounds how late an event whose message was lost reaches a socket.
pub const POLL: Duration = Duration::from_secs(1);
/// Events read from the database at a time: 500.
const PAGE: u32 = 500;

#[derive(Debug)]
pub enum RelayInput {
    /// A batch in id order, stored by this node or another.
    Stored(Arc<Vec<StoredEvent>>),
    /// Read whatever was stored after the last event emitted.
    CatchUp,
}

#[derive(Debug, Default)]
pub struct RelayStats {
    pub filled: AtomicU64,
    pub gaps_closed: AtomicU64,
}

#[derive(Debug)]
pub struct Relay {
    db: Db,
    io: SocketIo,
    hub_stats: Arc<HubStats>,
    stats: Arc<ClusterStats>,
    doomed: Doomed,
    /// The last id emitted (or known to exist before this node started).
    last: u64,
}

impl Relay {
    pub fn new(
        db: Db,
        io: SocketIo,
        hub_stats: Arc<HubStats>,
        stats: Arc<ClusterStats>,
        last: u64,
    ) -> Relay {
        Relay {
            db,
            io,
            hub_stats,
            stats,
            doomed: Doomed::default(),
            last,
        }
    }

    /// Emits `events` that are new, after filling any gap before them.
    async fn take(&mut self, events: &[StoredEvent]) {
        for event in events {
            let id = event.envelope.id;
            if id <= self.last {
                continue;
            }
            if id > self.last + 1 {
                self.fill(id - 1).await;
                if id <= self.last {
                    continue;
                }
            }
            self.emit(event);
        }
    }

    /// Emits what the database holds after `last`, at least up to `upto`
    /// (and whatever newer events the pages read bring along).
    async fn fill(&mut self, upto: u64) {
        while self.last < upto {
            match self.db.events_after(self.last, PAGE).await {
                Ok(page) => {
                    let short = page.len() < PAGE as usize;
                    self.stats
                        .relay
                        .filled
                        .fetch_add(page.len() as u64, Ordering::Relaxed);
                    for event in &page {
                        if event.envelope.id > self.last {
                            self.emit(event);
                        }
                    }
                    if short {
                        // Nothing more is stored below `upto`: those ids were
                        // rolled back or pruned, and no socket can miss them.
                        self.last = self.last.max(upto);
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, after = self.last, upto, "cannot fill a gap from the database; closing this node's sockets");
                    self.stats.relay.gaps_closed.fetch_add(1, Ordering::Relaxed);
                    for socket in self.io.sockets() {
                        self.doomed.condemn(socket);
                    }
                    self.last = upto;
                    return;
                }
            }
        }
    }

    /// Emits everything stored after `last`.
    async fn catch_up(&mut self) {
        match self.db.last_event_id().await {
            Ok(top) if top > self.last => self.fill(top).await,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "the relay cannot read the last event id"),
        }
    }

    fn emit(&mut self, event: &StoredEvent) {
        hub::emit(
            &self.io,
            event.audience.room(),
            &event.envelope,
            &self.hub_stats,
            &mut self.doomed,
        );
        self.last = event.envelope.id;
    }
}

/// Runs until every sender of `rx` is gone.
pub async fn run(mut relay: Relay, mut rx: mpsc::Receiver<RelayInput>) {
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            input = rx.recv() => match input {
                Some(RelayInput::Stored(events)) => relay.take(&events).await,
                Some(RelayInput::CatchUp) => relay.catch_up().await,
                None => return,
            },
            _ = poll.tick() => relay.catch_up().await,
            _ = sweep.tick(), if !relay.doomed.is_empty() => relay.doomed.retry(&relay.io),
        }
    }
}
