//! Bad input gets a clear JSON error and changes nothing.

mod support;

use herald_proto::api::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestServer;

async fn expect_error(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn last_event_id(server: &TestServer) -> u64 {
    let health: Value = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    health["lastEventId"].as_u64().expect("lastEventId")
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_content_type_is_415() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": \"a@b\", ")
        .send()
        .await
        .expect("request");
    expect_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .body("email=a")
        .send()
        .await
        .expect("request");
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let before = last_event_id(&server).await;
    let body = json!({"to": {"all": true}, "type": "notification", "title": "big", "message": "x".repeat(70 * 1024)});
    let response = server
        .http
        .post(server.url("/api/events"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .expect("request");
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(last_event_id(&server).await, before);
}

#[tokio::test]
async fn unknown_types_missing_titles_and_bad_targets_are_422_and_store_nothing() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let before = last_event_id(&server).await;
    let cases = [
        (
            json!({"to": {"user": alice.user.id}, "type": "rm_rf", "title": "t", "message": "m"}),
            "unknown_type",
        ),
        (
            json!({"to": {"user": alice.user.id}, "type": "order_update", "message": "m"}),
            "invalid_field",
        ),
        (
            json!({"to": {"user": alice.user.id}, "type": "order_update", "title": "  ", "message": "m"}),
            "missing_title",
        ),
        (
            json!({"to": {"user": alice.user.id}, "type": "order_update", "title": "x".repeat(201), "message": "m"}),
            "title_too_long",
        ),
        (
            json!({"to": {"user": 999_999}, "type": "order_update", "title": "t", "message": "m"}),
            "unknown_user",
        ),
        (
            json!({"to": {"room": "user_1"}, "type": "order_update", "title": "t", "message": "m"}),
            "unknown_room",
        ),
        (
            json!({"to": {"user": alice.user.id}, "type": "notification", "title": "t", "message": "m", "url": "javascript:alert(1)"}),
            "invalid_url",
        ),
        (
            json!({"to": {"user": alice.user.id}, "type": "notification", "title": "t", "message": "m", "data": "str"}),
            "invalid_field",
        ),
        (
            json!({"to": "everyone", "type": "notification", "title": "t", "message": "m"}),
            "invalid_field",
        ),
    ];
    for (body, code) in cases {
        let response = server
            .http
            .post(server.url("/api/events"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .expect("request");
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    assert_eq!(last_event_id(&server).await, before, "nothing stored");
}

#[tokio::test]
async fn hostile_strings_are_stored_and_returned_verbatim_as_data() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let title = "<b>bold</b> '; DROP TABLE events; --";
    let message = "<img src=x onerror=alert(1)> \u{202e} \"quotes\"";
    server
        .emit(&admin, json!({"to": {"user": alice.user.id}, "type": "notification", "title": title, "message": message}))
        .await;
    let page: Value = server
        .http
        .get(server.url("/api/notifications"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("catch-up")
        .json()
        .await
        .expect("json");
    let item = page["items"]
        .as_array()
        .and_then(|items| items.last())
        .expect("an item");
    assert_eq!(item["title"], title);
    assert_eq!(item["message"], message);
}

#[tokio::test]
async fn bad_queries_push_subscriptions_and_routes_get_json_errors() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let response = server
        .http
        .get(server.url("/api/notifications?after=-3"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    let response = server
        .http
        .post(server.url("/api/auth/push-subscription"))
        .bearer_auth(&token)
        .json(&json!({"endpoint": "ftp://x", "keys": {"p256dh": "!!", "auth": "??"}}))
        .send()
        .await
        .expect("request");
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_subscription",
    )
    .await;
    let response = server
        .http
        .get(server.url("/api/nope"))
        .send()
        .await
        .expect("request");
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = server
        .http
        .post(server.url("/api/notifications/read"))
        .bearer_auth(&token)
        .json(&json!({"ids": vec![1; 10_001]}))
        .send()
        .await
        .expect("request");
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "too_many_ids").await;
}

#[tokio::test]
async fn a_cursor_past_the_largest_id_is_400_not_500() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    for after in ["9223372036854775808", "18446744073709551615"] {
        let response = server
            .http
            .get(server.url(&format!("/api/notifications?after={after}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
    let response = server
        .http
        .get(server.url("/api/notifications?after=9223372036854775807"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_413_and_405_is_json() {
    let server = TestServer::start().await;
    let big = format!(r#"{{"refreshToken": "{}"}}"#, "x".repeat(70 * 1024));
    let response = server
        .http
        .post(server.url("/api/auth/logout"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .expect("request");
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    for path in ["/api/auth/login", "/api/auth/refresh"] {
        let response = server
            .http
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .expect("request");
        expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }
    let response = server
        .http
        .get(server.url("/api/auth/login"))
        .send()
        .await
        .expect("request");
    assert!(response.headers().contains_key("allow"));
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}
