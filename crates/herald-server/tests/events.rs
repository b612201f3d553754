//! Events: the envelope, catch-up, read state, self-test, and a 10,000-event burst.

mod support;

use std::collections::BTreeSet;

use herald_proto::api::Role;
use serde_json::{Value, json};
use support::server::order_update;
use support::socket::Seen;
use support::{SocketClient, TestServer};

#[tokio::test]
async fn an_emitted_event_is_stored_before_201_and_arrives_in_the_envelope() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let mut socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");
    let id = server
        .emit(
            &admin,
            json!({"to": {"user": alice.user.id}, "type": "order_update", "title": "Order update",
            "message": "Order ord_1 shipped", "url": "https://shop.example.com/orders/ord_1",
            "data": {"orderId": "ord_1", "status": "shipped"}}),
        )
        .await;
    // Stored before the 201: catch-up already has it.
    let page = server.catch_up(&token, 0, 100).await;
    let stored = page
        .items
        .iter()
        .find(|i| i.event.id == id)
        .expect("stored");
    assert_eq!(stored.event.kind, "order_update");
    assert!(!stored.read);

    let (name, payload) = socket.next_event().await;
    assert_eq!(name, "order_update");
    assert_eq!(payload["id"].as_u64(), Some(id));
    for field in [
        "type",
        "title",
        "message",
        "createdAt",
        "url",
        "severity",
        "data",
    ] {
        assert!(
            payload.get(field).is_some(),
            "envelope lacks {field}: {payload}"
        );
    }
    assert_eq!(payload["data"]["status"], "shipped");
    assert!(
        chrono::DateTime::parse_from_rfc3339(payload["createdAt"].as_str().unwrap_or("")).is_ok()
    );
}

#[tokio::test]
async fn catch_up_pages_in_id_order_and_only_shows_the_callers_events() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let bob = server.add_user("bob@example.com", Role::User);
    let alice_token = server.login(&alice).await.token;
    let mut mine = Vec::new();
    for n in 0..25 {
        mine.push(server.emit(&admin, order_update(alice.user.id, n)).await);
        server.emit(&admin, order_update(bob.user.id, n)).await;
    }
    server
        .emit(
            &admin,
            json!({"to": {"room": "admin"}, "type": "new_order", "title": "t", "message": "m"}),
        )
        .await;
    mine.push(
        server
            .emit(
                &admin,
                json!({"to": {"all": true}, "type": "announcement", "title": "t", "message": "m"}),
            )
            .await,
    );

    // Alice's own login alert comes first.
    let mut seen = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = server.catch_up(&alice_token, after, 10).await;
        pages += 1;
        assert!(page.items.len() <= 10);
        for item in &page.items {
            assert!(item.event.id > after, "strictly increasing");
            after = item.event.id;
            seen.push((item.event.kind.clone(), item.event.id));
        }
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, 3, "27 items in pages of 10");
    assert_eq!(seen[0].0, "login_notification");
    let ids: Vec<u64> = seen[1..].iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, mine);
}

#[tokio::test]
async fn read_state_syncs_across_a_users_devices() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let laptop = server.login(&alice).await.token;
    let phone = server.login(&alice).await.token;
    let mut phone_socket = SocketClient::connect(&server.url, Some(&phone))
        .await
        .expect("accepted");
    let id = server.emit(&admin, order_update(alice.user.id, 1)).await;
    assert_eq!(phone_socket.next_event().await.1["id"].as_u64(), Some(id));

    let response = server
        .http
        .post(server.url("/api/notifications/read"))
        .bearer_auth(&laptop)
        .json(&json!({"ids": [id]}))
        .send()
        .await
        .expect("read");
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json")["updated"], 1);
    let (name, payload) = phone_socket.next_event().await;
    assert_eq!(name, "notifications_read");
    assert_eq!(payload, json!({"ids": [id], "read": true}));
    let page = server.catch_up(&phone, id - 1, 10).await;
    assert!(page.items[0].read, "the phone's catch-up sees it read");
}

#[tokio::test]
async fn the_self_test_sends_one_event_of_each_type_to_the_caller() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let mut socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");
    let response = server
        .http
        .post(server.url("/api/notifications/test"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("self-test");
    assert_eq!(response.status(), 200);
    let mut names = BTreeSet::new();
    for _ in 0..6 {
        names.insert(socket.next_event().await.0);
    }
    let expected: BTreeSet<String> = herald_proto::EventType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    assert_eq!(names, expected);
}

/// 10,000 events to one socket, emitted with 16 requests in flight: each id
/// arrives live or, if a send failed, through catch-up. Returns how many
/// arrived live and how many emits failed.
async fn burst(socket_buffer: usize) -> (usize, u64, bool) {
    const N: u64 = 10_000;
    let server = TestServer::start_with(|c| c.socket_buffer = socket_buffer).await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let mut socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");

    let sent: Vec<u64> = {
        use futures_util::StreamExt;
        let server = &server;
        let admin = &admin;
        futures_util::stream::iter(0..N)
            .map(|n| async move { server.emit(admin, order_update(alice.user.id, n)).await })
            .buffer_unordered(16)
            .collect()
            .await
    };
    let sent: BTreeSet<u64> = sent.into_iter().collect();
    assert_eq!(sent.len() as u64, N);
    let last = *sent.iter().next_back().expect("ids");

    // Read live until the last id arrives, or the server closes the socket.
    let mut live = BTreeSet::new();
    let mut closed = false;
    while let Some(seen) = socket.next(std::time::Duration::from_secs(10)).await {
        match seen {
            Seen::Event { name, payload } if name == "order_update" => {
                let id = payload["id"].as_u64().expect("id");
                live.insert(id);
                if id == last {
                    break;
                }
            }
            Seen::Closed => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    // What arrived live is a gap-free prefix of what was sent: a socket never
    // sees an id after missing one, so its client's cursor cannot skip one.
    let prefix: BTreeSet<u64> = sent.iter().take(live.len()).copied().collect();
    assert_eq!(live, prefix, "live ids have no gap");
    // Whatever did not arrive live, catch-up has.
    let mut caught = BTreeSet::new();
    let mut after = 0;
    loop {
        let page = server.catch_up(&token, after, 1000).await;
        for item in &page.items {
            after = item.event.id;
            if item.event.kind == "order_update" {
                caught.insert(item.event.id);
            }
        }
        if !page.has_more {
            break;
        }
    }
    let union: BTreeSet<u64> = live.union(&caught).copied().collect();
    assert_eq!(union, sent, "every id live or caught up");
    assert_eq!(caught, sent, "catch-up alone holds every id");
    let health: Value = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let failures = health["emitFailures"].as_u64().expect("emitFailures");
    eprintln!(
        "burst with buffer {socket_buffer}: {} of {N} live, {failures} emits failed, closed: {closed}",
        live.len()
    );
    (live.len(), failures, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10000_event_burst_to_one_socket_loses_nothing() {
    let (live, _, _) = burst(herald_server::Config::new("unused").socket_buffer).await;
    // With the default buffer the burst should arrive live; catch-up is the
    // safety net, not the path.
    assert!(live >= 9_000, "only {live} of 10000 arrived live");
}

/// A tiny buffer forces a failed send: the server closes that socket at once
/// (so the live ids stay gap-free) and catch-up still holds every id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_into_a_full_socket_buffer_loses_nothing() {
    let (live, failures, closed) = burst(4).await;
    assert!(
        failures > 0,
        "a 4-packet buffer should overflow in a 10,000-event burst"
    );
    assert!(closed, "the socket that could not take an event was closed");
    assert!(live < 10_000);
}
