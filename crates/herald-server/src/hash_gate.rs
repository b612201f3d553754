//! The bound on password hashing: a few threads of its own and a short queue.
//!
//! Each Argon2id check holds 19 MiB and a core for its duration, so the
//! logins of a crowd (or of an attacker) must not all run at once. The gate
//! runs them on [`HashLimit::slots`] threads of its own, lets
//! [`HashLimit::queue`] more wait (each at most [`HashLimit::wait`] before it
//! starts), and refuses the rest at once with [`Busy`].
//!
//! Threads of its own, not the blocking pool: the allocator keeps a freed
//! 19 MiB block in the arena of the thread that used it, and the blocking
//! pool spreads work over dozens of threads (one per concurrent database
//! call), so a bound on concurrency alone still left 16 arenas × 19 MiB
//! resident. On a few fixed threads each block is reused.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::config::HashLimit;

/// The server has no hash slot free for this login soon enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many logins at once")]
pub struct Busy;

type Work = Box<dyn FnOnce() + Send>;

struct Job {
    /// A job not started by then is dropped, and its caller told [`Busy`].
    start_by: Instant,
    work: Work,
}

/// Runs password hashes and checks, a bounded number at a time; cheap to
/// clone. The threads end when the last clone is dropped.
#[derive(Clone)]
pub struct HashGate {
    jobs: SyncSender<Job>,
    wait: std::time::Duration,
}

impl std::fmt::Debug for HashGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashGate")
            .field("wait", &self.wait)
            .finish()
    }
}

impl HashGate {
    pub fn new(limit: HashLimit) -> HashGate {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(limit.queue);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..limit.slots.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("herald-hash-{n}"))
                .spawn(move || work(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashGate {
            jobs,
            wait: limit.wait,
        }
    }

    /// Queues `work` (a hash or a check), or answers [`Busy`] at once when
    /// the queue is full. The answer comes when it has run, or [`Busy`] if
    /// no thread could start it within the wait. A job whose caller has
    /// given up (the client hung up) is skipped.
    pub async fn run<R, F>(&self, work: F) -> Result<R, Busy>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.start(work)?.await.map_err(|_| Busy)
    }

    fn start<R, F>(&self, work: F) -> Result<oneshot::Receiver<R>, Busy>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            start_by: Instant::now() + self.wait,
            work: Box::new(move || {
                if !answer.is_closed() {
                    let _ = answer.send(work());
                }
            }),
        };
        match self.jobs.try_send(job) {
            Ok(()) => Ok(answered),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        }
    }
}

/// One hashing thread: takes jobs until every [`HashGate`] is gone.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let Ok(queue) = queue.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if Instant::now() <= job.start_by {
            (job.work)();
        }
        // Else dropped unrun: its caller hears Busy.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn the_gate_runs_at_most_its_slots_and_refuses_past_its_queue() {
        let gate = HashGate::new(HashLimit {
            slots: 2,
            queue: 1,
            wait: Duration::from_secs(20),
        });
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let running = Arc::new(AtomicUsize::new(0));
        let job = || {
            let (held, running) = (held.clone(), running.clone());
            move || {
                running.fetch_add(1, Ordering::SeqCst);
                let _ = held.lock().map(|h| h.recv());
            }
        };
        let first = gate.start(job()).expect("a slot");
        let deadline = Instant::now() + Duration::from_secs(20);
        let second = loop {
            // Until the first is taken, the one-place queue is full.
            if let Ok(second) = gate.start(job()) {
                break second;
            }
            assert!(Instant::now() < deadline, "the first job never started");
            tokio::task::yield_now().await;
        };
        while running.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "two never ran");
            tokio::task::yield_now().await;
        }
        // Both threads busy: one job may wait, the next is refused at once.
        let third = gate.start(job()).expect("the queue's place");
        assert!(matches!(gate.start(|| ()), Err(Busy)));
        for _ in 0..3 {
            let _ = release.send(());
        }
        for answered in [first, second, third] {
            assert!(answered.await.is_ok());
        }
        assert_eq!(running.load(Ordering::SeqCst), 3);
    }
}
