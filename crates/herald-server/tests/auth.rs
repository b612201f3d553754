//! Login, refresh rotation, logout and token checks over real HTTP.

mod support;

use std::time::Duration;

use herald_proto::api::{Role, TokenResponse};
use herald_server::LoginLimit;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestServer;

async fn post(server: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    let response = server
        .http
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn login_returns_a_token_pair_and_the_user() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let tokens = server.login(&alice).await;
    let user = tokens.user.expect("user");
    assert_eq!(user.email, "alice@example.com");
    assert_eq!(user.role, Role::User);
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.login_id.is_some());
    let expires =
        chrono::DateTime::parse_from_rfc3339(tokens.expires_at.as_deref().expect("expiresAt"))
            .expect("RFC 3339");
    let life = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!(
        (14 * 60..=15 * 60).contains(&life),
        "15 min access token, got {life} s"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let server = TestServer::start().await;
    server.add_user("alice@example.com", Role::User);
    let (s1, b1) = post(
        &server,
        "/api/auth/login",
        json!({"email": "alice@example.com", "password": "wrong-password"}),
    )
    .await;
    let (s2, b2) = post(
        &server,
        "/api/auth/login",
        json!({"email": "nobody@example.com", "password": "wrong-password"}),
    )
    .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(b1["error"]["code"], "invalid_credentials");
}

#[tokio::test]
async fn too_many_failures_per_ip_and_email_get_429_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.login_limit = LoginLimit {
            max_failures: 3,
            window: Duration::from_secs(600),
            ..LoginLimit::default()
        }
    })
    .await;
    let alice = server.add_user("alice@example.com", Role::User);
    let bad = json!({"email": "alice@example.com", "password": "nope-nope"});
    for _ in 0..3 {
        assert_eq!(
            post(&server, "/api/auth/login", bad.clone()).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&bad)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=600).contains(&retry));
    // Even the right password waits now: the limit is checked first.
    let good = json!({"email": alice.user.email, "password": alice.password});
    assert_eq!(
        post(&server, "/api/auth/login", good).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another email from the same IP is not affected.
    let admin = json!({"email": server.admin.user.email, "password": server.admin.password});
    assert_eq!(
        post(&server, "/api/auth/login", admin).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_the_session() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let first = server.login(&alice).await;
    let r1 = first.refresh_token.clone().expect("refresh token");

    let (status, body) = post(&server, "/api/auth/refresh", json!({"refreshToken": r1})).await;
    assert_eq!(status, StatusCode::OK);
    let second: TokenResponse = serde_json::from_value(body).expect("token pair");
    let r2 = second.refresh_token.clone().expect("rotated");
    assert_ne!(r1, r2);
    assert_eq!(
        catch_up_status(&server, &second.token).await,
        StatusCode::OK
    );

    // The old one again: refused, and the whole session with it.
    let (status, body) = post(&server, "/api/auth/refresh", json!({"refreshToken": r1})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "refresh_token_reused");
    let (status, _) = post(&server, "/api/auth/refresh", json!({"refreshToken": r2})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        catch_up_status(&server, &second.token).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn catch_up_status(server: &TestServer, token: &str) -> StatusCode {
    server
        .http
        .get(server.url("/api/notifications"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
}

#[tokio::test]
async fn logout_revokes_the_access_and_refresh_tokens_and_keeps_other_sessions() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let laptop = server.login(&alice).await;
    let phone = server.login(&alice).await;
    let response = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&laptop.token)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = server
        .http
        .get(server.url("/api/notifications"))
        .bearer_auth(&laptop.token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "token_revoked");
    let (status, _) = post(
        &server,
        "/api/auth/refresh",
        json!({"refreshToken": laptop.refresh_token}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(catch_up_status(&server, &phone.token).await, StatusCode::OK);

    // Logging out by refresh token alone works too.
    let (status, _) = post(
        &server,
        "/api/auth/logout",
        json!({"refreshToken": phone.refresh_token}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        catch_up_status(&server, &phone.token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forged_expired_and_unsigned_tokens_get_401() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let good = server.login(&alice).await.token;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(good.split('.').nth(1).expect("payload"))
            .expect("base64"),
    )
    .expect("claims");

    let sign = |claims: &Value, secret: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .expect("sign")
    };
    let wrong_key = sign(&claims, b"another-secret-another-secret-another-secret");
    let mut stale = claims.clone();
    stale["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    let expired = sign(&stale, support::server::JWT_SECRET.as_bytes());
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        good.split('.').nth(1).expect("payload")
    );
    for (token, code) in [
        (wrong_key.as_str(), "invalid_token"),
        (expired.as_str(), "token_expired"),
        (none.as_str(), "invalid_token"),
        ("not-a-jwt", "invalid_token"),
    ] {
        let response = server
            .http
            .get(server.url("/api/notifications"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{code}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], code);
    }
    let response = server
        .http
        .get(server.url("/api/notifications"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_admins_may_emit() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let response = server
        .http
        .post(server.url("/api/events"))
        .bearer_auth(&token)
        .json(&support::server::order_update(alice.user.id, 1))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");
}

#[tokio::test]
async fn bad_tokens_get_one_fixed_sentence_not_the_parsers_words() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use herald_proto::socket::ConnectErrorCode;
    use support::SocketClient;
    use support::socket::connect_error_payload;
    const SENTENCE: &str = "the access token is not valid";
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let good = server.login(&alice).await.token;
    let payload = good.split('.').nth(1).expect("payload");
    let bad = [
        // alg "none": serde's "unknown variant `none`".
        format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        ),
        // Not base64: "Base64 error: Invalid last symbol".
        format!("{}.{payload}.x", good.split('.').next().unwrap_or("")),
        "not-a-jwt".to_owned(),
        "a.b.c".to_owned(),
    ];
    for token in &bad {
        let response = server
            .http
            .get(server.url("/api/notifications"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid_token", "{token}");
        assert_eq!(body["error"]["message"], SENTENCE, "{token}");

        let error = SocketClient::connect(&server.url, Some(token))
            .await
            .err()
            .expect("the handshake is refused");
        let refusal = connect_error_payload(&error);
        assert_eq!(
            ConnectErrorCode::from_connect_error(&refusal),
            Some(ConnectErrorCode::BadToken)
        );
        assert_eq!(
            refusal["message"],
            format!("BAD_TOKEN: {SENTENCE}"),
            "{token}"
        );
    }
}
