//! Who owns a push subscription, and how many one account may have.

mod support;

#[path = "support/push_receiver.rs"]
mod push_receiver;

use axum::http::StatusCode;
use herald_proto::api::{PushSubscription, Role};
use herald_server::config::MAX_PUSH_SUBSCRIPTIONS;
use push_receiver::PushReceiver;
use serde_json::{Value, json};
use support::{TestServer, WAIT};

async fn subscribe(
    server: &TestServer,
    token: &str,
    sub: &PushSubscription,
) -> (StatusCode, Value) {
    server.subscribe_push(token, sub).await
}

/// A server that may push to the stand-in push service on loopback.
async fn server() -> TestServer {
    TestServer::start_with(|c| c.push_allow_private = true).await
}

#[tokio::test]
async fn another_users_endpoint_cannot_be_taken_over() {
    let mut receiver = PushReceiver::start().await;
    let server = server().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let mallory = server.add_user("mallory@example.com", Role::User);
    let alice_token = server.login(&alice).await.token;
    let mallory_token = server.login(&mallory).await.token;
    server.wait_for_alert_counter("alertsPushed", 2, WAIT).await;

    let phone = receiver.subscription("alice-phone");
    assert_eq!(
        subscribe(&server, &alice_token, &phone).await.0,
        StatusCode::CREATED
    );

    // Mallory posts Alice's endpoint with keys of his own.
    let mut stolen = receiver.subscription("mallory-keys");
    stolen.endpoint = phone.endpoint.clone();
    let (status, body) = subscribe(&server, &mallory_token, &stolen).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "push_endpoint_taken");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    // Nor can he remove it.
    let deleted = server
        .http
        .delete(server.url("/api/auth/push-subscription"))
        .bearer_auth(&mallory_token)
        .json(&json!({"endpoint": phone.endpoint}))
        .send()
        .await
        .expect("unsubscribe request")
        .status();
    assert_eq!(deleted, StatusCode::NOT_FOUND);

    // Mallory's login pushes nothing; Alice's still reaches her phone, with
    // her keys (Mallory's would not decrypt there).
    server.login(&mallory).await;
    server.wait_for_alert_counter("alertsPushed", 3, WAIT).await;
    assert_eq!(
        receiver.request_count(),
        0,
        "Mallory's alert went to Alice's phone"
    );
    let login = server.login(&alice).await;
    let pushed = receiver.next(WAIT).await.expect("Alice's alert is pushed");
    let payload: Value = serde_json::from_slice(&pushed.plaintext).expect("JSON");
    assert_eq!(pushed.id, "alice-phone");
    assert_eq!(
        payload["data"]["loginId"],
        login.login_id.as_deref().unwrap_or("")
    );
    assert!(receiver.rejections().is_empty());

    // Alice herself may post it again (new keys after a browser update).
    let (status, body) = subscribe(&server, &alice_token, &phone).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn an_account_has_at_most_ten_push_subscriptions() {
    let receiver = PushReceiver::start().await;
    let server = server().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;

    let subs: Vec<_> = (0..=MAX_PUSH_SUBSCRIPTIONS)
        .map(|n| receiver.subscription(&format!("alice-{n}")))
        .collect();
    for sub in &subs[..MAX_PUSH_SUBSCRIPTIONS] {
        let (status, body) = subscribe(&server, &token, sub).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let extra = &subs[MAX_PUSH_SUBSCRIPTIONS];
    let (status, body) = subscribe(&server, &token, extra).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "too_many_push_subscriptions");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&MAX_PUSH_SUBSCRIPTIONS.to_string()),
        "{message}"
    );

    // Saving one she has again refreshes it and takes no new place.
    for sub in &subs[..3] {
        assert_eq!(subscribe(&server, &token, sub).await.0, StatusCode::CREATED);
    }
    assert_eq!(
        subscribe(&server, &token, extra).await.0,
        StatusCode::CONFLICT
    );

    // Removing one makes room.
    let deleted = server
        .http
        .delete(server.url("/api/auth/push-subscription"))
        .bearer_auth(&token)
        .json(&json!({"endpoint": subs[0].endpoint}))
        .send()
        .await
        .expect("unsubscribe request")
        .status();
    assert_eq!(deleted, StatusCode::NO_CONTENT);
    assert_eq!(
        subscribe(&server, &token, extra).await.0,
        StatusCode::CREATED
    );
}
