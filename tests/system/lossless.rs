//! Nothing lost, nothing twice: across a server killed mid-burst, and across
//! Herald being stopped while events keep coming.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use herald_system_tests::client::{Herald, Line};
use herald_system_tests::desktop::NotifyMonitor;
use herald_system_tests::inbox::server_ids;
use herald_system_tests::server::{ServerProcess, order_update};
use herald_system_tests::wait_for;
use serde_json::Value;
use tokio::sync::RwLock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_burst_loses_none_of_10000_events() {
    const N: usize = 10_000;
    let server = Arc::new(RwLock::new(ServerProcess::start(&[]).await));
    let (url, admin, alice_pw, alice) = {
        let s = server.read().await;
        let (admin_pw, _) = s.add_user("admin@example.com", "admin");
        let (alice_pw, alice) = s.add_user("alice@example.com", "user");
        (
            s.url.clone(),
            s.token("admin@example.com", &admin_pw).await,
            alice_pw,
            alice,
        )
    };
    let herald = Herald::new("burst");
    herald.login_ok(&url, "alice@example.com", &alice_pw).await;
    let mut listen = herald.listen(&["--json", "--no-desktop"]);
    listen.wait_status("Connected").await;

    // 16 senders; each retries its event until the server has stored it.
    let done = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for lane in 0..16 {
        let (server, admin, done) = (server.clone(), admin.clone(), done.clone());
        senders.push(tokio::spawn(async move {
            for n in (lane..N).step_by(16) {
                let body = order_update(alice, n as u64);
                loop {
                    let stored = server.read().await.try_emit(&admin, &body).await;
                    if stored.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    wait_for("3000 events stored", Duration::from_secs(120), || async {
        (done.load(Ordering::Relaxed) >= 3000).then_some(())
    })
    .await;
    server.write().await.kill9();
    listen
        .wait_line(
            "Herald to notice",
            |l| matches!(l, Line::Err(e) if e.contains("Offline")),
        )
        .await;
    server.write().await.restart().await;
    for sender in senders {
        sender.await.expect("sender");
    }

    // The server's truth: every order it stored for alice (a request cut by
    // the kill may have been stored without its answer, then sent again).
    let alice_token = server
        .read()
        .await
        .token("alice@example.com", &alice_pw)
        .await;
    let stored = server
        .read()
        .await
        .stored_ids(&alice_token, "order_update")
        .await;
    assert!(stored.len() >= N, "{} stored", stored.len());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let inbox = loop {
        let ids = server_ids(&herald, &url, "order_update");
        if ids.len() >= stored.len() {
            break ids;
        }
        if tokio::time::Instant::now() > deadline {
            let said: Vec<_> = listen
                .seen
                .iter()
                .filter(|l| matches!(l, Line::Err(_)))
                .collect();
            panic!(
                "the history holds {} of {} stored orders; herald said {said:#?}",
                ids.len(),
                stored.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ids: std::collections::BTreeSet<u64> = inbox.keys().copied().collect();
    assert_eq!(ids, stored, "the history holds exactly the stored ids");
    assert!(inbox.values().all(|&n| n == 1), "no id twice");
    let (status, _) = listen.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn events_sent_while_herald_is_stopped_arrive_once_with_one_summary_toast() {
    let server = ServerProcess::start(&[]).await;
    let (admin_pw, _) = server.add_user("admin@example.com", "admin");
    let (pw, erin) = server.add_user("erin@example.com", "user");
    let admin = server.token("admin@example.com", &admin_pw).await;
    let herald = Herald::new("stopped");
    herald.login_ok(&server.url, "erin@example.com", &pw).await;
    let mut listen = herald.listen(&["--json"]);
    listen.wait_status("Connected").await;
    // Its own login alert arrives by catch-up; then it is fully up to date.
    listen
        .item_where("the own login alert", |i| i["kind"] == "login_notification")
        .await;
    let (status, _) = listen.stop().await;
    assert!(status.success());
    let before = herald.history(1000).await.len();

    for n in 0..100 {
        server.emit(&admin, &order_update(erin, n)).await;
    }
    let mut monitor = NotifyMonitor::start().await;
    let mut listen = herald.listen(&["--json"]);
    listen.wait_status("Connected").await;
    let items = listen.items(100).await;
    assert_eq!(items.len(), 100);
    let first = monitor
        .next(herald_system_tests::WAIT)
        .await
        .expect("a summary toast");
    assert!(first.summary.contains("100"), "{first:?}");
    // Nothing else follows it.
    let more = monitor.drain(Duration::from_millis(1500)).await;
    assert!(
        more.is_empty(),
        "one toast, not {}: {more:?}",
        1 + more.len()
    );
    let (status, _) = listen.stop().await;
    assert!(status.success());
    let history: Vec<Value> = herald.history(1000).await;
    assert_eq!(
        history.len(),
        before + 100,
        "exactly 100 more in the history"
    );
}
