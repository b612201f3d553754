//! Push endpoints come from users: the server must never be made to POST to
//! its own loopback, its private network or the cloud metadata address,
//! whether the endpoint names the address, names a host that resolves to it,
//! or names a host that resolved publicly when saved and privately later.

mod support;

#[path = "support/push_net.rs"]
mod push_net;

use std::sync::Arc;

use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_proto::api::{PushKeys, PushSubscription, Role};
use herald_server::push::{
    EndpointGuard, EndpointRefused, PushError, PushSender, SystemResolver, Vapid,
};
use push_net::{Listener, TestDns};
use serde_json::Value;
use support::{TestServer, WAIT};

/// A public address the tests' DNS hands out; nothing ever connects to it,
/// because every test turns it private (or never sends) before a push.
const PUBLIC: &str = "93.184.215.14";

/// A subscription to `endpoint` with valid browser keys.
fn subscription(endpoint: &str) -> PushSubscription {
    PushSubscription {
        endpoint: endpoint.to_string(),
        keys: PushKeys {
            // Any P-256 point will do.
            p256dh: Vapid::generate().public_key_b64(),
            auth: URL_SAFE_NO_PAD.encode([7u8; 16]),
        },
    }
}

async fn subscribe(server: &TestServer, token: &str, endpoint: &str) -> (StatusCode, Value) {
    let response = server
        .http
        .post(server.url("/api/auth/push-subscription"))
        .bearer_auth(token)
        .json(&subscription(endpoint))
        .send()
        .await
        .expect("subscribe request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn server_with(dns: &Arc<TestDns>) -> TestServer {
    let dns = dns.clone();
    TestServer::start_with(move |c| c.push_resolver = dns).await
}

#[tokio::test]
async fn subscriptions_to_private_addresses_are_refused_with_400() {
    let target = Listener::closing().await;
    let port = target.addr.port();
    let dns = TestDns::new();
    dns.set("metadata.test", &["169.254.169.254"]);
    dns.set("intranet.test", &["10.20.30.40"]);
    dns.set("loopback6.test", &["::1"]);
    dns.set("mostly-public.test", &[PUBLIC, "192.168.0.10"]);
    dns.set("push.test", &[PUBLIC]);
    let server = server_with(&dns).await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;

    for endpoint in [
        target.url("/internal/admin"),
        "http://10.0.0.5/push/x".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        format!("http://[::1]:{port}/push/x"),
        "http://[::ffff:127.0.0.1]/push/x".into(),
        "http://0x7f000001/push/x".into(),
        format!("http://localhost:{port}/push/x"),
        "https://metadata.test/latest/meta-data/".into(),
        "https://intranet.test/push/x".into(),
        "https://loopback6.test/push/x".into(),
        "https://mostly-public.test/push/x".into(),
    ] {
        let (status, body) = subscribe(&server, &token, &endpoint).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{endpoint}: {body}");
        assert_eq!(
            body["error"]["code"], "push_endpoint_not_public",
            "{endpoint}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("not a public address"), "{message}");
    }
    assert!(
        dns.lookups("metadata.test") >= 1,
        "the injected DNS was asked"
    );

    let (status, body) = subscribe(&server, &token, "https://push.test/push/ok").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        target.connections_before_probe(WAIT).await,
        0,
        "checking an endpoint must not connect to it"
    );
}

#[tokio::test]
async fn a_name_that_turns_private_after_it_was_saved_is_never_connected_to() {
    let target = Listener::closing().await;
    // `localhost`, so that a client which asked the system resolver instead
    // of the vetted one would reach the target.
    let dns = TestDns::new();
    dns.set("localhost", &[PUBLIC]);
    let server = server_with(&dns).await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    // That login's alert found no subscription; let it finish first.
    server.wait_for_alert_counter("alertsPushed", 1, WAIT).await;

    let endpoint = format!("http://localhost:{}/internal/x", target.addr.port());
    let (status, body) = subscribe(&server, &token, &endpoint).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // DNS now points the saved name at the server's own loopback.
    dns.set("localhost", &["127.0.0.1"]);
    server.login(&alice).await;
    server.wait_for_alert_counter("alertsPushed", 2, WAIT).await;

    assert_eq!(server.alert_counter("pushesBlocked").await, 1);
    assert_eq!(server.alert_counter("pushesDelivered").await, 0);
    assert!(
        dns.lookups("localhost") >= 2,
        "resolved when saved and when sent"
    );
    assert_eq!(target.connections_before_probe(WAIT).await, 0);
}

/// A subscription that got in before the check (an older server saved it):
/// the send-time check alone must stop it.
#[tokio::test]
async fn a_stored_loopback_subscription_is_not_posted_to() {
    let target = Listener::closing().await;
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    server.login(&alice).await;
    server.wait_for_alert_counter("alertsPushed", 1, WAIT).await;

    let sub = subscription(&target.url("/internal/x"));
    let db = rusqlite::Connection::open(server.config.data_dir.join("herald.db"))
        .expect("open the database");
    db.busy_timeout(WAIT).expect("busy timeout");
    db.execute(
        "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)
         VALUES (?1, ?2, ?3, ?4, 0)",
        rusqlite::params![sub.endpoint, alice.user.id, sub.keys.p256dh, sub.keys.auth],
    )
    .expect("store the subscription");

    server.login(&alice).await;
    server.wait_for_alert_counter("alertsPushed", 2, WAIT).await;
    assert_eq!(server.alert_counter("pushesBlocked").await, 1);
    assert_eq!(target.connections_before_probe(WAIT).await, 0);
}

#[tokio::test]
async fn the_default_sender_refuses_private_addresses_before_connecting() {
    let target = Listener::closing().await;
    let sender = PushSender::new(Arc::new(Vapid::generate()), "mailto:ops@example.com")
        .expect("a push client");
    for endpoint in [
        target.url("/push/x"),
        // Through the client's resolver, not the address check.
        format!("http://localhost:{}/push/x", target.addr.port()),
    ] {
        match sender.send(&subscription(&endpoint), b"hi").await {
            Err(PushError::Destination(EndpointRefused::NotPublic { addr, .. })) => {
                assert!(addr.is_loopback(), "{endpoint}: {addr}");
            }
            other => panic!("{endpoint}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(target.connections_before_probe(WAIT).await, 0);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Listener::closing().await;
    let location = target.url("/internal/x");
    let app = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the redirector");
    let redirector = format!("http://{}/push/x", listener.local_addr().expect("address"));
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    // Loopback allowed, as for an internal push gateway: only the redirect
    // policy stands between the push and the target.
    let guard = EndpointGuard::new(Arc::new(SystemResolver), true);
    let sender =
        PushSender::with_guard(Arc::new(Vapid::generate()), "mailto:ops@example.com", guard)
            .expect("a push client");
    match sender.send(&subscription(&redirector), b"hi").await {
        Err(PushError::Refused { status: 307, .. }) => {}
        other => panic!("expected the 307 as a refusal, got {other:?}"),
    }
    assert_eq!(target.connections_before_probe(WAIT).await, 0);
    serving.abort();
}
