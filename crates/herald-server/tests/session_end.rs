//! A session that ends takes its sockets with it: signing out with an expired
//! access token, a refresh token's reuse, and an access token's expiry.

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_proto::api::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::socket::Seen;
use support::{SocketClient, TestServer};

/// `token` re-signed with the test secret, its `exp` a minute ago.
fn expired_copy(token: &str) -> String {
    let mut claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("payload"))
            .expect("base64"),
    )
    .expect("claims");
    claims["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(support::server::JWT_SECRET.as_bytes()),
    )
    .expect("sign")
}

async fn refresh(server: &TestServer, token: &str) -> (StatusCode, Value) {
    let response = server
        .http
        .post(server.url("/api/auth/refresh"))
        .json(&json!({"refreshToken": token}))
        .send()
        .await
        .expect("refresh");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits for the server to close `socket`; fails if an event with `id`
/// arrives first, or if nothing closes it within `within`.
async fn expect_closed(socket: &mut SocketClient, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match socket.next(left).await {
            Some(Seen::Closed) => return,
            Some(Seen::Event { name, payload }) if payload.get("id").is_some() => {
                panic!("an ended session's socket received {name} {payload}")
            }
            Some(_) => continue,
            None => panic!("the socket was still open after {within:?}"),
        }
    }
}

#[tokio::test]
async fn signing_out_with_an_expired_access_token_ends_the_session_and_its_socket() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let tokens = server.login(&alice).await;
    let refresh_token = tokens.refresh_token.clone().expect("refresh token");
    let mut socket = SocketClient::connect(&server.url, Some(&tokens.token))
        .await
        .expect("accepted");
    let response = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth(expired_copy(&tokens.token))
        .json(&json!({"refreshToken": refresh_token}))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = refresh(&server, &refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    expect_closed(&mut socket, support::WAIT).await;

    // A bearer that is not even a token does not keep a session alive either.
    let other = server.login(&alice).await;
    let response = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth("garbage")
        .json(&json!({"refreshToken": other.refresh_token}))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = refresh(&server, other.refresh_token.as_deref().unwrap_or("")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reused_refresh_token_disconnects_its_sessions_sockets() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let laptop = server.login(&alice).await;
    let phone = server.login(&alice).await;
    let mut laptop_socket = SocketClient::connect(&server.url, Some(&laptop.token))
        .await
        .expect("accepted");
    let mut phone_socket = SocketClient::connect(&server.url, Some(&phone.token))
        .await
        .expect("accepted");
    let stolen = laptop.refresh_token.clone().expect("refresh token");
    assert_eq!(refresh(&server, &stolen).await.0, StatusCode::OK);
    let (status, body) = refresh(&server, &stolen).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "refresh_token_reused");

    let id = server
        .emit(&admin, support::server::order_update(alice.user.id, 1))
        .await;
    // The other session hears it; the revoked one is closed and hears nothing.
    loop {
        let (name, payload) = phone_socket.next_event().await;
        if payload["id"] == id {
            assert_eq!(name, "order_update");
            break;
        }
    }
    expect_closed(&mut laptop_socket, support::WAIT).await;
}

#[tokio::test]
async fn a_socket_is_disconnected_when_its_access_token_expires() {
    const TTL: Duration = Duration::from_secs(2);
    let server = TestServer::start_with(|c| c.access_ttl = TTL).await;
    let alice = server.add_user("alice@example.com", Role::User);
    let tokens = server.login(&alice).await;
    let mut socket = SocketClient::connect(&server.url, Some(&tokens.token))
        .await
        .expect("accepted");
    let exp =
        chrono::DateTime::parse_from_rfc3339(tokens.expires_at.as_deref().expect("expiresAt"))
            .expect("RFC 3339")
            .timestamp_millis();
    // Closed at exp + the stated slack, with a margin for a loaded machine.
    let margin = Duration::from_secs(2);
    let left = u64::try_from(exp - chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let bound = Duration::from_millis(left) + herald_server::socket::EXPIRY_SLACK + margin;
    expect_closed(&mut socket, bound).await;
    let closed_at = chrono::Utc::now().timestamp_millis();
    assert!(
        closed_at >= exp - 50,
        "closed {} ms before expiry",
        exp - closed_at
    );
}
