//! The login alert, fanned out as the seed draws it: Socket.IO to the user's
//! other sessions, Web Push to every saved subscription (decrypted by a local
//! stand-in push service), and email to a real SMTP server on loopback.

mod support;

#[path = "support/push_receiver.rs"]
mod push_receiver;
#[path = "support/smtp_receiver.rs"]
mod smtp_receiver;

use herald_proto::api::{Role, TokenResponse};
use push_receiver::PushReceiver;
use serde_json::{Value, json};
use smtp_receiver::SmtpReceiver;
use support::{SocketClient, TestServer, WAIT};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn login_as(server: &TestServer, email: &str, user_agent: &str) -> TokenResponse {
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": support::server::PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    response.json().await.expect("token pair")
}

#[tokio::test]
async fn a_new_login_reaches_the_other_sessions_socket_and_every_push_subscription() {
    let mut receiver = PushReceiver::start().await;
    let server = TestServer::start_with(|c| {
        c.vapid_subject = "mailto:ops@example.com".into();
        // The stand-in push service is on loopback.
        c.push_allow_private = true;
    })
    .await;
    let alice = server.add_user("alice@example.com", Role::User);

    // The laptop: signed in, socket open, push subscribed.
    let laptop = server.login(&alice).await;
    let mut laptop_socket = SocketClient::connect(&server.url, Some(&laptop.token))
        .await
        .expect("accepted");
    let subscribed = server
        .http
        .post(server.url("/api/auth/push-subscription"))
        .bearer_auth(&laptop.token)
        .json(&receiver.subscription("alice-laptop"))
        .send()
        .await
        .expect("subscribe")
        .status();
    assert_eq!(subscribed, 201);
    let vapid: Value = server
        .http
        .get(server.url("/api/push/vapid-public-key"))
        .send()
        .await
        .expect("vapid key")
        .json()
        .await
        .expect("json");

    // A new login elsewhere.
    let phone = login_as(&server, "alice@example.com", FIREFOX).await;
    let login_id = phone.login_id.clone().expect("loginId");

    let (name, live) = laptop_socket.next_event().await;
    assert_eq!(name, "login_notification");
    assert_eq!(live["data"]["loginId"], login_id.as_str());
    let info = &live["data"]["loginInfo"];
    assert_eq!(info["ip"], "127.0.0.1");
    assert_eq!(info["location"], "Local network");
    assert!(
        info["device"].as_str().unwrap_or("").contains("Firefox"),
        "{info}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(info["time"].as_str().unwrap_or("")).is_ok());
    assert_eq!(live["severity"], "critical");

    let pushed = receiver.next(WAIT).await.expect("a push arrived");
    assert!(
        receiver.rejections().is_empty(),
        "the push service refused something"
    );
    assert_eq!(pushed.id, "alice-laptop");
    assert_eq!(pushed.aud, receiver.origin);
    assert_eq!(pushed.sub_claim, "mailto:ops@example.com");
    assert_eq!(
        pushed.vapid_key,
        vapid["publicKey"].as_str().expect("publicKey")
    );
    let payload: Value =
        serde_json::from_slice(&pushed.plaintext).expect("the decrypted payload is JSON");
    assert_eq!(payload, live, "push carries the same envelope as Socket.IO");
}

#[tokio::test]
async fn a_login_is_emailed_with_its_details_when_smtp_is_configured() {
    let mut smtp = SmtpReceiver::start();
    let url = smtp.url.clone();
    let server = TestServer::start_with(|c| {
        c.smtp_url = Some(url);
        c.mail_from = "Herald <alerts@example.com>".into();
    })
    .await;
    server.add_user("alice@example.com", Role::User);
    login_as(&server, "alice@example.com", FIREFOX).await;

    let mail = smtp.next(WAIT).await.expect("an email arrived");
    assert_eq!(mail.to, vec!["alice@example.com".to_owned()]);
    assert!(mail.from.contains("alerts@example.com"), "{}", mail.from);
    let body = mail.body();
    for expected in ["127.0.0.1", "Local network", "Firefox"] {
        assert!(
            body.contains(expected),
            "the email lacks {expected}: {body}"
        );
    }
}

#[tokio::test]
async fn a_push_service_that_is_down_does_not_delay_or_fail_the_login() {
    let receiver = PushReceiver::start().await;
    let server = TestServer::start_with(|c| c.push_allow_private = true).await;
    let alice = server.add_user("alice@example.com", Role::User);
    let laptop = server.login(&alice).await;
    let mut sub = receiver.subscription("nowhere");
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    sub.endpoint = format!("http://{}/push/nowhere", closed.local_addr().expect("addr"));
    drop(closed);
    let status = server
        .http
        .post(server.url("/api/auth/push-subscription"))
        .bearer_auth(&laptop.token)
        .json(&sub)
        .send()
        .await
        .expect("subscribe")
        .status();
    assert_eq!(status, 201);
    let second = login_as(&server, "alice@example.com", FIREFOX).await;
    assert!(second.login_id.is_some());
}
