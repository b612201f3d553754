//! Per-user work queues ("lanes"): each user's items are handled in order by
//! a task of that user's own, so one user's slow work never stands in front
//! of another user's, and one user's flood only ever sheds their own items.
//!
//! A lane exists while it has work: the first item starts its task, and the
//! task removes the lane when it finds it empty (under the same lock that
//! adds items, so no item is left behind). Memory is bounded by the number of
//! users times the per-user cap.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What a lane does with an item.
pub type Handler<T> = Arc<dyn Fn(T) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// One queue per user, `cap` items waiting at most in each.
pub struct Lanes<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Lanes<T> {
    fn clone(&self) -> Lanes<T> {
        Lanes {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Lanes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("name", &self.shared.name)
            .field("cap", &self.shared.cap)
            .field("shed", &self.shared.shed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

struct Shared<T> {
    /// For logs: which channel these lanes carry.
    name: &'static str,
    cap: usize,
    lanes: Mutex<HashMap<u64, Lane<T>>>,
    handler: Handler<T>,
    shed: AtomicU64,
}

struct Lane<T> {
    /// Waiting items; the one being handled is not among them.
    pending: VecDeque<T>,
    /// Whether this lane has shed an item yet: logged the first time only.
    shedding: bool,
}

impl<T: Send + 'static> Lanes<T> {
    pub fn new(name: &'static str, cap: usize, handler: Handler<T>) -> Lanes<T> {
        Lanes {
            shared: Arc::new(Shared {
                name,
                cap: cap.max(1),
                lanes: Mutex::new(HashMap::new()),
                handler,
                shed: AtomicU64::new(0),
            }),
        }
    }

    /// Queues `item` on `user`'s lane, starting its task if it is idle. Past
    /// the cap, the user's oldest waiting item is dropped.
    pub fn push(&self, user: u64, item: T) {
        let mut lanes = self.shared.lock();
        match lanes.entry(user) {
            Entry::Occupied(mut entry) => {
                let lane = entry.get_mut();
                lane.pending.push_back(item);
                if lane.pending.len() > self.shared.cap {
                    lane.pending.pop_front();
                    self.shared.shed.fetch_add(1, Ordering::Relaxed);
                    if !lane.shedding {
                        lane.shedding = true;
                        tracing::warn!(
                            user,
                            channel = self.shared.name,
                            cap = self.shared.cap,
                            "a user has too many login alerts waiting; dropping their oldest (logged once per burst)"
                        );
                    }
                }
            }
            Entry::Vacant(entry) => {
                entry.insert(Lane {
                    pending: VecDeque::from([item]),
                    shedding: false,
                });
                tokio::spawn(drain(self.shared.clone(), user));
            }
        }
    }

    /// Items dropped so far because a user's lane was full.
    pub fn shed(&self) -> u64 {
        self.shared.shed.load(Ordering::Relaxed)
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Lane<T>>> {
        // The map stays consistent whatever panicked while holding it.
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `user`'s task: handles the lane's items in order, then removes the lane.
async fn drain<T: Send + 'static>(shared: Arc<Shared<T>>, user: u64) {
    loop {
        let item = {
            let mut lanes = shared.lock();
            let Some(lane) = lanes.get_mut(&user) else {
                return;
            };
            match lane.pending.pop_front() {
                Some(item) => item,
                None => {
                    lanes.remove(&user);
                    return;
                }
            }
        };
        // In a task of its own, so a panic costs one item, not the lane.
        if let Err(e) = tokio::spawn((shared.handler)(item)).await {
            tracing::error!(user, channel = shared.name, error = %e, "a login alert task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::{Semaphore, mpsc};

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    /// Lanes that report each (user, item) they start, and hold user 1's
    /// items until the test releases them.
    type Item = (u64, u32);

    fn gated(cap: usize) -> (Lanes<Item>, mpsc::UnboundedReceiver<Item>, Arc<Semaphore>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let held = gate.clone();
        let handler: Handler<Item> = Arc::new(move |item| {
            let (tx, gate) = (tx.clone(), held.clone());
            Box::pin(async move {
                let _ = tx.send(item);
                if item.0 == 1
                    && let Ok(permit) = gate.acquire().await
                {
                    permit.forget();
                }
            })
        });
        (Lanes::new("test", cap, handler), rx, gate)
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Item>) -> Option<Item> {
        tokio::time::timeout(WAIT, rx.recv()).await.ok().flatten()
    }

    #[tokio::test]
    async fn a_stuck_user_does_not_hold_up_another() {
        let (lanes, mut started, gate) = gated(4);
        lanes.push(1, (1, 0));
        lanes.push(1, (1, 1));
        assert_eq!(next(&mut started).await, Some((1, 0)));
        lanes.push(2, (2, 0));
        assert_eq!(next(&mut started).await, Some((2, 0)), "user 2 went first");
        gate.add_permits(2);
        assert_eq!(next(&mut started).await, Some((1, 1)));
    }

    #[tokio::test]
    async fn a_flood_sheds_only_the_flooders_oldest_items() {
        let (lanes, mut started, gate) = gated(3);
        lanes.push(1, (1, 0));
        assert_eq!(next(&mut started).await, Some((1, 0)));
        for n in 1..=10 {
            lanes.push(1, (1, n));
        }
        lanes.push(2, (2, 0));
        assert_eq!(next(&mut started).await, Some((2, 0)));
        assert_eq!(lanes.shed(), 7);
        gate.add_permits(100);
        for n in 8..=10 {
            assert_eq!(
                next(&mut started).await,
                Some((1, n)),
                "the newest are kept"
            );
        }
        // The lane empties and goes; the next item starts it again.
        lanes.push(1, (1, 11));
        assert_eq!(next(&mut started).await, Some((1, 11)));
    }
}
