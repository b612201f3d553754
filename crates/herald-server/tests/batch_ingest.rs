//! `POST /api/events` with an array: one transaction, id order on every
//! socket, all or nothing, and the stated limits.

mod support;

use std::collections::BTreeMap;

use herald_proto::api::Role;
use herald_server::api::{MAX_BATCH, MAX_BATCH_BODY};
use serde_json::{Value, json};
use support::server::order_update;
use support::socket::Seen;
use support::{SocketClient, TestServer, WAIT};

/// Posts `body` as the admin; returns the status and the JSON answer.
async fn post(server: &TestServer, admin: &str, body: &Value) -> (u16, Value) {
    let response = server
        .http
        .post(server.url("/api/events"))
        .bearer_auth(admin)
        .json(body)
        .send()
        .await
        .expect("emit request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Posts a batch that must be stored; returns its ids.
async fn post_batch(server: &TestServer, admin: &str, events: Vec<Value>) -> Vec<u64> {
    let (status, body) = post(server, admin, &Value::Array(events)).await;
    assert_eq!(status, 201, "batch refused: {body}");
    body["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_u64().expect("an id"))
        .collect()
}

async fn last_event_id(server: &TestServer) -> u64 {
    server.health().await["lastEventId"].as_u64().unwrap_or(0)
}

/// The ids of the next `n` events of the batches (not login alerts) on
/// `socket`, in the order they arrived.
async fn receive_ids(socket: &mut SocketClient, n: usize) -> Vec<u64> {
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        match socket.next(WAIT).await {
            Some(Seen::Event { name, payload }) if name != "login_notification" => {
                ids.push(payload["id"].as_u64().expect("an id"));
            }
            Some(Seen::Event { .. }) => {}
            other => panic!("after {} of {n} events: {other:?}", ids.len()),
        }
    }
    ids
}

#[tokio::test]
async fn a_batch_is_stored_in_one_order_and_delivered_in_id_order() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let mut socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");

    let events: Vec<Value> = (0..100).map(|n| order_update(alice.user.id, n)).collect();
    let ids = post_batch(&server, &admin, events).await;
    assert_eq!(ids.len(), 100);
    // One transaction, one writer: consecutive ids in the array's order.
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");

    // Catch-up has them in the same order, each with its own element's body.
    let page = server.catch_up(&token, ids[0] - 1, 200).await;
    let stored: Vec<(u64, String)> = page
        .items
        .iter()
        .filter(|i| i.event.kind == "order_update")
        .map(|i| (i.event.id, i.event.message.clone()))
        .collect();
    let expected: Vec<(u64, String)> = ids
        .iter()
        .enumerate()
        .map(|(n, &id)| (id, format!("Order ord_{n} shipped")))
        .collect();
    assert_eq!(stored, expected);

    assert_eq!(receive_ids(&mut socket, 100).await, ids);

    // A single object is answered as before: `{"id"}`.
    let (status, body) = post(&server, &admin, &order_update(alice.user.id, 100)).await;
    assert_eq!(status, 201);
    assert_eq!(body["id"].as_u64(), Some(ids[99] + 1), "{body}");
    assert!(body.get("ids").is_none());
}

#[tokio::test]
async fn a_batch_over_the_limits_is_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let before = last_event_id(&server).await;

    let too_many: Vec<Value> = (0..=MAX_BATCH as u64)
        .map(|n| order_update(alice.user.id, n))
        .collect();
    let (status, body) = post(&server, &admin, &Value::Array(too_many)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_many_events");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&MAX_BATCH.to_string())),
        "{body}"
    );

    // The whole body over 4 MiB.
    let big = "x".repeat(4000);
    let mut event = order_update(alice.user.id, 0);
    event["data"] = json!({"pad": big});
    let count = MAX_BATCH_BODY / 4000 + 1;
    let (status, body) = post(&server, &admin, &Value::Array(vec![event; count])).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");

    // One element over a single event's 64 KiB.
    let mut huge = order_update(alice.user.id, 1);
    huge["data"] = json!({"pad": "y".repeat(70 * 1024)});
    let batch = vec![order_update(alice.user.id, 0), huge];
    let (status, body) = post(&server, &admin, &Value::Array(batch)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "event_too_large");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("event 1:"))
    );

    // Exactly the limit is taken.
    let full: Vec<Value> = (0..MAX_BATCH as u64)
        .map(|n| order_update(alice.user.id, n))
        .collect();
    let refused_so_far = last_event_id(&server).await;
    assert_eq!(refused_so_far, before, "a refused batch stored something");
    assert_eq!(post_batch(&server, &admin, full).await.len(), MAX_BATCH);
}

#[tokio::test]
async fn one_bad_element_rejects_the_whole_batch() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let before = last_event_id(&server).await;
    let good = |n| order_update(alice.user.id, n);

    let mut empty_title = good(3);
    empty_title["title"] = json!("  ");
    let mut wrong_field = good(1);
    wrong_field["title"] = json!(42);
    let cases = [
        (
            vec![good(0), good(1), good(2), empty_title],
            422,
            "missing_title",
            "event 3:",
        ),
        (
            vec![good(0), wrong_field, good(2)],
            422,
            "invalid_field",
            "event 1:",
        ),
        (
            vec![good(0), good(1), order_update(alice.user.id + 100, 2)],
            422,
            "unknown_user",
            "event 2:",
        ),
        (
            vec![
                good(0),
                json!({"to": {"room": "ops"}, "type": "notification", "title": "t", "message": "m"}),
            ],
            422,
            "unknown_room",
            "event 1:",
        ),
        (vec![], 422, "empty_batch", ""),
    ];
    for (batch, status, code, prefix) in cases {
        let (got, body) = post(&server, &admin, &Value::Array(batch)).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(prefix), "{message}");
    }
    assert_eq!(
        last_event_id(&server).await,
        before,
        "a refused batch stored something"
    );
    // A body that is no JSON array at all is malformed, as before.
    let response = server
        .http
        .post(server.url("/api/events"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("[{\"to\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn concurrent_batches_keep_every_sockets_ids_increasing_without_gaps() {
    const WRITERS: u64 = 6;
    const BATCHES: u64 = 8;
    const SIZE: u64 = 40;
    let server = TestServer::start().await;
    let admin_token = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let bob = server.add_user("bob@example.com", Role::User);
    let alice_token = server.login(&alice).await.token;
    let bob_token = server.login(&bob).await.token;
    let mut sockets = BTreeMap::new();
    for (name, token) in [
        ("admin", &admin_token),
        ("alice", &alice_token),
        ("bob", &bob_token),
    ] {
        let socket = SocketClient::connect(&server.url, Some(token))
            .await
            .expect("accepted");
        sockets.insert(name, socket);
    }

    // Each writer mixes the three audiences in every batch.
    let writers = (0..WRITERS).map(|w| {
        let server = &server;
        let admin = &admin_token;
        let (alice, bob) = (alice.user.id, bob.user.id);
        async move {
            let mut stored = Vec::new();
            for b in 0..BATCHES {
                let mut audiences = Vec::new();
                let events = (0..SIZE)
                    .map(|n| {
                        let to = match (w + b + n) % 4 {
                            0 => json!({"user": alice}),
                            1 => json!({"user": bob}),
                            2 => json!({"room": "admin"}),
                            _ => json!({"all": true}),
                        };
                        audiences.push((w + b + n) % 4);
                        json!({"to": to, "type": "announcement", "title": format!("w{w} b{b}"), "message": format!("{n}")})
                    })
                    .collect();
                let ids = post_batch(server, admin, events).await;
                stored.extend(ids.into_iter().zip(audiences));
            }
            stored
        }
    });
    let stored: Vec<(u64, u64)> = futures_util::future::join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(stored.len() as u64, WRITERS * BATCHES * SIZE);

    let owed = |name: &str| {
        let mut ids: Vec<u64> = stored
            .iter()
            .filter(|(_, audience)| match name {
                "alice" => matches!(audience, 0 | 3),
                "bob" => matches!(audience, 1 | 3),
                _ => matches!(audience, 2 | 3),
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    };
    for (name, socket) in &mut sockets {
        let expected = owed(name);
        let got = receive_ids(socket, expected.len()).await;
        // Strictly increasing, and every owed id: no gap, none twice.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{name}: out of order");
        assert_eq!(got, expected, "{name}");
    }
}
