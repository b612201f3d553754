//! The login alert's slow channels: Web Push and email, off the request path.
//!
//! The login handler queues an alert and answers at once. Each channel keeps
//! a queue per user ([`Lanes`]), so a user whose push endpoints hang, or who
//! logs in a thousand times, delays and sheds only their own alerts. Pushes
//! go out concurrently: at most [`FanoutLimits::push_per_user`] for one user
//! and [`FanoutLimits::push_in_flight`] in all, shared by [`PushSlots`] so
//! that other users' hanging pushes hold a slot from a waiting user for at
//! most [`PUSH_SLOT_GRACE`]. Email has its own lanes and
//! its own bound, so it never waits behind a push. (The Socket.IO event was
//! stored and sent before any of this.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_proto::api::{PushSubscription, User};
use herald_proto::{Envelope, LoginInfo};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{FanoutLimits, MAX_PUSH_SUBSCRIPTIONS, PUSH_SLOT_GRACE};
use crate::lanes::{Handler, Lanes};
use crate::mail::Mailer;
use crate::push::{EndpointRefused, PushError, PushSender, SendOutcome};
use crate::push_slots::{PushSlots, Slot};
use crate::store::Db;

/// One login to tell the user about.
#[derive(Debug, Clone)]
pub struct LoginAlert {
    pub user: User,
    pub info: LoginInfo,
    /// The stored `login_notification`, which is also the push payload.
    pub envelope: Envelope,
}

#[derive(Debug, Clone)]
pub struct Fanout {
    push: Lanes<Arc<LoginAlert>>,
    mail: Option<Lanes<Arc<LoginAlert>>>,
    stats: Arc<Stats>,
}

/// Counters for `/healthz`, and for tests to wait on.
#[derive(Debug, Default)]
struct Stats {
    alerts_pushed: AtomicU64,
    pushes_delivered: AtomicU64,
    pushes_gone: AtomicU64,
    pushes_failed: AtomicU64,
    pushes_blocked: AtomicU64,
    pushes_preempted: AtomicU64,
    alerts_mailed: AtomicU64,
    mails_failed: AtomicU64,
}

/// What the login alert channels have done so far.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FanoutSnapshot {
    /// Alerts whose every push has finished, whatever became of it.
    pub alerts_pushed: u64,
    pub pushes_delivered: u64,
    /// Pushes the push service answered 404 or 410; the subscription is deleted.
    pub pushes_gone: u64,
    pub pushes_failed: u64,
    /// Pushes not sent because the endpoint resolved to a non-public address.
    pub pushes_blocked: u64,
    /// Pushes that had no answer within the grace while another user's push
    /// waited for a slot, and so gave theirs up (not retried).
    pub pushes_preempted: u64,
    /// Alerts whose pushes were dropped because their user had too many waiting.
    pub push_alerts_shed: u64,
    pub alerts_mailed: u64,
    pub mails_failed: u64,
    pub mail_alerts_shed: u64,
}

struct PushWork {
    db: Db,
    sender: PushSender,
    slots: PushSlots,
    per_user: usize,
    stats: Arc<Stats>,
}

impl Fanout {
    pub fn start(
        db: Db,
        sender: PushSender,
        mailer: Option<Arc<Mailer>>,
        limits: FanoutLimits,
    ) -> Fanout {
        let stats = Arc::new(Stats::default());
        let work = Arc::new(PushWork {
            db,
            sender,
            slots: PushSlots::new(limits.push_in_flight, PUSH_SLOT_GRACE),
            per_user: limits.push_per_user.max(1),
            stats: stats.clone(),
        });
        let push_alert: Handler<Arc<LoginAlert>> =
            Arc::new(move |alert| Box::pin(push_alert(work.clone(), alert)));
        let mail = mailer.map(|mailer| {
            let in_flight = Arc::new(Semaphore::new(limits.mail_in_flight.max(1)));
            let stats = stats.clone();
            let mail_alert: Handler<Arc<LoginAlert>> = Arc::new(move |alert| {
                Box::pin(mail_alert(
                    mailer.clone(),
                    in_flight.clone(),
                    stats.clone(),
                    alert,
                ))
            });
            Lanes::new("email", limits.pending_per_user, mail_alert)
        });
        Fanout {
            push: Lanes::new("push", limits.pending_per_user, push_alert),
            mail,
            stats,
        }
    }

    /// Queues an alert on its user's push and email lanes, without waiting.
    pub fn queue(&self, alert: LoginAlert) {
        let user = alert.user.id;
        let alert = Arc::new(alert);
        if let Some(mail) = &self.mail {
            mail.push(user, alert.clone());
        }
        self.push.push(user, alert);
    }

    pub fn snapshot(&self) -> FanoutSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let s = &self.stats;
        FanoutSnapshot {
            alerts_pushed: get(&s.alerts_pushed),
            pushes_delivered: get(&s.pushes_delivered),
            pushes_gone: get(&s.pushes_gone),
            pushes_failed: get(&s.pushes_failed),
            pushes_blocked: get(&s.pushes_blocked),
            pushes_preempted: get(&s.pushes_preempted),
            push_alerts_shed: self.push.shed(),
            alerts_mailed: get(&s.alerts_mailed),
            mails_failed: get(&s.mails_failed),
            mail_alerts_shed: self.mail.as_ref().map_or(0, Lanes::shed),
        }
    }
}

async fn mail_alert(
    mailer: Arc<Mailer>,
    in_flight: Arc<Semaphore>,
    stats: Arc<Stats>,
    alert: Arc<LoginAlert>,
) {
    let Ok(_slot) = in_flight.acquire_owned().await else {
        return;
    };
    match mailer
        .send_login_alert(&alert.user.email, &alert.user.name, &alert.info)
        .await
    {
        Ok(()) => stats.alerts_mailed.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            tracing::warn!(error = %e, user = alert.user.id, "cannot email the login alert");
            stats.mails_failed.fetch_add(1, Ordering::Relaxed)
        }
    };
}

/// Pushes one alert to the user's subscriptions, a few at a time, and
/// returns when every push has finished.
async fn push_alert(work: Arc<PushWork>, alert: Arc<LoginAlert>) {
    send_pushes(&work, &alert).await;
    work.stats.alerts_pushed.fetch_add(1, Ordering::Relaxed);
}

async fn send_pushes(work: &Arc<PushWork>, alert: &LoginAlert) {
    let user_id = alert.user.id;
    let subs = match work
        .db
        .subscriptions_for(user_id, MAX_PUSH_SUBSCRIPTIONS)
        .await
    {
        Ok(subs) => subs,
        Err(e) => {
            tracing::error!(error = %e, "cannot read push subscriptions");
            return;
        }
    };
    if subs.is_empty() {
        return;
    }
    let payload: Arc<[u8]> = match serde_json::to_vec(&alert.envelope) {
        Ok(payload) => payload.into(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the push payload");
            return;
        }
    };
    // A user's lane handles one alert at a time, so this bounds the user.
    let mine = Arc::new(Semaphore::new(work.per_user));
    let mut pushes = JoinSet::new();
    for sub in subs {
        let (work, mine, payload) = (work.clone(), mine.clone(), payload.clone());
        pushes.spawn(async move {
            // The user's own slot first: their waiting pushes hold no shared one.
            let Ok(_mine) = mine.acquire_owned().await else {
                return;
            };
            let slot = work.slots.acquire(user_id).await;
            push_one(&work, user_id, &sub, &payload, &slot).await;
        });
    }
    while pushes.join_next().await.is_some() {}
}

async fn push_one(
    work: &PushWork,
    user_id: u64,
    sub: &PushSubscription,
    payload: &[u8],
    slot: &Slot,
) {
    let stats = &work.stats;
    let sent = tokio::select! {
        sent = work.sender.send(sub, payload) => sent,
        () = slot.preempted() => {
            let before = stats.pushes_preempted.fetch_add(1, Ordering::Relaxed);
            // Under an attack this happens dozens of times a second: log the
            // first and then every 1,000th; /healthz has the exact count.
            if before.is_multiple_of(1000) {
                tracing::warn!(
                    user = user_id,
                    grace = ?PUSH_SLOT_GRACE,
                    preempted = before + 1,
                    "a push had no answer within the grace while another user's push waited; gave up its slot (logged for the first and every 1,000th)"
                );
            }
            return;
        }
    };
    match sent {
        Ok(SendOutcome::Delivered) => {
            stats.pushes_delivered.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(user = user_id, "login alert pushed");
        }
        Ok(SendOutcome::Gone) => {
            stats.pushes_gone.fetch_add(1, Ordering::Relaxed);
            tracing::info!(user = user_id, "push subscription gone; deleting it");
            if let Err(e) = work.db.delete_subscription(user_id, &sub.endpoint).await {
                tracing::error!(error = %e, "cannot delete a gone subscription");
            }
        }
        Err(PushError::Destination(e @ EndpointRefused::NotPublic { .. })) => {
            // Kept: it passed when saved, so this may be DNS being played.
            stats.pushes_blocked.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, user = user_id, "refused to push to a non-public address");
        }
        Err(e) => {
            stats.pushes_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, user = user_id, "cannot push the login alert");
        }
    }
}
