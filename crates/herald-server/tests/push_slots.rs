//! The overall cap on pushes in flight cannot be held against a user: when
//! other accounts' hanging endpoints hold every slot, a new user's alert
//! waits for a slot at most `PUSH_SLOT_GRACE`, not for their 10 s timeouts.

mod support;

#[path = "support/push_net.rs"]
mod push_net;
#[path = "support/push_receiver.rs"]
mod push_receiver;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use herald_proto::api::{PushSubscription, Role};
use herald_server::config::{
    MAX_PUSH_SUBSCRIPTIONS, PUSH_IN_FLIGHT, PUSH_PER_USER, PUSH_SLOT_GRACE,
};
use push_net::Listener;
use push_receiver::PushReceiver;
use support::{Account, TestServer, WAIT};

/// Three times the accounts it takes, at their per-user share, to hold every
/// slot: so most of their pushes wait for slots too, the slots never free
/// up, and a first-come queue would put Alice behind two rounds of theirs.
const HOLDERS: usize = 3 * PUSH_IN_FLIGHT / PUSH_PER_USER;

/// The grace, plus the alert's own path: the login, its lane, one push over
/// loopback and its decryption. With a plain semaphore the alert waited for
/// rounds of the holders' 10 s timeouts (9 s behind 16 accounts, 19 s behind
/// 32); without the grace, 9 s; served first come, 4 s.
const MAX_DELAY: Duration = PUSH_SLOT_GRACE.saturating_add(Duration::from_secs(1));

async fn subscribe(server: &TestServer, token: &str, sub: &PushSubscription) {
    let (status, body) = server.subscribe_push(token, sub).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn accounts_holding_every_push_slot_delay_another_users_alert_only_briefly() {
    let mut receiver = PushReceiver::start().await;
    let hole = Listener::silent().await;
    let server = TestServer::start_with(|c| c.push_allow_private = true).await;
    let alice = server.add_user("alice@example.com", Role::User);
    let holders: Vec<Account> = (0..HOLDERS)
        .map(|n| server.add_user(&format!("holder{n}@example.com"), Role::User))
        .collect();

    // Sign everyone in before any endpoint exists, and let those alerts
    // finish, so that no push starts before the holders all push at once.
    let alice_token = server.login(&alice).await.token;
    let mut tokens = Vec::new();
    for holder in &holders {
        tokens.push(server.login(holder).await.token);
    }
    let quiet = 1 + HOLDERS as u64;
    server
        .wait_for_alert_counter("alertsPushed", quiet, WAIT)
        .await;
    subscribe(&server, &alice_token, &receiver.subscription("alice-phone")).await;
    for (holder, token) in holders.iter().zip(&tokens) {
        for n in 0..MAX_PUSH_SUBSCRIPTIONS {
            let mut sub = receiver.subscription(&format!("hole-{}-{n}", holder.user.id));
            sub.endpoint = hole.url(&format!("/push/{}-{n}", holder.user.id));
            subscribe(&server, token, &sub).await;
        }
    }

    // Every holder signs in again: ten hanging pushes each, four at a time,
    // so together they want three times the slots, each for up to 10 s.
    for holder in &holders {
        server.login(holder).await;
    }
    hole.wait_for_connections(PUSH_IN_FLIGHT, WAIT).await;

    let started = Instant::now();
    let login_id = server.login(&alice).await.login_id.expect("loginId");
    let pushed = receiver.push_for_login(&login_id, started + WAIT).await;
    let delay = started.elapsed();
    assert!(pushed.is_some(), "Alice's alert never came");
    eprintln!("alert delay behind {HOLDERS} accounts holding every push slot: {delay:?}");
    assert!(
        delay <= MAX_DELAY,
        "Alice's alert took {delay:?} behind {HOLDERS} accounts' hanging endpoints"
    );
    // Her push got its slot from a hanging one, not from a raised cap.
    assert!(server.alert_counter("pushesPreempted").await >= 1);
    assert_eq!(server.alert_counter("pushesDelivered").await, 1);
}
