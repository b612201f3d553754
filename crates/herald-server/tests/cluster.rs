//! Two herald-server nodes on one Postgres and one Redis (real servers from
//! Debian's packages): what one node stores, revokes or counts, the other
//! knows, and a client on either sees every event once, in id order.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use herald_proto::api::Role;
use serde_json::{Value, json};
use support::cluster::Pair;
use support::server::order_update;
use support::socket::Seen;
use support::{SocketClient, WAIT};
use tokio::sync::Mutex;

/// The payload's id when `seen` is a notification event of `kind`.
fn event_id(seen: &Seen, kind: &str) -> Option<u64> {
    match seen {
        Seen::Event { name, payload } if name == kind => payload["id"].as_u64(),
        _ => None,
    }
}

async fn next_order(socket: &mut SocketClient) -> u64 {
    loop {
        let seen = socket.next(WAIT).await.expect("an event in time");
        if let Some(id) = event_id(&seen, "order_update") {
            return id;
        }
    }
}

#[tokio::test]
async fn an_event_posted_on_one_node_reaches_a_socket_on_the_other_and_both_catch_up() {
    let pair = Pair::start().await;
    let admin = pair.b.login(&pair.b.admin).await.token;
    let alice = pair.a.add_user("alice@example.com", Role::User);
    let token = pair.a.login(&alice).await.token;
    let mut on_a = SocketClient::connect(&pair.a.url, Some(&token))
        .await
        .expect("connect to a");

    let id = pair.b.emit(&admin, order_update(alice.user.id, 1)).await;
    assert_eq!(
        next_order(&mut on_a).await,
        id,
        "node a's socket got node b's event"
    );
    for node in [&pair.a, &pair.b] {
        let page = node.catch_up(&token, 0, 100).await;
        assert!(
            page.items.iter().any(|item| item.event.id == id),
            "catch-up from {} holds {id}",
            node.url
        );
    }
    on_a.disconnect().await;
}

#[tokio::test]
async fn a_logout_on_one_node_disconnects_the_sessions_socket_on_the_other() {
    let pair = Pair::start().await;
    let alice = pair.a.add_user("alice@example.com", Role::User);
    let token = pair.a.login(&alice).await.token;
    let mut on_b = SocketClient::connect(&pair.b.url, Some(&token))
        .await
        .expect("connect to b");

    let response = pair
        .a
        .http
        .post(pair.a.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 204);
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match on_b.next(WAIT).await {
                Some(Seen::Closed | Seen::Error(_)) | None => return,
                Some(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "node b kept the signed-out session's socket"
    );
    assert!(
        SocketClient::connect(&pair.b.url, Some(&token))
            .await
            .is_err(),
        "node b accepts the signed-out session again"
    );
}

#[tokio::test]
async fn the_admin_room_spans_both_nodes() {
    let pair = Pair::start().await;
    let admin = pair.a.login(&pair.a.admin).await.token;
    let second = pair.a.add_user("second-admin@example.com", Role::Admin);
    let second = pair.b.login(&second).await.token;
    let mut on_a = SocketClient::connect(&pair.a.url, Some(&admin))
        .await
        .expect("a");
    let mut on_b = SocketClient::connect(&pair.b.url, Some(&second))
        .await
        .expect("b");

    let id = pair
        .a
        .emit(
            &admin,
            json!({"to": {"room": "admin"}, "type": "announcement", "title": "Disk", "message": "90% full"}),
        )
        .await;
    for socket in [&mut on_a, &mut on_b] {
        let got = loop {
            let seen = socket.next(WAIT).await.expect("the admin event in time");
            if let Some(got) = event_id(&seen, "announcement") {
                break got;
            }
        };
        assert_eq!(got, id);
    }
}

#[tokio::test]
async fn forty_concurrent_wrong_passwords_over_both_nodes_get_the_one_limit() {
    let pair = Pair::start().await;
    let alice = pair.a.add_user("alice@example.com", Role::User);
    let mut attempts = Vec::new();
    for n in 0..40 {
        let node = if n % 2 == 0 { &pair.a } else { &pair.b };
        let (http, url) = (node.http.clone(), node.url("/api/auth/login"));
        let email = alice.user.email.clone();
        attempts.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"email": email, "password": "wrong password"}))
                .send()
                .await
                .expect("login")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("attempt"));
    }
    let refused = statuses.iter().filter(|&&s| s == 401).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(
        (refused, limited),
        (herald_server::config::LOGIN_MAX_FAILURES as usize, 35),
        "{statuses:?}"
    );
    for node in [&pair.a, &pair.b] {
        let right = node
            .http
            .post(node.url("/api/auth/login"))
            .json(&json!({"email": alice.user.email, "password": alice.password}))
            .send()
            .await
            .expect("login");
        assert_eq!(
            right.status(),
            429,
            "{} lets the right password through the limit",
            node.url
        );
        assert!(right.headers().contains_key("retry-after"));
    }
}

/// Admin `POST /api/events` without a `TestServer`, for writer tasks.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> u64 {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.expect("json")["id"]
        .as_u64()
        .expect("id")
}

/// Every id the server holds for `token`'s user after `after`, by catch-up.
async fn caught_up(node: &support::TestServer, token: &str, mut after: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    loop {
        let page = node.catch_up(token, after, 500).await;
        ids.extend(page.items.iter().map(|item| item.event.id));
        match page.items.last() {
            Some(last) if page.has_more => after = last.event.id,
            _ => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_writers_on_two_nodes_leave_a_reconnecting_client_every_id_once_in_order() {
    const WRITERS: u64 = 20;
    const EACH: u64 = 500;
    const N: u64 = WRITERS * EACH;
    let pair = Pair::start().await;
    let alice = pair.a.add_user("alice@example.com", Role::User);
    let token = pair.a.login(&alice).await.token;
    let admins = [
        pair.a.login(&pair.a.admin).await.token,
        pair.b.login(&pair.b.admin).await.token,
    ];

    let mut socket = SocketClient::connect(&pair.a.url, Some(&token))
        .await
        .expect("connect");
    // The client: a cursor, what it holds, and each socket's live ids.
    let mut have: BTreeSet<u64> = caught_up(&pair.a, &token, 0).await.into_iter().collect();
    let mut streams: Vec<Vec<u64>> = vec![Vec::new()];

    let posted = Arc::new(Mutex::new(BTreeSet::new()));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let node = [&pair.a, &pair.b][(w % 2) as usize];
        let (http, url) = (node.http.clone(), node.url("/api/events"));
        let (admin, posted, user) = (
            admins[(w % 2) as usize].clone(),
            posted.clone(),
            alice.user.id,
        );
        writers.push(tokio::spawn(async move {
            for n in 0..EACH {
                let id = post(&http, &url, &admin, &order_update(user, w * EACH + n)).await;
                posted.lock().await.insert(id);
            }
        }));
    }

    let mut orders = 0u64;
    let mut reconnected_at = None;
    let mut idle_since = std::time::Instant::now();
    while posted.lock().await.len() < N as usize || !posted.lock().await.is_subset(&have) {
        // A short wait, so that the loop's condition is checked again when
        // the last event arrived before its writer heard it was stored.
        let Some(seen) = socket.next(std::time::Duration::from_millis(100)).await else {
            if idle_since.elapsed() < WAIT {
                continue;
            }
            let posted = posted.lock().await.clone();
            let missing: Vec<&u64> = posted.difference(&have).take(20).collect();
            let tails: Vec<Option<&u64>> = streams.iter().map(|s| s.last()).collect();
            panic!(
                "no event for {WAIT:?}; {} posted, missing {missing:?}, streams end at {tails:?}; node a: {}, node b: {}",
                posted.len(),
                pair.a.health().await,
                pair.b.health().await
            );
        };
        idle_since = std::time::Instant::now();
        if matches!(seen, Seen::Closed | Seen::Error(_)) {
            // The server closed the socket (as a node does when it cannot
            // fill a gap): connect again and catch up, as a client does.
            let cursor = have.last().copied().unwrap_or(0);
            socket = SocketClient::connect(&pair.a.url, Some(&token))
                .await
                .expect("reconnect");
            streams.push(Vec::new());
            have.extend(caught_up(&pair.a, &token, cursor).await);
            continue;
        }
        let Some(id) = event_id(&seen, "order_update") else {
            continue;
        };
        streams.last_mut().expect("a stream").push(id);
        have.insert(id);
        orders += 1;
        if orders == N / 2 && reconnected_at.is_none() {
            // Mid-burst: drop the socket, connect again, catch up from the cursor.
            socket.disconnect().await;
            let cursor = *have.last().expect("a cursor");
            reconnected_at = Some((cursor, have.clone()));
            socket = SocketClient::connect(&pair.a.url, Some(&token))
                .await
                .expect("reconnect");
            streams.push(Vec::new());
            have.extend(caught_up(&pair.b, &token, cursor).await);
        }
    }
    for writer in writers {
        writer.await.expect("writer");
    }

    let posted = posted.lock().await.clone();
    assert_eq!(posted.len(), N as usize);
    let stored: Vec<u64> = caught_up(&pair.b, &token, 0).await;
    let stored_set: BTreeSet<u64> = stored.iter().copied().collect();
    assert!(posted.is_subset(&stored_set));
    assert_eq!(
        have, stored_set,
        "the client holds exactly what is stored for it"
    );
    for (i, stream) in streams.iter().enumerate() {
        assert!(
            stream.windows(2).all(|w| w[0] < w[1]),
            "socket {i} saw ids out of order or twice"
        );
        // No stored id of this user falls between two ids one socket got in a row.
        for pair_of_ids in stream.windows(2) {
            let skipped = stored_set.range(pair_of_ids[0] + 1..pair_of_ids[1]).next();
            assert!(
                skipped.is_none(),
                "socket {i} skipped {skipped:?} between {pair_of_ids:?}"
            );
        }
    }
    let (cursor, before) = reconnected_at.expect("the client reconnected mid-burst");
    let missed: Vec<u64> = stored_set
        .range(..=cursor)
        .filter(|id| !before.contains(id))
        .copied()
        .collect();
    assert!(
        missed.is_empty(),
        "the cursor {cursor} passed ids never received: {missed:?}"
    );
    socket.disconnect().await;
}
