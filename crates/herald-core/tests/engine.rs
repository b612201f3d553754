//! The engine against a real herald-server: events, catch-up, restarts,
//! token renewal and the connection supervisor's guards.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use herald_core::link::LinkConfig;
use herald_core::secret::SecretStore;
use herald_core::status::{CatchUpSupport, ConnectionState, SignOutReason};
use herald_proto::api::Role;
use support::{Device, Hub, fast_link, order, server_ids, until};

#[tokio::test]
async fn an_event_is_stored_shown_and_counted() {
    let (hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    let mut updates = engine.updates();
    until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    until(&mut status, "catch-up known", |s| {
        s.catch_up == CatchUpSupport::Available
    })
    .await;

    let id = hub.emit(&admin, order(alice, 1)).await;
    let added = loop {
        match tokio::time::timeout(support::WAIT, updates.recv()).await {
            Ok(Ok(herald_core::engine::InboxUpdate::Added(items)))
                if items.iter().any(|i| i.server_id == Some(id)) =>
            {
                break items;
            }
            Ok(Ok(_)) => continue,
            other => panic!("no update: {other:?}"),
        }
    };
    assert_eq!(
        added
            .iter()
            .find(|i| i.server_id == Some(id))
            .map(|i| i.message.as_str()),
        Some("Order ord_1 shipped")
    );
    let s = until(&mut status, "unread counted", |s| {
        s.unread >= 1 && s.last_event_at.is_some()
    })
    .await;
    assert!(s.connected_since.is_some());
    // Its own login alert (caught up) shows nothing; the order shows once.
    let toasts = device.recorder.wait_for(1).await;
    assert_eq!(toasts.len(), 1, "{toasts:?}");
    assert_eq!(toasts[0].body, "Order ord_1 shipped");
    // The own login alert is in the history, read: only the order is unread.
    let history = engine
        .inbox()
        .lock()
        .expect("inbox")
        .list(&herald_core::inbox::ListQuery::default())
        .expect("list");
    let login = history
        .iter()
        .find(|i| i.kind == "login_notification")
        .expect("the own login alert");
    assert!(login.read, "{login:?}");
    assert_eq!(
        until(&mut status, "one unread", |s| s.unread == 1)
            .await
            .unread,
        1
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn events_sent_while_stopped_arrive_once_as_one_summary() {
    let (hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    until(&mut status, "catch-up done", |s| {
        s.catch_up == CatchUpSupport::Available
    })
    .await;
    let before = server_ids(&engine);
    engine.shutdown().await;

    let mut sent = BTreeSet::new();
    for n in 0..100 {
        sent.insert(hub.emit(&admin, order(alice, n)).await);
    }
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    until(&mut status, "caught up", |s| {
        s.unread >= 100 && s.catch_up == CatchUpSupport::Available
    })
    .await;
    device.recorder.wait_for(1).await;
    let after = server_ids(&engine);
    let new: BTreeSet<u64> = after.difference(&before).copied().collect();
    assert_eq!(new, sent, "exactly the 100 sent while stopped");
    let toasts = device.recorder.toasts();
    assert_eq!(toasts.len(), 1, "one summary, not 100: {toasts:?}");
    assert!(toasts[0].summary.contains("100"), "{:?}", toasts[0]);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_silent_close_is_caught_and_the_link_comes_back_with_reconnect_now() {
    let mut hub = Hub::start(|_| {}).await;
    hub.add_user("alice@example.com", Role::User);
    let device = Device::sign_in(&hub, "alice@example.com").await;
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    hub.stop().await;
    let s = until(&mut status, "offline", |s| {
        matches!(s.state, ConnectionState::Backoff { .. })
    })
    .await;
    assert!(s.next_retry_at.is_some());
    hub.restart().await;
    engine.reconnect_now();
    let s = until(&mut status, "connected again", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    assert!(s.reconnects >= 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn an_unconfirmed_connect_times_out_into_backoff() {
    // Accepts TCP and never says a word: rust_socketio's connect alone would wait forever.
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = mute.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = mute.accept().await {
            held.push(socket);
        }
    });
    let hub = Hub::start(|_| {}).await;
    hub.add_user("alice@example.com", Role::User);
    let device = Device::sign_in(&hub, "alice@example.com").await;
    let mut settings = herald_core::config::Settings::load(&device.paths).unwrap_or_default();
    // Same keyring entry (the origin is the key), but the socket goes to the mute port.
    let key_server = settings.server.clone();
    settings.server = Some(format!("http://{addr}"));
    let mut parts = device.parts(LinkConfig {
        connect_timeout: Duration::from_millis(500),
        ..fast_link()
    });
    parts.settings = settings;
    let tokens = device
        .store
        .load(&herald_core::secret::SecretKey::new(
            key_server.unwrap_or_default(),
            "alice@example.com",
        ))
        .unwrap_or_default()
        .unwrap_or_else(|| panic!("tokens"));
    herald_core::secret::SecretStore::save(
        device.store.as_ref(),
        &herald_core::secret::SecretKey::new(format!("http://{addr}"), "alice@example.com"),
        &tokens,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = herald_core::engine::Engine::start(parts, rx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut status = engine.status();
    let s = until(&mut status, "backoff after the timeout", |s| {
        matches!(s.state, ConnectionState::Backoff { .. })
    })
    .await;
    let ConnectionState::Backoff { reason } = s.state else {
        unreachable!()
    };
    assert!(
        reason.contains("timed out") || reason.contains("in time"),
        "{reason}"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn the_token_is_renewed_before_expiry_and_used_for_the_next_connect() {
    let mut hub = Hub::start(|c| c.access_ttl = Duration::from_secs(3)).await;
    hub.add_user("alice@example.com", Role::User);
    let device = Device::sign_in(&hub, "alice@example.com").await;
    let key = herald_core::secret::SecretKey::new(hub.url.clone(), "alice@example.com");
    let first = device.store.load(&key).ok().flatten().map(|t| t.access);
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    // 80% of 3 s: the renewed token lands in the keyring.
    let renewed = tokio::time::timeout(support::WAIT, async {
        loop {
            let now = device.store.load(&key).ok().flatten().map(|t| t.access);
            if now != first {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the token was not renewed"));
    assert!(renewed.is_some());
    // Once the first token has expired, a reconnect must use the new one.
    let expiry = first
        .as_deref()
        .and_then(herald_core::auth::token_expiry)
        .unwrap_or_else(|| panic!("exp"));
    while chrono::Utc::now() <= expiry {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub.restart().await;
    engine.reconnect_now();
    until(&mut status, "reconnected with the renewed token", |s| {
        s.state == ConnectionState::Connected && s.reconnects >= 1
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test]
async fn a_refused_refresh_signs_out_with_the_reason() {
    let hub = Hub::start(|_| {}).await;
    hub.add_user("alice@example.com", Role::User);
    let device = Device::sign_in(&hub, "alice@example.com").await;
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    // Another device signs this session out: its sockets close, its refresh token dies.
    let key = herald_core::secret::SecretKey::new(hub.url.clone(), "alice@example.com");
    let tokens = device
        .store
        .load(&key)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("tokens"));
    assert_eq!(
        hub.post("/api/auth/logout", &tokens.access, serde_json::json!({}))
            .await,
        204
    );
    let s = until(&mut status, "signed out", |s| {
        matches!(s.state, ConnectionState::SignedOut { .. })
    })
    .await;
    assert_eq!(
        s.state,
        ConnectionState::SignedOut {
            reason: SignOutReason::SessionExpired
        }
    );
    assert!(
        device.store.load(&key).ok().flatten().is_none(),
        "the dead tokens are deleted"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_goes_silent_is_caught_by_the_liveness_probe() {
    let hub = Hub::start(|_| {}).await;
    hub.add_user("alice@example.com", Role::User);
    let proxy = support::Blackhole::start(hub.addr).await;
    let device = Device::sign_in_at(&format!("http://{}", proxy.addr), "alice@example.com").await;
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    // Caught up means herald_ready came: this server answers probes, so a
    // missing answer counts (the seed's server never answers one).
    until(&mut status, "ready", |s| {
        s.catch_up == CatchUpSupport::Available
    })
    .await;
    proxy.go_silent();
    let s = until(&mut status, "the probe to notice", |s| {
        matches!(s.state, ConnectionState::Backoff { .. })
    })
    .await;
    let ConnectionState::Backoff { reason } = s.state else {
        unreachable!()
    };
    assert!(reason.contains("liveness probe"), "{reason}");
    engine.shutdown().await;
}

/// A notifier that always fails, as when no notification daemon runs.
#[derive(Debug)]
struct NoDaemon;

impl herald_core::notify::Notifier for NoDaemon {
    fn show(&self, _: &herald_core::notify::Toast) -> Result<(), herald_core::notify::NotifyError> {
        Err(herald_core::notify::NotifyError::Unavailable(
            "no org.freedesktop.Notifications".into(),
        ))
    }
}

#[tokio::test]
async fn without_a_notification_daemon_events_still_reach_the_history_with_a_warning() {
    let (hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    let mut parts = device.parts(fast_link());
    parts.notifier = Some(std::sync::Arc::new(NoDaemon));
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = herald_core::engine::Engine::start(parts, rx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut status = engine.status();
    until(&mut status, "caught up", |s| {
        s.catch_up == CatchUpSupport::Available
    })
    .await;
    let id = hub.emit(&admin, order(alice, 9)).await;
    let s = until(&mut status, "the warning", |s| {
        s.warnings.iter().any(|w| w.contains("notification"))
    })
    .await;
    assert!(s.state == ConnectionState::Connected);
    until(&mut status, "stored", |_| server_ids(&engine).contains(&id)).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn this_was_me_marks_the_alert_read_here_and_on_the_server_and_view_opens_only_safe_urls() {
    let (hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    let (actions, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = herald_core::engine::Engine::start(device.parts(fast_link()), rx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut status = engine.status();
    let mut updates = engine.updates();
    until(&mut status, "caught up", |s| {
        s.catch_up == CatchUpSupport::Available
    })
    .await;
    // A login elsewhere, and an order whose URL points off the server.
    let _ = hub.token("alice@example.com").await;
    let mut order = order(alice, 3);
    order["url"] = serde_json::json!("https://evil.example.net/phish");
    hub.emit(&admin, order).await;
    let mut items: Vec<herald_core::inbox::Item> = Vec::new();
    while !(items.iter().any(|i| i.kind == "order_update")
        && items
            .iter()
            .filter(|i| i.kind == "login_notification")
            .count()
            >= 2)
    {
        match tokio::time::timeout(support::WAIT, updates.recv()).await {
            Ok(Ok(herald_core::engine::InboxUpdate::Added(added))) => items.extend(added),
            Ok(Ok(_)) => {}
            other => panic!("no update: {other:?}"),
        }
    }
    let login = items
        .iter()
        .find(|i| i.kind == "login_notification")
        .unwrap_or_else(|| panic!("{items:?}"));
    let order = items
        .iter()
        .find(|i| i.kind == "order_update")
        .unwrap_or_else(|| panic!("{items:?}"));

    let click = |item: i64, action: &str| herald_core::notify::ActionInvoked {
        item_id: Some(item),
        action: action.into(),
    };
    let _ = actions.send(click(login.id, herald_core::notify::ACTION_THIS_WAS_ME));
    let _ = actions.send(click(order.id, herald_core::notify::ACTION_VIEW));
    let mut read = Vec::new();
    let opened = loop {
        match tokio::time::timeout(support::WAIT, updates.recv()).await {
            Ok(Ok(herald_core::engine::InboxUpdate::Read { ids, read: true })) => read.extend(ids),
            Ok(Ok(herald_core::engine::InboxUpdate::Open { item, url })) => break (item, url),
            Ok(Ok(_)) => {}
            other => panic!("no update: {other:?}"),
        }
    };
    assert!(read.contains(&login.id), "this was me marks the alert read");
    assert_eq!(opened.0.id, order.id);
    assert_eq!(
        opened.1, None,
        "a URL off the server's origin is never opened"
    );
    // The server heard of it: a fresh catch-up shows the alert read.
    let token = device
        .store
        .load(&herald_core::secret::SecretKey::new(
            hub.url.clone(),
            "alice@example.com",
        ))
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("tokens"))
        .access;
    let api = herald_core::api::Api::new(&hub.url).unwrap_or_else(|e| panic!("{e}"));
    let server_id = login.server_id.unwrap_or_default();
    let synced = tokio::time::timeout(support::WAIT, async {
        loop {
            let page = api
                .catch_up(&token, server_id - 1, 1)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if page
                .items
                .first()
                .and_then(|i| i.get("read"))
                .and_then(serde_json::Value::as_bool)
                == Some(true)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(synced.is_ok(), "the read state reached the server");
    engine.shutdown().await;
}
