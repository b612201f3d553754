//! Socket.IO handshake auth, rooms and isolation, with rust_socketio as the client.

mod support;

use std::collections::HashMap;

use herald_proto::api::Role;
use herald_proto::socket::ConnectErrorCode;
use serde_json::{Value, json};
use support::socket::{Seen, connect_error_payload};
use support::{SocketClient, TestServer};

/// Connects with `token`, expects a refusal with `code`; returns the error text.
async fn refused(url: &str, token: Option<&str>, code: ConnectErrorCode) -> String {
    let error = SocketClient::connect(url, token)
        .await
        .err()
        .expect("the handshake is refused");
    assert_eq!(refused_code(&error), Some(code), "{error}");
    error
}

fn refused_code(error: &str) -> Option<ConnectErrorCode> {
    ConnectErrorCode::from_connect_error(&connect_error_payload(error))
}

#[tokio::test]
async fn handshake_is_accepted_with_a_token_and_refused_with_each_code() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");
    socket.disconnect().await;

    refused(&server.url, None, ConnectErrorCode::NoToken).await;
    refused(&server.url, Some(""), ConnectErrorCode::NoToken).await;
    refused(&server.url, Some("garbage"), ConnectErrorCode::BadToken).await;

    let mut claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).expect("payload"),
        )
        .expect("base64"),
    )
    .expect("claims");
    claims["exp"] = json!(chrono::Utc::now().timestamp() - 5);
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(support::server::JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    let error = refused(&server.url, Some(&expired), ConnectErrorCode::Expired).await;
    // The message keeps a human reason after the code.
    assert!(
        connect_error_payload(&error)["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("EXPIRED: ")
    );
}

#[tokio::test]
async fn signing_out_closes_that_sessions_sockets_and_refuses_its_token() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let mut socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");
    let status = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout")
        .status();
    assert_eq!(status, 204);
    loop {
        match socket.next(support::WAIT).await {
            Some(Seen::Closed) => break,
            Some(Seen::Event { .. }) => continue,
            other => panic!("expected the server to close the socket, got {other:?}"),
        }
    }
    refused(&server.url, Some(&token), ConnectErrorCode::BadToken).await;
}

#[tokio::test]
async fn the_liveness_probe_is_acknowledged() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    socket
        .client
        .emit_with_ack(
            herald_proto::socket::names::PING,
            json!({}),
            std::time::Duration::from_secs(10),
            move |payload, _| {
                if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                    let _ = tx.send(format!("{payload:?}"));
                }
                futures_util::FutureExt::boxed(async {})
            },
        )
        .await
        .expect("emit");
    let ack = tokio::time::timeout(support::WAIT, rx)
        .await
        .expect("ack in time")
        .expect("ack");
    assert!(ack.contains("time"), "{ack}");
}

/// 50 users each get their own event; a final announcement to everyone is a
/// fence: socket order guarantees that whatever a socket got before it is all
/// it will get, so we can assert nobody saw another's event without waiting.
#[tokio::test]
async fn with_50_users_nobody_receives_another_users_event() {
    let server = TestServer::start().await;
    let admin_token = server.login(&server.admin).await.token;
    let mut clients = Vec::new();
    for i in 0..50 {
        let account = server.add_user(&format!("user{i}@example.com"), Role::User);
        let token = server.login(&account).await.token;
        let client = SocketClient::connect(&server.url, Some(&token))
            .await
            .expect("accepted");
        clients.push((account, client));
    }
    let mut sent = HashMap::new();
    for (account, _) in &clients {
        let id = server
            .emit(
                &admin_token,
                support::server::order_update(account.user.id, account.user.id),
            )
            .await;
        sent.insert(account.user.id, id);
    }
    let fence = server
        .emit(&admin_token, json!({"to": {"all": true}, "type": "announcement", "title": "fence", "message": "end"}))
        .await;
    for (account, client) in &mut clients {
        let mut received = Vec::new();
        loop {
            let (name, payload) = client.next_event().await;
            let id = payload["id"].as_u64().expect("id");
            if id == fence {
                assert_eq!(name, "announcement");
                break;
            }
            received.push((name, id));
        }
        // Each got its own login alert (if it raced the connect) and its order.
        let orders: Vec<u64> = received
            .iter()
            .filter(|(n, _)| n == "order_update")
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(
            orders,
            vec![sent[&account.user.id]],
            "user {} saw {received:?}",
            account.user.id
        );
    }
}

#[tokio::test]
async fn the_admin_room_reaches_admins_only() {
    let server = TestServer::start().await;
    let admin_token = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let alice_token = server.login(&alice).await.token;
    let mut admin_socket = SocketClient::connect(&server.url, Some(&admin_token))
        .await
        .expect("admin");
    let mut alice_socket = SocketClient::connect(&server.url, Some(&alice_token))
        .await
        .expect("alice");
    let new_order = server
        .emit(
            &admin_token,
            json!({"to": {"room": "admin"}, "type": "new_order", "title": "New order",
                   "message": "Order ord_9 from Ada", "data": {"orderId": "ord_9", "customer": "Ada", "total": 9.5}}),
        )
        .await;
    let fence = server
        .emit(&admin_token, json!({"to": {"all": true}, "type": "announcement", "title": "fence", "message": "end"}))
        .await;
    let (name, payload) = admin_socket.next_event().await;
    assert_eq!(
        (name.as_str(), payload["id"].as_u64()),
        ("new_order", Some(new_order))
    );
    assert_eq!(payload["data"]["customer"], "Ada");
    assert_eq!(payload["severity"], "success");
    let (_, payload) = admin_socket.next_event().await;
    assert_eq!(payload["id"].as_u64(), Some(fence));
    let (name, payload) = alice_socket.next_event().await;
    assert_eq!(
        (name.as_str(), payload["id"].as_u64()),
        ("announcement", Some(fence)),
        "alice skips new_order"
    );
}
