//! The login alert's slow channels: Web Push and email, off the request path.
//!
//! The login handler queues an alert and answers at once; this task sends it
//! to every saved push subscription of the user and, when SMTP is configured,
//! by email. The queue is bounded: past it an alert's push and email are
//! dropped with a warning (the Socket.IO event was already stored and sent).

use std::sync::Arc;

use herald_proto::api::User;
use herald_proto::{Envelope, LoginInfo};
use tokio::sync::mpsc;

use crate::mail::Mailer;
use crate::push::{PushSender, SendOutcome};
use crate::store::{Db, subscription};

const QUEUE: usize = 1024;

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
    tx: mpsc::Sender<LoginAlert>,
}

impl Fanout {
    /// Starts the sender task; it ends when every handle is dropped.
    pub fn start(db: Db, push: PushSender, mailer: Option<Arc<Mailer>>) -> Fanout {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, push, mailer, rx));
        Fanout { tx }
    }

    /// Queues an alert without waiting.
    pub fn queue(&self, alert: LoginAlert) {
        if let Err(e) = self.tx.try_send(alert) {
            tracing::warn!(error = %e, "the login alert queue is full; push and email skipped");
        }
    }
}

async fn run(
    db: Db,
    push: PushSender,
    mailer: Option<Arc<Mailer>>,
    mut rx: mpsc::Receiver<LoginAlert>,
) {
    while let Some(alert) = rx.recv().await {
        send_push(&db, &push, &alert).await;
        if let Some(mailer) = &mailer
            && let Err(e) = mailer
                .send_login_alert(&alert.user.email, &alert.user.name, &alert.info)
                .await
        {
            tracing::warn!(error = %e, user = alert.user.id, "cannot email the login alert");
        }
    }
}

async fn send_push(db: &Db, push: &PushSender, alert: &LoginAlert) {
    let user_id = alert.user.id;
    let subs = match db
        .call(move |conn| subscription::for_user(conn, user_id))
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
    let payload = match serde_json::to_vec(&alert.envelope) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the push payload");
            return;
        }
    };
    for sub in subs {
        match push.send(&sub, &payload).await {
            Ok(SendOutcome::Delivered) => tracing::debug!(user = user_id, "login alert pushed"),
            Ok(SendOutcome::Gone) => {
                tracing::info!(user = user_id, "push subscription gone; deleting it");
                let endpoint = sub.endpoint.clone();
                if let Err(e) = db
                    .call(move |conn| subscription::delete_endpoint(conn, &endpoint))
                    .await
                {
                    tracing::error!(error = %e, "cannot delete a gone subscription");
                }
            }
            Err(e) => tracing::warn!(error = %e, user = user_id, "cannot push the login alert"),
        }
    }
}
