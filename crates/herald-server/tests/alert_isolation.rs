//! One user's login alerts cannot delay or drop another's: push endpoints
//! that hang hold only their own user's share of the push slots, a flood of
//! logins sheds only the flooder's alerts, and email never waits for push.

mod support;

#[path = "support/push_net.rs"]
mod push_net;
#[path = "support/push_receiver.rs"]
mod push_receiver;
#[path = "support/smtp_receiver.rs"]
mod smtp_receiver;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use herald_proto::api::{PushSubscription, Role};
use herald_server::config::MAX_PUSH_SUBSCRIPTIONS;
use push_net::Listener;
use push_receiver::PushReceiver;
use smtp_receiver::SmtpReceiver;
use support::{Account, TestServer, WAIT};

/// The longest another user's slow endpoints may delay an alert. Before the
/// fix the alert waited for every earlier push, 10 s for each that hung.
const MAX_DELAY: Duration = Duration::from_secs(2);

async fn subscribe(server: &TestServer, token: &str, sub: &PushSubscription) {
    let (status, body) = server.subscribe_push(token, sub).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Gives `account` the most subscriptions allowed, all to `hole`, which
/// accepts and never answers.
async fn subscribe_to_hole(
    server: &TestServer,
    receiver: &PushReceiver,
    account: &Account,
    hole: &Listener,
) -> String {
    let token = server.login(account).await.token;
    for n in 0..MAX_PUSH_SUBSCRIPTIONS {
        let mut sub = receiver.subscription(&format!("hole-{}-{n}", account.user.id));
        sub.endpoint = hole.url(&format!("/push/{}-{n}", account.user.id));
        subscribe(server, &token, &sub).await;
    }
    token
}

#[tokio::test]
async fn another_users_hanging_endpoints_do_not_delay_an_alert() {
    let mut receiver = PushReceiver::start().await;
    let hole = Listener::silent().await;
    let server = TestServer::start_with(|c| {
        c.push_allow_private = true;
        // Small, so that Mallory's logins below overflow his own queue.
        c.fanout.pending_per_user = 2;
    })
    .await;
    let alice = server.add_user("alice@example.com", Role::User);
    let mallory = server.add_user("mallory@example.com", Role::User);
    let alice_token = server.login(&alice).await.token;
    subscribe(&server, &alice_token, &receiver.subscription("alice-phone")).await;
    subscribe_to_hole(&server, &receiver, &mallory, &hole).await;

    // Mallory signs in again and again: each alert would hang on all ten.
    for _ in 0..5 {
        server.login(&mallory).await;
    }
    hole.wait_for_connections(1, WAIT).await;

    let started = Instant::now();
    let login = server.login(&alice).await;
    let login_id = login.login_id.expect("loginId");
    let pushed = receiver.push_for_login(&login_id, started + WAIT).await;
    let delay = started.elapsed();
    assert!(pushed.is_some(), "Alice's alert never came");
    assert!(
        delay <= MAX_DELAY,
        "Alice's alert took {delay:?} behind Mallory's endpoints"
    );
    eprintln!("alert delay behind another user's hanging endpoints: {delay:?}");
    // Mallory flooded his own queue, and only his.
    assert!(server.alert_counter("pushAlertsShed").await >= 1);
    assert!(
        hole.accepted() <= herald_server::config::PUSH_PER_USER,
        "Mallory held {} push slots",
        hole.accepted()
    );
}

#[tokio::test]
async fn email_does_not_wait_for_the_users_own_hanging_pushes() {
    let mut smtp = SmtpReceiver::start();
    let receiver = PushReceiver::start().await;
    let hole = Listener::silent().await;
    let url = smtp.url.clone();
    let server = TestServer::start_with(move |c| {
        c.push_allow_private = true;
        c.smtp_url = Some(url);
    })
    .await;
    let alice = server.add_user("alice@example.com", Role::User);
    subscribe_to_hole(&server, &receiver, &alice, &hole).await;
    // The email of that first login, before her subscriptions existed.
    smtp.next(WAIT).await.expect("the first login's email");

    let started = Instant::now();
    server.login(&alice).await;
    hole.wait_for_connections(1, WAIT).await;
    let mail = smtp.next(WAIT).await;
    let delay = started.elapsed();
    assert!(mail.is_some(), "the second login's email never came");
    assert!(
        delay <= MAX_DELAY,
        "the email took {delay:?} behind the pushes"
    );
    eprintln!("email delay behind the user's own hanging pushes: {delay:?}");
}
