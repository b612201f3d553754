//! The overall cap on pushes in flight, shared so that no group of users can
//! hold it against another.
//!
//! A plain semaphore let accounts whose endpoints hang take every slot: 16
//! accounts at 4 pushes each fill 64, and a new user's push then waited for
//! one to time out (10 s), or for several rounds of timeouts behind the
//! queue of theirs. Here two rules keep the wait short:
//!
//! - A free slot goes to the waiting user with the fewest pushes in flight
//!   (the earliest of them on a tie), not to whoever asked first.
//! - While a push waits, one held by another user gives its slot up once it
//!   has run for the grace (2 s by default) without an answer; a real push
//!   service answers well within it, so only pushes that hang lose anything,
//!   and only while the slots are short.
//!
//! So a user's first push waits at most about the grace for a slot, however
//! many accounts hang: each grace, every held slot can change hands, and it
//! is only behind users who were already waiting with no push in flight
//! either (a grace more for every `capacity` of them) that it can queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// The pool of push slots; cheap to clone.
#[derive(Clone)]
pub struct PushSlots {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PushSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("PushSlots")
            .field("capacity", &state.capacity)
            .field("held", &state.held.len())
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

struct Shared {
    grace: Duration,
    state: Mutex<State>,
}

struct State {
    capacity: usize,
    next_id: u64,
    held: HashMap<u64, Held>,
    /// Pushes in flight per user, for choosing whom a free slot goes to.
    per_user: HashMap<u64, usize>,
    waiting: Vec<Waiter>,
}

struct Held {
    user: u64,
    /// Whether the pool wants this slot back for a waiting push.
    asked: bool,
    started: Instant,
    wake: Arc<Notify>,
}

struct Waiter {
    user: u64,
    /// Also the slot's id once granted, so ties go to the earliest.
    id: u64,
    grant: oneshot::Sender<Slot>,
}

/// One push's place in the pool, released when dropped.
pub struct Slot {
    /// `None` once the slot was taken back without being granted.
    shared: Option<Arc<Shared>>,
    id: u64,
    started: Instant,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("id", &self.id).finish()
    }
}

impl PushSlots {
    /// `capacity` slots; a push may be asked to give its up after `grace`.
    pub fn new(capacity: usize, grace: Duration) -> PushSlots {
        PushSlots {
            shared: Arc::new(Shared {
                grace,
                state: Mutex::new(State {
                    capacity: capacity.max(1),
                    next_id: 0,
                    held: HashMap::new(),
                    per_user: HashMap::new(),
                    waiting: Vec::new(),
                }),
            }),
        }
    }

    /// A slot for one of `user`'s pushes, once there is one for them.
    pub async fn acquire(&self, user: u64) -> Slot {
        let granted = {
            let mut state = self.shared.lock();
            let id = state.next_id;
            state.next_id += 1;
            state.waiting.retain(|w| !w.grant.is_closed());
            if state.held.len() < state.capacity {
                return state.grant(&self.shared, user, id);
            }
            let (grant, granted) = oneshot::channel();
            state.waiting.push(Waiter { user, id, grant });
            state.rebalance();
            granted
        };
        match granted.await {
            Ok(slot) => slot,
            // The pool never drops a live waiter's sender; should that ever
            // change, a push beyond the cap is better than a lost one.
            Err(_) => {
                let mut state = self.shared.lock();
                let id = state.next_id;
                state.next_id += 1;
                state.grant(&self.shared, user, id)
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The counts stay consistent whatever panicked while holding them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn grant(&mut self, shared: &Arc<Shared>, user: u64, id: u64) -> Slot {
        let wake = Arc::new(Notify::new());
        let started = Instant::now();
        self.held.insert(
            id,
            Held {
                user,
                asked: false,
                started,
                wake: wake.clone(),
            },
        );
        *self.per_user.entry(user).or_default() += 1;
        Slot {
            shared: Some(shared.clone()),
            id,
            started,
            wake,
        }
    }

    fn release(&mut self, id: u64) {
        let Some(held) = self.held.remove(&id) else {
            return;
        };
        if let Some(count) = self.per_user.get_mut(&held.user) {
            *count -= 1;
            if *count == 0 {
                self.per_user.remove(&held.user);
            }
        }
    }

    /// Hands free slots to the waiters with the fewest pushes in flight.
    fn fill(&mut self, shared: &Arc<Shared>) {
        while self.held.len() < self.capacity {
            let best = self
                .waiting
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| (self.per_user.get(&w.user).copied().unwrap_or(0), w.id))
                .map(|(at, _)| at);
            let Some(at) = best else { break };
            let waiter = self.waiting.swap_remove(at);
            let slot = self.grant(shared, waiter.user, waiter.id);
            if let Err(mut slot) = waiter.grant.send(slot) {
                // Its push was cancelled: take the slot back here, under the
                // lock, rather than through `Drop`, which would take it again.
                slot.shared = None;
                self.release(slot.id);
            }
        }
        self.rebalance();
    }

    /// Whether some live waiter belongs to a user other than `user`: giving
    /// a user's slot to their own next push would gain nothing.
    fn wanted_by_others(&self, user: u64) -> bool {
        self.wanted_from()(user)
    }

    /// [`State::wanted_by_others`] for many holders at once: one pass over
    /// the waiters (who may be thousands after a mass sign-in), not one each.
    fn wanted_from(&self) -> impl Fn(u64) -> bool + use<> {
        let mut live = self.waiting.iter().filter(|w| !w.grant.is_closed());
        let first = live.next().map(|w| w.user);
        let several = first.is_some_and(|first| live.any(|w| w.user != first));
        move |user| several || first.is_some_and(|first| first != user)
    }

    /// Asks as many held slots back as there are waiters, the oldest of the
    /// busiest users first, and withdraws requests no waiter needs any more.
    fn rebalance(&mut self) {
        self.waiting.retain(|w| !w.grant.is_closed());
        let asked = self.held.values().filter(|h| h.asked).count();
        let waiters = self.waiting.len();
        if asked > waiters {
            let mut withdraw: Vec<(Instant, u64)> = self
                .held
                .iter()
                .filter(|(_, h)| h.asked)
                .map(|(id, h)| (h.started, *id))
                .collect();
            withdraw.sort_unstable_by(|a, b| b.cmp(a));
            for (_, id) in withdraw.into_iter().take(asked - waiters) {
                if let Some(held) = self.held.get_mut(&id) {
                    held.asked = false;
                }
            }
        } else if asked < waiters {
            let wanted = self.wanted_from();
            let mut candidates: Vec<(std::cmp::Reverse<usize>, Instant, u64)> = self
                .held
                .iter()
                .filter(|(_, h)| !h.asked && wanted(h.user))
                .map(|(id, h)| {
                    let busy = self.per_user.get(&h.user).copied().unwrap_or(0);
                    (std::cmp::Reverse(busy), h.started, *id)
                })
                .collect();
            candidates.sort_unstable();
            for (_, _, id) in candidates.into_iter().take(waiters - asked) {
                if let Some(held) = self.held.get_mut(&id) {
                    held.asked = true;
                    held.wake.notify_one();
                }
            }
        }
    }
}

impl Slot {
    /// Resolves when the pool wants this slot back: another user's push is
    /// waiting and this one has run for the grace. The caller should stop
    /// its push and drop the slot.
    pub async fn preempted(&self) {
        let Some(shared) = &self.shared else {
            return std::future::pending().await;
        };
        loop {
            self.wake.notified().await;
            tokio::time::sleep_until(self.started + shared.grace).await;
            let mut state = shared.lock();
            let Some(held) = state.held.get(&self.id) else {
                continue;
            };
            let (asked, user) = (held.asked, held.user);
            if asked && state.wanted_by_others(user) {
                return;
            }
            // Not needed after all (an answer freed a slot first, or only
            // this user's own pushes wait): keep the slot and wait again.
            if let Some(held) = state.held.get_mut(&self.id) {
                held.asked = false;
            }
            if asked {
                state.rebalance();
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut state = shared.lock();
            state.release(self.id);
            state.fill(&shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);
    /// Longer than any test: holders that are never asked to yield.
    const NEVER: Duration = Duration::from_secs(3600);

    fn waiting(slots: &PushSlots) -> usize {
        slots.shared.lock().waiting.len()
    }

    /// Waits until `slots` has `n` pushes waiting.
    async fn until_waiting(slots: &PushSlots, n: usize) {
        let reached = tokio::time::timeout(WAIT, async {
            while waiting(slots) != n {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(reached.is_ok(), "{} waiting, not {n}", waiting(slots));
    }

    #[tokio::test]
    async fn the_cap_holds_and_a_free_slot_goes_to_the_least_busy_user() {
        let slots = PushSlots::new(2, NEVER);
        let (a, b) = (slots.acquire(1).await, slots.acquire(1).await);
        let pool = slots.clone();
        let mine = tokio::spawn(async move { pool.acquire(1).await });
        until_waiting(&slots, 1).await;
        let pool = slots.clone();
        let theirs = tokio::spawn(async move { pool.acquire(2).await });
        until_waiting(&slots, 2).await;

        drop(a);
        // User 2 came later but has nothing in flight; user 1 still has one.
        let theirs = tokio::time::timeout(WAIT, theirs).await;
        assert!(matches!(theirs, Ok(Ok(_))), "user 2 got the slot");
        assert!(!mine.is_finished(), "the cap of 2 held");
        drop(b);
        let mine = tokio::time::timeout(WAIT, mine).await;
        assert!(matches!(mine, Ok(Ok(_))), "user 1 got the next one");
    }

    #[tokio::test]
    async fn a_hanging_push_gives_its_slot_to_another_user_after_the_grace() {
        let grace = Duration::from_millis(100);
        let slots = PushSlots::new(1, grace);
        let held = slots.acquire(1).await;
        let started = Instant::now();
        let pool = slots.clone();
        let other = tokio::spawn(async move { pool.acquire(2).await });

        let asked = tokio::time::timeout(WAIT, held.preempted()).await;
        assert!(asked.is_ok(), "the holder was never asked to yield");
        assert!(started.elapsed() >= grace, "asked before the grace");
        assert!(!other.is_finished(), "no slot before the holder lets go");
        drop(held);
        let other = tokio::time::timeout(WAIT, other).await;
        assert!(matches!(other, Ok(Ok(_))), "user 2 got the slot");
    }

    #[tokio::test]
    async fn a_users_own_waiting_push_takes_nothing_from_them() {
        let grace = Duration::from_millis(20);
        let slots = PushSlots::new(1, grace);
        let held = slots.acquire(1).await;
        let pool = slots.clone();
        let next = tokio::spawn(async move { pool.acquire(1).await });
        until_waiting(&slots, 1).await;
        let asked = tokio::time::timeout(grace * 10, held.preempted()).await;
        assert!(asked.is_err(), "asked to yield to its own user");
        drop(held);
        assert!(matches!(tokio::time::timeout(WAIT, next).await, Ok(Ok(_))));
    }

    #[tokio::test]
    async fn a_cancelled_wait_gives_the_slot_back_to_the_pool() {
        let slots = PushSlots::new(1, NEVER);
        let held = slots.acquire(1).await;
        let pool = slots.clone();
        let cancelled = tokio::spawn(async move { pool.acquire(2).await });
        until_waiting(&slots, 1).await;
        cancelled.abort();
        assert!(cancelled.await.is_err_and(|e| e.is_cancelled()));
        drop(held);
        let again = tokio::time::timeout(WAIT, slots.acquire(3)).await;
        assert!(again.is_ok(), "the slot was lost with the cancelled wait");
        assert_eq!(slots.shared.lock().held.len(), 1);
    }
}
