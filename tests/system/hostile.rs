//! Hostile and broken events from a server with only the seed's contract:
//! each is handled safely and counted, and Herald keeps going. Its own test
//! binary, because it clicks the newest toast in dunst.

use herald_system_tests::WAIT;
use herald_system_tests::client::{Herald, Line};
use herald_system_tests::desktop::NotifyMonitor;
use herald_system_tests::seed::SeedServer;
use serde_json::json;

#[tokio::test]
async fn malformed_oversized_marked_up_and_hostile_events_are_handled_and_counted() {
    let seed = SeedServer::start("1h").await;
    let herald = Herald::new("hostile");
    herald
        .login_ok(&seed.url, "alice@example.com", "alice-password")
        .await;
    let mut monitor = NotifyMonitor::start_clean().await;
    let mut listen = herald.listen(&["--json"]);
    listen.wait_status("Connected").await;

    seed.emit("user_u1", "notification", json!("just a string"))
        .await;
    listen
        .wait_line(
            "the refusal counted",
            |l| matches!(l, Line::Err(e) if e.contains("malformed event")),
        )
        .await;
    seed.emit(
        "user_u1",
        "notification",
        json!({"title": "x".repeat(50_000), "message": "<b>bold</b> & <a href='x'>link</a>",
        "url": "javascript:alert(1)"}),
    )
    .await;
    let item = listen.items(1).await.remove(0);
    assert_eq!(
        item["title"].as_str().map(|t| t.chars().count()),
        Some(200),
        "the title is cut"
    );
    assert_eq!(
        item["message"], "<b>bold</b> & <a href='x'>link</a>",
        "stored verbatim"
    );
    let call = monitor.next(WAIT).await.expect("a Notify call");
    assert!(
        !call.body.contains("<b>"),
        "markup is escaped or stripped for the daemon: {}",
        call.body
    );
    // "View Details" must not open a javascript: URL.
    let clicked = std::process::Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .expect("dunstctl");
    assert!(clicked.success());
    listen
        .wait_line(
            "the details",
            |l| matches!(l, Line::Err(e) if e.starts_with("details:")),
        )
        .await;
    assert!(!herald.opened_log.exists(), "nothing was opened");
    // Still alive and taking events.
    seed.emit(
        "user_u1",
        "order_update",
        json!({"orderId": "ord_2", "status": "packed"}),
    )
    .await;
    assert_eq!(listen.items(1).await[0]["message"], "Order ord_2 packed");
    let (status, _) = listen.stop().await;
    assert!(status.success());
}
