//! Herald against the seed's own stack (Node, Express, socket.io v4) with only
//! the seed's contract: no ids, no catch-up, no refresh. Hostile payloads too.

use std::time::Duration;

use herald_system_tests::WAIT;
use herald_system_tests::client::{Herald, Line};
use herald_system_tests::desktop::NotifyMonitor;
use herald_system_tests::seed::SeedServer;
use serde_json::json;

#[tokio::test]
async fn sign_in_events_and_notifications_work_and_the_missing_catch_up_is_said() {
    let seed = SeedServer::start("1h").await;
    let herald = Herald::new("seed");
    let login = herald
        .login(&seed.url, "alice@example.com", "alice-password")
        .await;
    assert!(login.status.success(), "{}", login.stderr);
    let mut monitor = NotifyMonitor::start().await;
    let mut listen = herald.listen(&["--json"]);
    listen.wait_status("Connected").await;
    listen
        .wait_line(
            "the catch-up warning",
            |l| matches!(l, Line::Err(e) if e.contains("catch-up unavailable")),
        )
        .await;

    seed.emit(
        "user_u1",
        "order_update",
        json!({"orderId": "ord_1", "status": "shipped"}),
    )
    .await;
    let item = listen.items(1).await.remove(0);
    assert_eq!(
        item["message"], "Order ord_1 shipped",
        "Herald words the seed's terse event"
    );
    assert_eq!(item["serverId"], serde_json::Value::Null);
    let call = monitor.next(WAIT).await.expect("a Notify call");
    assert_eq!(
        (call.summary.as_str(), call.body.as_str()),
        ("Order update", "Order ord_1 shipped")
    );

    // The seed's login alert, from another sign-in.
    let _ = reqwest::Client::new()
        .post(format!("{}/api/auth/login", seed.url))
        .json(&json!({"email": "alice@example.com", "password": "alice-password"}))
        .send()
        .await
        .expect("second login");
    listen
        .item_where("the login alert", |i| i["kind"] == "login_notification")
        .await;
    let call = monitor.next(WAIT).await.expect("the login alert");
    assert!(call.actions.iter().any(|a| a == "View Details"), "{call:?}");
    let (status, _) = listen.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn an_expired_seed_token_signs_out_with_the_reason() {
    let seed = SeedServer::start("3s").await;
    let herald = Herald::new("expiry");
    herald
        .login_ok(&seed.url, "alice@example.com", "alice-password")
        .await;
    let mut listen = herald.listen(&["--no-desktop"]);
    listen.wait_status("Connected").await;
    let (status, lines) = tokio::time::timeout(Duration::from_secs(20), listen.finish())
        .await
        .expect("listen ends");
    assert_eq!(status.code(), Some(1));
    assert!(
        lines
            .iter()
            .any(|l| matches!(l, Line::Err(e) if e.contains("session expired"))),
        "the user is told: {lines:#?}"
    );
}
