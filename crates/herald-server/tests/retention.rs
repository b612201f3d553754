//! Old events, expired refresh tokens and ended sessions are deleted by the
//! server's own pruning task, on the real SQLite file; catch-up and
//! refresh-token reuse detection still work on what is kept.

mod support;

use std::path::Path;
use std::time::Duration;

use herald_proto::api::Role;
use herald_proto::{Envelope, Severity};
use herald_server::Config;
use herald_server::store::event::{self, Audience, NewEvent};
use herald_server::store::sqlite::SqliteDb;
use herald_server::store::{StoreError, now_unix, session};
use serde_json::{Value, json};
use support::server::PASSWORD;
use support::{Account, TestServer};

const DAY: i64 = 24 * 3600;

fn order(user: u64, n: u64) -> NewEvent {
    NewEvent {
        audience: Audience::User(user),
        kind: "order_update".into(),
        title: format!("Order {n}"),
        message: "shipped".into(),
        url: None,
        severity: Some(Severity::Info),
        data: json!({ "n": n }),
    }
}

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What the data directory holds before the server starts.
struct Seeded {
    alice: Account,
    old: Vec<Envelope>,
    recent: Vec<Envelope>,
}

/// Writes, before the server runs: 3 events of 40 days ago and 2 of a day
/// ago (one of each read), and five sessions in every state.
fn seed(config: &Config) -> Seeded {
    let user = support::server::add_user_blocking(config, "alice@example.com", Role::User);
    let db = SqliteDb::open(&config.data_dir).expect("open the database");
    let id = user.id;
    let (old, recent) = db
        .call_blocking(|conn| {
            let old = event::insert_batch(
                conn,
                &[order(id, 1), order(id, 2), order(id, 3)],
                &days_ago(40),
            )?;
            let recent = event::insert_batch(conn, &[order(id, 4), order(id, 5)], &days_ago(1))?;
            event::set_read(conn, id, false, &[old[0].id, recent[0].id], true)?;
            let now = now_unix();
            // Live, its first token spent and valid another 10 days.
            session::create(conn, "live", id, "l1")?;
            session::add_refresh_token(conn, "live", "spent", now + 10 * DAY)?;
            session::redeem(conn, "spent")?;
            session::add_refresh_token(conn, "live", "next", now + 30 * DAY)?;
            // Live, with a spent token that expired two days ago.
            session::create(conn, "rotated", id, "l2")?;
            session::add_refresh_token(conn, "rotated", "ancient", now - 2 * DAY)?;
            session::add_refresh_token(conn, "rotated", "current", now + DAY)?;
            // Every token expired two days ago; and signed out.
            session::create(conn, "expired", id, "l3")?;
            session::add_refresh_token(conn, "expired", "stale", now - 2 * DAY)?;
            conn.execute(
                "UPDATE sessions SET created_at = ?1 WHERE id = 'expired'",
                [now - 40 * DAY],
            )?;
            session::create(conn, "signed-out", id, "l4")?;
            session::add_refresh_token(conn, "signed-out", "unused", now + DAY)?;
            session::revoke(conn, "signed-out")?;
            Ok::<_, StoreError>((old, recent))
        })
        .expect("seed");
    drop(db);
    assert_eq!(counts(&config.data_dir), (5, 2, 4, 6), "seeded");
    Seeded {
        alice: support::Account {
            user,
            password: PASSWORD.into(),
        },
        old,
        recent,
    }
}

/// (events, reads, sessions, refresh tokens) stored now.
fn counts(dir: &Path) -> (u64, u64, u64, u64) {
    let db = SqliteDb::open(dir).expect("open the database");
    db.call_blocking(|conn| {
        let count = |table: &str| -> Result<u64, StoreError> {
            Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
        };
        Ok::<_, StoreError>((
            count("events")?,
            count("reads")?,
            count("sessions")?,
            count("refresh_tokens")?,
        ))
    })
    .expect("count rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_spent_tokens_and_ended_sessions_are_pruned_and_what_is_kept_works() {
    let mut seeded = None;
    let mut server = TestServer::start_with(|c| seeded = Some(seed(c))).await;
    let Seeded { alice, old, recent } = seeded.expect("seeded");
    let dir = server.config.data_dir.clone();

    // Expected once pruned: the 2 recent events and their 1 read mark; the
    // live and rotated sessions; "spent", "next" and "current".
    let expected = (2, 1, 2, 3);
    let pruned = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let now = tokio::task::spawn_blocking({
                let dir = dir.clone();
                move || counts(&dir)
            })
            .await
            .expect("count");
            if now == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        pruned.is_ok(),
        "(events, reads, sessions, refresh tokens) are {:?}, not {expected:?}",
        counts(&dir)
    );

    // Catch-up from 0, and from a cursor among the deleted ids, gets what
    // is left (and alice's new login alert), never an old one.
    let token = server.login(&alice).await.token;
    for after in [0, old[0].id] {
        let page = server.catch_up(&token, after, 1000).await;
        let orders: Vec<u64> = page
            .items
            .iter()
            .filter(|i| i.event.kind == "order_update")
            .map(|i| i.event.id)
            .collect();
        let kept: Vec<u64> = recent.iter().map(|e| e.id).collect();
        assert_eq!(orders, kept, "after={after}");
        assert!(page.items.iter().any(|i| i.event.id == kept[0] && i.read));
    }

    // The spent token was kept: presenting it again still signs out.
    let reused = server
        .http
        .post(server.url("/api/auth/refresh"))
        .json(&json!({ "refreshToken": "spent" }))
        .send()
        .await
        .expect("refresh");
    assert_eq!(reused.status(), 401);
    let body: Value = reused.json().await.expect("body");
    assert_eq!(body["error"]["code"], "refresh_token_reused", "{body}");

    // The task ends with the server.
    tokio::time::timeout(support::WAIT, server.stop())
        .await
        .expect("the server and its pruning task stop");
}
