//! One engine per account, with front-ends around it: `herald-agent` and
//! `herald listen` in real processes, against a real herald-server.
//!
//! The invariant is that however many front-ends a user starts, one process
//! holds the session: one connection, one renewal of each refresh token (a
//! second renewal of the same token makes the server revoke the session),
//! one desktop notification per event. Every other front-end attaches to
//! that engine, and survives it going away.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use herald_system_tests::agent::AgentProcess;
use herald_system_tests::client::{Herald, Line, Listen};
use herald_system_tests::desktop::{NotifyCall, NotifyMonitor};
use herald_system_tests::inbox::server_ids;
use herald_system_tests::server::ServerProcess;
use herald_system_tests::{WAIT, wait_for};
use serde_json::{Value, json};

/// An order event whose text no other test uses (they share the session bus).
fn order(user: u64, tag: &str, n: usize) -> Value {
    json!({
        "to": {"user": user},
        "type": "order_update",
        "title": "Order update",
        "message": format!("Order {tag}-{n} shipped"),
        "data": {"orderId": format!("{tag}-{n}"), "status": "shipped"},
    })
}

/// Toasts of the order `tag`-`n`.
fn toasts_of(calls: &[NotifyCall], tag: &str, n: usize) -> usize {
    let body = format!("Order {tag}-{n} shipped");
    calls.iter().filter(|c| c.body == body).count()
}

/// How many times `id` was printed on stdout.
fn printed(listen: &Listen, id: u64) -> usize {
    listen
        .printed()
        .iter()
        .filter(|i| i["serverId"] == json!(id))
        .count()
}

/// From the server's own database: refresh tokens spent (renewals), and
/// sessions revoked (a refresh token presented twice revokes its session).
fn sessions(server: &ServerProcess) -> (u64, u64) {
    let db =
        rusqlite::Connection::open(server.data_dir.join("herald.db")).expect("the server's db");
    db.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, u64>(0)).expect(sql);
    (
        count("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NOT NULL"),
        count("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL"),
    )
}

/// Waits until the running engine of `herald` reports itself connected.
async fn connected(herald: &Herald) -> Value {
    wait_for("the engine to be connected", WAIT, || async {
        let status = herald.status_json().await;
        (status["connection"]["state"]["kind"] == "connected").then_some(status)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_front_ends_share_one_engine_for_three_token_lifetimes() {
    const TTL: u64 = 5;
    const TAG: &str = "lifetimes";
    let server = ServerProcess::start(&["--access-ttl-secs", &TTL.to_string()]).await;
    let (admin_pw, _) = server.add_user("admin@example.com", "admin");
    let (pw, alice) = server.add_user("alice@example.com", "user");
    let herald = Herald::new("lifetimes");
    herald.login_ok(&server.url, "alice@example.com", &pw).await;
    let mut monitor = NotifyMonitor::start().await;
    let mut agent = AgentProcess::start(&herald).await;
    connected(&herald).await;

    let mut first = herald.listen(&["--json"]);
    let mut second = herald.listen(&["--json", "--no-desktop"]);
    first.wait_status("Connected").await;
    second
        .wait_line(
            "the note that the agent decides",
            |l| matches!(l, Line::Err(e) if e.contains("--no-desktop has no effect")),
        )
        .await;
    second.wait_status("Connected").await;

    // An event, seen by both; then the next after the engine's next renewal,
    // until three access tokens have lived and died.
    let started = tokio::time::Instant::now();
    let mut sent = Vec::new();
    loop {
        // Tokens live TTL seconds for the admin too: a fresh one each time.
        let admin = server.token("admin@example.com", &admin_pw).await;
        let n = sent.len();
        let id = server.emit(&admin, &order(alice, TAG, n)).await;
        for listen in [&mut first, &mut second] {
            listen
                .item_where("the order", |i| i["serverId"] == json!(id))
                .await;
        }
        sent.push((n, id));
        if started.elapsed() > Duration::from_secs(3 * TTL) {
            break;
        }
        let (renewed, _) = sessions(&server);
        wait_for(
            "the engine's next renewal",
            Duration::from_secs(3 * TTL),
            || async { (sessions(&server).0 > renewed).then_some(()) },
        )
        .await;
    }

    let (renewals, revoked) = sessions(&server);
    assert!(renewals >= 3, "{renewals} renewals in three lifetimes");
    assert_eq!(revoked, 0, "the server revoked a session");
    assert!(first.running() && second.running(), "a front-end ended");
    assert!(agent.running(), "the agent ended:\n{}", agent.log_text());
    let status = herald.status_json().await;
    assert_eq!(
        status["connection"]["state"]["kind"], "connected",
        "{status}"
    );
    assert_eq!(status["agent"]["pid"], json!(agent.pid), "{status}");

    let calls = monitor.drain(Duration::from_millis(1500)).await;
    for (n, _) in &sent {
        assert_eq!(toasts_of(&calls, TAG, *n), 1, "order {n}: {calls:#?}");
    }
    for listen in [first, second] {
        let (status, lines) = listen.stop().await;
        assert!(status.success(), "{lines:#?}");
    }
}

/// Reads the listener's output until it has printed `wanted` distinct
/// orders; then how often it printed each.
async fn drain_printed(
    listen: &mut Listen,
    wanted: usize,
) -> std::collections::BTreeMap<u64, usize> {
    loop {
        let mut counts = std::collections::BTreeMap::new();
        for item in listen.printed() {
            if item["kind"] == "order_update"
                && let Some(id) = item["serverId"].as_u64()
            {
                *counts.entry(id).or_insert(0) += 1;
            }
        }
        if counts.len() >= wanted {
            return counts;
        }
        listen
            .wait_line("more orders", |l| matches!(l, Line::Out(_)))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_burst_is_replaced_and_nothing_is_lost_or_doubled() {
    const N: usize = 2000;
    const TAG: &str = "killed";
    let server = Arc::new(ServerProcess::start(&[]).await);
    let (admin_pw, _) = server.add_user("admin@example.com", "admin");
    let (pw, alice) = server.add_user("alice@example.com", "user");
    let admin = server.token("admin@example.com", &admin_pw).await;
    let herald = Herald::new("killed");
    herald.login_ok(&server.url, "alice@example.com", &pw).await;
    let mut agent = AgentProcess::start(&herald).await;
    connected(&herald).await;
    let mut listen = herald.listen(&["--json"]);
    listen.wait_status("Connected").await;

    let done = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for lane in 0..8 {
        let (server, admin, done) = (server.clone(), admin.clone(), done.clone());
        senders.push(tokio::spawn(async move {
            for n in (lane..N).step_by(8) {
                server.emit(&admin, &order(alice, TAG, n)).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    wait_for("500 events stored", Duration::from_secs(120), || async {
        (done.load(Ordering::Relaxed) >= 500).then_some(())
    })
    .await;
    agent.kill9();
    assert!(!agent.wait_exit().await.success());
    listen
        .wait_line(
            "the listener to notice",
            |l| matches!(l, Line::Err(e) if e.contains("Herald's agent stopped")),
        )
        .await;
    let status = herald.run(&["status"], None).await;
    assert!(
        status.stdout.contains("agent:       not running"),
        "{}",
        status.stdout
    );
    assert_eq!(herald.status_json().await["agent"]["running"], false);

    let mut agent = AgentProcess::start(&herald).await;
    listen
        .wait_line(
            "the listener to attach again",
            |l| matches!(l, Line::Err(e) if e.contains("attached to Herald's agent again")),
        )
        .await;
    for sender in senders {
        sender.await.expect("sender");
    }

    let token = server.token("alice@example.com", &pw).await;
    let stored = server.stored_ids(&token, "order_update").await;
    assert_eq!(stored.len(), N);
    let inbox = wait_for(
        "the new agent to catch up",
        Duration::from_secs(120),
        || async {
            let ids = server_ids(&herald, &server.url, "order_update");
            (ids.len() >= N).then_some(ids)
        },
    )
    .await;
    let ids: std::collections::BTreeSet<u64> = inbox.keys().copied().collect();
    assert_eq!(ids, stored, "the history holds exactly the stored ids");
    assert!(
        inbox.values().all(|&n| n == 1),
        "no id twice in the history"
    );

    // The listener's output has no gap and no repeat either: what arrived
    // while no agent ran came from the history once it attached again.
    let counts = drain_printed(&mut listen, N).await;
    let printed: std::collections::BTreeSet<u64> = counts.keys().copied().collect();
    assert_eq!(printed, stored, "the listener printed every stored order");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "printed more than once: {twice:?}");
    assert!(agent.running(), "{}", agent.log_text());
    let (status, lines) = listen.stop().await;
    assert!(
        status.success(),
        "{:#?}",
        &lines[lines.len().saturating_sub(20)..]
    );
}

#[tokio::test]
async fn a_second_agent_exits_0_and_names_the_first() {
    let herald = Herald::new("second-agent");
    let mut first = AgentProcess::start(&herald).await;
    let mut second = AgentProcess::spawn(&herald, &[], &[]);
    let status = second.wait_exit().await;
    let said = second.log_text();
    assert!(status.success(), "{status:?}: {said}");
    assert!(
        said.contains("already running") && said.contains(&first.pid.to_string()),
        "{said}"
    );
    assert!(first.running(), "{}", first.log_text());
    let status = herald.status_json().await;
    assert_eq!(status["agent"]["pid"], json!(first.pid), "{status}");
}

#[tokio::test]
async fn a_listen_without_an_agent_is_the_engine_and_the_next_listen_attaches_to_it() {
    const TAG: &str = "pair";
    let server = ServerProcess::start(&[]).await;
    let (admin_pw, _) = server.add_user("admin@example.com", "admin");
    let (pw, alice) = server.add_user("alice@example.com", "user");
    let admin = server.token("admin@example.com", &admin_pw).await;
    let herald = Herald::new("pair");
    herald.login_ok(&server.url, "alice@example.com", &pw).await;
    let mut monitor = NotifyMonitor::start().await;

    let mut engine = herald.listen(&["--json"]);
    engine.wait_status("Connected").await;
    // It serves the agent's socket: `status` finds it as the engine.
    let status = connected(&herald).await;
    assert_eq!(status["agent"]["pid"], json!(engine.pid()), "{status}");
    let mut attached = herald.listen(&["--json"]);
    attached.wait_status("Connected").await;
    let status = herald.status_json().await;
    assert_eq!(
        status["agent"]["pid"],
        json!(engine.pid()),
        "still the one engine"
    );

    let id = server.emit(&admin, &order(alice, TAG, 1)).await;
    for listen in [&mut engine, &mut attached] {
        listen
            .item_where("the order", |i| i["serverId"] == json!(id))
            .await;
    }
    let mut calls = Vec::new();
    while toasts_of(&calls, TAG, 1) == 0 {
        calls.push(monitor.next(WAIT).await.expect("the order's toast"));
    }
    calls.extend(monitor.drain(Duration::from_millis(1500)).await);
    assert_eq!(toasts_of(&calls, TAG, 1), 1, "one toast: {calls:#?}");

    assert_eq!(printed(&engine, id), 1);
    // The engine goes; the attached listener stays and waits for the next.
    let (status, lines) = engine.stop().await;
    assert!(status.success(), "{lines:#?}");
    attached
        .wait_line(
            "the attached listener to notice",
            |l| matches!(l, Line::Err(e) if e.contains("Herald's agent stopped")),
        )
        .await;
    assert!(attached.running());
    assert_eq!(printed(&attached, id), 1);
    let (status, lines) = attached.stop().await;
    assert!(
        status.success(),
        "a waiting listener exits 0 on SIGTERM: {lines:#?}"
    );
}

#[tokio::test]
async fn while_an_agent_runs_the_commands_act_through_it() {
    let server = ServerProcess::start(&[]).await;
    let (pw, _) = server.add_user("alice@example.com", "user");
    let herald = Herald::new("commands");
    herald.login_ok(&server.url, "alice@example.com", &pw).await;
    let agent = AgentProcess::start(&herald).await;
    connected(&herald).await;
    let mut listen = herald.listen(&["--json"]);
    listen.wait_status("Connected").await;

    let status = herald.run(&["status"], None).await;
    let said = status.stdout;
    assert!(
        said.contains(&format!("agent:       running (process {})", agent.pid)),
        "{said}"
    );
    assert!(said.contains("connection:  Connected"), "{said}");
    assert!(said.contains("user:        "), "{said}");

    // `test` asks with the agent's session; the events come through it.
    let test = herald.run(&["test"], None).await;
    assert!(test.status.success(), "{}", test.stderr);
    let item = listen
        .item_where("a test event", |i| i["kind"] == "order_update")
        .await;
    let id = item["id"].as_i64().expect("a local id");
    assert_eq!(item["read"], false);

    let read = herald.run(&["read", &id.to_string()], None).await;
    assert!(read.status.success(), "{}", read.stderr);
    assert!(read.stderr.contains("agent"), "{}", read.stderr);
    wait_for("the item to be read", WAIT, || async {
        herald
            .history(100)
            .await
            .iter()
            .any(|i| i["id"] == json!(id) && i["read"] == true)
            .then_some(())
    })
    .await;

    // `logout` signs the agent out, and so ends the listener that watched it.
    let out = herald.run(&["logout"], None).await;
    assert!(out.status.success(), "{}", out.stderr);
    let (status, lines) = listen.finish().await;
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| matches!(l, Line::Err(e) if e.contains("Signed out"))),
        "{lines:#?}"
    );
    let status = herald.status_json().await;
    assert_eq!(
        status["connection"]["state"]["kind"], "signedOut",
        "{status}"
    );
    assert_eq!(status["agent"]["pid"], json!(agent.pid), "the agent stays");
    let e = herald.run(&["test"], None).await;
    assert_eq!(e.status.code(), Some(1));
    assert!(
        e.stderr.starts_with("herald: not signed in"),
        "{}",
        e.stderr
    );

    // `login` signs the running agent in: it connects with the new session.
    let login = herald.login(&server.url, "alice@example.com", &pw).await;
    assert!(login.status.success(), "{}", login.stderr);
    assert!(login.stderr.contains("agent"), "{}", login.stderr);
    connected(&herald).await;
    let wrong = herald
        .login(&server.url, "alice@example.com", "not-the-password")
        .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        wrong.stderr.contains("wrong email or password"),
        "{}",
        wrong.stderr
    );
    // A wrong password does not cost the working session.
    connected(&herald).await;
}
