//! One storage suite, run against both backends: SQLite (in memory) and a
//! private Postgres server. Each case is an async function over a [`Db`];
//! the `both!` macro makes a SQLite and a Postgres test of it.

mod support;

use herald_proto::Severity;
use herald_proto::api::{PushKeys, PushSubscription, Role};
use herald_server::store::event::{Audience, NewEvent};
use herald_server::store::session::{Pruned, Redeemed};
use herald_server::store::subscription::Saved;
use herald_server::store::{Db, StoreError, now_unix};
use serde_json::json;
use support::postgres::TestPostgres;

/// A database and whatever must outlive it.
struct Fixture {
    db: Db,
    _postgres: Option<TestPostgres>,
}

async fn sqlite() -> Fixture {
    Fixture {
        db: Db::open_in_memory().expect("open SQLite"),
        _postgres: None,
    }
}

async fn postgres() -> Fixture {
    let pg = TestPostgres::start();
    let db = Db::connect_postgres(&pg.url())
        .await
        .expect("connect to Postgres");
    Fixture {
        db,
        _postgres: Some(pg),
    }
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let fixture = super::sqlite().await;
                assert_eq!(fixture.db.backend_name(), "sqlite");
                super::$case(&fixture.db).await;
            }

            #[tokio::test]
            async fn postgres() {
                let fixture = super::postgres().await;
                assert_eq!(fixture.db.backend_name(), "postgres");
                super::$case(&fixture.db).await;
            }
        }
    )*};
}

both!(
    users_are_unique_by_email_in_any_case,
    refresh_tokens_rotate_once_and_reuse_revokes,
    sign_out_and_expiry,
    events_are_seen_by_their_audience_in_id_order,
    read_state_is_per_user_and_only_for_visible_events,
    events_after_lists_every_audience,
    push_subscriptions_belong_to_one_user_up_to_the_cap,
    pruning_events_keeps_the_last_id,
    pruning_sessions_keeps_what_can_still_be_used_or_reused,
    the_database_answers_a_ping,
    missing_users_names_only_ids_without_an_account,
);

async fn missing_users_names_only_ids_without_an_account(db: &Db) {
    let alice = db
        .insert_user("alice@example.com", "Alice", Role::User, "hash-a")
        .await
        .expect("insert alice");
    let unknown = alice.id + 1000;
    let missing = db
        .missing_users(vec![alice.id, unknown, u64::MAX])
        .await
        .expect("look up");
    assert_eq!(missing, vec![unknown, u64::MAX]);
    assert!(db.missing_users(Vec::new()).await.expect("none").is_empty());
}

fn event(audience: Audience, title: &str) -> NewEvent {
    NewEvent {
        audience,
        kind: "notification".into(),
        title: title.into(),
        message: "m".into(),
        url: Some(format!("https://example.com/{title}")),
        severity: Some(Severity::Warning),
        data: json!({ "n": title, "nested": [1, 2] }),
    }
}

fn sub(endpoint: &str, key: &str) -> PushSubscription {
    PushSubscription {
        endpoint: endpoint.into(),
        keys: PushKeys {
            p256dh: key.into(),
            auth: "auth".into(),
        },
    }
}

async fn titles(db: &Db, user: u64, admin: bool) -> Vec<String> {
    let (items, _) = db.page_for(user, admin, 0, 100).await.expect("page");
    items.into_iter().map(|i| i.event.title).collect()
}

async fn users_are_unique_by_email_in_any_case(db: &Db) {
    let alice = db
        .insert_user("alice@example.com", "Alice", Role::User, "hash-a")
        .await
        .expect("insert alice");
    let again = db
        .insert_user("ALICE@example.com", "Alice 2", Role::Admin, "h")
        .await;
    assert!(
        matches!(again, Err(StoreError::DuplicateEmail(_))),
        "{again:?}"
    );
    let bob = db
        .insert_user("bob@example.com", "Bob", Role::Admin, "hash-b")
        .await
        .expect("insert bob");
    assert_ne!(alice.id, bob.id);
    let found = db
        .find_user_by_email("Alice@Example.COM")
        .await
        .expect("find")
        .expect("alice is found in any case");
    assert_eq!(found.user, alice);
    assert_eq!(found.password_hash, "hash-a");
    let by_id = db
        .find_user_by_id(bob.id)
        .await
        .expect("find")
        .expect("bob");
    assert_eq!(by_id.user.role, Role::Admin);
    assert!(db.find_user_by_id(9_999).await.expect("find").is_none());
    assert!(
        db.find_user_by_email("carol@example.com")
            .await
            .expect("find")
            .is_none()
    );
}

async fn refresh_tokens_rotate_once_and_reuse_revokes(db: &Db) {
    let u = db
        .insert_user("a@example.com", "A", Role::User, "h")
        .await
        .expect("user");
    db.create_session("s1", u.id, "l1").await.expect("session");
    db.add_refresh_token("s1", "r1", now_unix() + 60)
        .await
        .expect("token");
    assert_eq!(
        db.redeem_refresh_token("r1").await.expect("redeem"),
        Redeemed::Ok {
            session_id: "s1".into(),
            user_id: u.id
        }
    );
    db.add_refresh_token("s1", "r2", now_unix() + 60)
        .await
        .expect("next token");
    assert!(db.session_is_active("s1").await.expect("active"));
    assert_eq!(
        db.session_of("r1").await.expect("of"),
        Some("s1".into()),
        "a spent token still names its session"
    );
    assert_eq!(
        db.redeem_refresh_token("r1").await.expect("reuse"),
        Redeemed::Reused {
            session_id: "s1".into()
        }
    );
    assert!(!db.session_is_active("s1").await.expect("active"));
    assert_eq!(
        db.redeem_refresh_token("r2").await.expect("successor"),
        Redeemed::Invalid,
        "the successor dies with the session"
    );
    assert_eq!(
        db.redeem_refresh_token("never-issued")
            .await
            .expect("unknown"),
        Redeemed::Invalid
    );
    assert_eq!(db.session_of("never-issued").await.expect("of"), None);
}

async fn sign_out_and_expiry(db: &Db) {
    let u = db
        .insert_user("a@example.com", "A", Role::User, "h")
        .await
        .expect("user");
    db.create_session("old", u.id, "l1").await.expect("session");
    db.add_refresh_token("old", "stale", now_unix() - 1)
        .await
        .expect("token");
    assert_eq!(
        db.redeem_refresh_token("stale").await.expect("redeem"),
        Redeemed::Invalid,
        "an expired token is refused"
    );
    db.create_session("s2", u.id, "l2").await.expect("session");
    db.add_refresh_token("s2", "fresh", now_unix() + 60)
        .await
        .expect("token");
    assert!(!db.session_is_active("nobody").await.expect("active"));
    db.revoke_session("s2").await.expect("revoke");
    db.revoke_session("s2")
        .await
        .expect("revoking twice is fine");
    assert!(!db.session_is_active("s2").await.expect("active"));
    assert_eq!(
        db.redeem_refresh_token("fresh").await.expect("redeem"),
        Redeemed::Invalid,
        "a signed-out session's token is refused"
    );
}

async fn events_are_seen_by_their_audience_in_id_order(db: &Db) {
    assert_eq!(db.last_event_id().await.expect("last"), 0);
    let batch = vec![
        event(Audience::User(1), "a"),
        event(Audience::User(2), "b"),
        event(Audience::Admins, "c"),
        event(Audience::All, "d"),
    ];
    let stored = db
        .insert_events(batch, "2026-01-01T00:00:00.000Z".into())
        .await
        .expect("insert");
    let ids: Vec<u64> = stored.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    assert_eq!(db.last_event_id().await.expect("last"), ids[3]);
    assert_eq!(titles(db, 1, false).await, ["a", "d"]);
    assert_eq!(titles(db, 2, true).await, ["b", "c", "d"]);
    assert_eq!(titles(db, 3, false).await, ["d"]);

    // Paging: five more for user 1, two at a time.
    let more: Vec<NewEvent> = (0..5)
        .map(|i| event(Audience::User(1), &i.to_string()))
        .collect();
    db.insert_events(more, "2026-01-02T00:00:00.000Z".into())
        .await
        .expect("insert");
    let (first, has_more) = db.page_for(1, false, 0, 2).await.expect("page");
    assert!(has_more);
    assert_eq!(first.len(), 2);
    let (rest, has_more) = db
        .page_for(1, false, first[1].event.id, 10)
        .await
        .expect("page");
    assert!(!has_more);
    let all: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|i| i.event.title.clone())
        .collect();
    assert_eq!(all, ["a", "d", "0", "1", "2", "3", "4"]);
    // The envelope comes back as it went in.
    let e = &rest[0].event;
    assert_eq!(e.data, json!({ "n": "0", "nested": [1, 2] }));
    assert_eq!(e.severity, Some(Severity::Warning));
    assert_eq!(e.url.as_deref(), Some("https://example.com/0"));
    assert_eq!(e.created_at, "2026-01-02T00:00:00.000Z");
    assert_eq!(e.kind, "notification");
    let (none, has_more) = db
        .page_for(1, false, rest.last().expect("last").event.id, 10)
        .await
        .expect("page");
    assert!(none.is_empty() && !has_more);
}

async fn read_state_is_per_user_and_only_for_visible_events(db: &Db) {
    let stored = db
        .insert_events(
            vec![
                event(Audience::User(1), "mine"),
                event(Audience::User(2), "theirs"),
                event(Audience::Admins, "admins"),
                event(Audience::All, "everyone"),
            ],
            "t".into(),
        )
        .await
        .expect("insert");
    let ids: Vec<u64> = stored.iter().map(|e| e.id).collect();
    assert_eq!(
        db.set_read(1, false, ids.clone(), true)
            .await
            .expect("read"),
        2,
        "only user 1's own and the global event"
    );
    assert_eq!(
        db.set_read(1, false, ids.clone(), true)
            .await
            .expect("read"),
        0,
        "idempotent"
    );
    assert_eq!(
        db.set_read(2, true, ids.clone(), true).await.expect("read"),
        3,
        "an admin marks its own, the admins' and the global one"
    );
    let (mine, _) = db.page_for(1, false, 0, 10).await.expect("page");
    assert!(mine.iter().all(|i| i.read), "{mine:?}");
    let (other, _) = db.page_for(3, false, 0, 10).await.expect("page");
    assert_eq!(other.len(), 1);
    assert!(!other[0].read, "user 3 has not read the global event");
    assert_eq!(
        db.set_read(1, false, ids.clone(), false)
            .await
            .expect("unread"),
        2
    );
    let (mine, _) = db.page_for(1, false, 0, 10).await.expect("page");
    assert!(mine.iter().all(|i| !i.read));
    let (theirs, _) = db.page_for(2, true, 0, 10).await.expect("page");
    assert!(theirs.iter().all(|i| i.read), "user 2's marks are its own");
}

async fn events_after_lists_every_audience(db: &Db) {
    let stored = db
        .insert_events(
            vec![
                event(Audience::User(7), "u"),
                event(Audience::Admins, "a"),
                event(Audience::All, "all"),
            ],
            "t".into(),
        )
        .await
        .expect("insert");
    let all = db.events_after(0, 100).await.expect("after");
    let seen: Vec<(Audience, u64)> = all.iter().map(|e| (e.audience, e.envelope.id)).collect();
    assert_eq!(
        seen,
        [
            (Audience::User(7), stored[0].id),
            (Audience::Admins, stored[1].id),
            (Audience::All, stored[2].id),
        ]
    );
    assert_eq!(all[2].envelope, stored[2]);
    let tail = db.events_after(stored[0].id, 1).await.expect("after");
    assert_eq!(tail.len(), 1, "the limit holds");
    assert_eq!(tail[0].envelope.id, stored[1].id);
    assert!(
        db.events_after(stored[2].id, 10)
            .await
            .expect("after")
            .is_empty()
    );
}

async fn push_subscriptions_belong_to_one_user_up_to_the_cap(db: &Db) {
    let alice = db
        .insert_user("alice@example.com", "A", Role::User, "h")
        .await
        .expect("user")
        .id;
    let mallory = db
        .insert_user("mallory@example.com", "M", Role::User, "h")
        .await
        .expect("user")
        .id;
    let save = |user, s| db.save_subscription(user, s, 2);
    assert_eq!(
        save(alice, sub("https://p/1", "k1")).await.expect("save"),
        Saved::Added
    );
    assert_eq!(
        save(alice, sub("https://p/1", "k1b")).await.expect("save"),
        Saved::Refreshed
    );
    assert_eq!(
        save(mallory, sub("https://p/1", "evil"))
            .await
            .expect("save"),
        Saved::OwnedByAnother
    );
    assert_eq!(
        save(alice, sub("https://p/2", "k2")).await.expect("save"),
        Saved::Added
    );
    assert_eq!(
        save(alice, sub("https://p/3", "k3")).await.expect("save"),
        Saved::LimitReached,
        "the cap is 2"
    );
    let subs = db.subscriptions_for(alice, 10).await.expect("list");
    let endpoints: Vec<&str> = subs.iter().map(|s| s.endpoint.as_str()).collect();
    assert_eq!(endpoints, ["https://p/2", "https://p/1"], "newest first");
    assert_eq!(subs[1].keys.p256dh, "k1b", "refreshed keys are kept");
    assert_eq!(db.subscriptions_for(alice, 1).await.expect("list").len(), 1);
    assert!(
        db.subscriptions_for(mallory, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        !db.delete_subscription(mallory, "https://p/1")
            .await
            .expect("delete"),
        "only the owner deletes"
    );
    assert!(
        db.delete_subscription(alice, "https://p/1")
            .await
            .expect("delete")
    );
    assert!(
        !db.delete_subscription(alice, "https://p/1")
            .await
            .expect("delete")
    );
    assert_eq!(
        save(alice, sub("https://p/3", "k3")).await.expect("save"),
        Saved::Added
    );
}

async fn pruning_events_keeps_the_last_id(db: &Db) {
    let old = db
        .insert_events(
            vec![event(Audience::User(1), "a"), event(Audience::All, "b")],
            "2026-01-01T00:00:00.000Z".into(),
        )
        .await
        .expect("insert");
    let new = db
        .insert_events(
            vec![event(Audience::User(1), "c")],
            "2026-03-01T00:00:00.000Z".into(),
        )
        .await
        .expect("insert");
    let ids: Vec<u64> = old.iter().chain(&new).map(|e| e.id).collect();
    db.set_read(1, false, ids.clone(), true)
        .await
        .expect("read");
    let cutoff = || "2026-02-01T00:00:00.000Z".to_owned();
    // One at a time, as the task does in batches.
    assert_eq!(db.prune_events_before(cutoff(), 1).await.expect("prune"), 1);
    assert_eq!(
        db.prune_events_before(cutoff(), 10).await.expect("prune"),
        1
    );
    assert_eq!(
        db.prune_events_before(cutoff(), 10).await.expect("prune"),
        0
    );
    let (left, _) = db.page_for(1, false, 0, 10).await.expect("page");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event.title, "c");
    assert!(left[0].read, "the kept event keeps its read mark");
    // Marking the pruned ones again changes nothing: their marks went too.
    assert_eq!(
        db.set_read(1, false, ids[..2].to_vec(), false)
            .await
            .expect("unread"),
        0
    );
    let (after_old, has_more) = db.page_for(1, false, ids[0], 10).await.expect("page");
    assert_eq!((after_old.len(), has_more), (1, false));
    // Pruning the newest too leaves the last id where it was.
    db.prune_events_before("2027-01-01T00:00:00.000Z".into(), 10)
        .await
        .expect("prune");
    assert_eq!(db.last_event_id().await.expect("last"), ids[2]);
    let next = db
        .insert_events(vec![event(Audience::User(1), "d")], "t".into())
        .await
        .expect("insert");
    assert!(next[0].id > ids[2], "ids are never reused");
}

async fn pruning_sessions_keeps_what_can_still_be_used_or_reused(db: &Db) {
    let u = db
        .insert_user("a@example.com", "A", Role::User, "h")
        .await
        .expect("user")
        .id;
    let now = now_unix();
    let hour = 3600;
    // Live: a spent token valid 10 h more (its reuse must still be caught),
    // and its successor.
    db.create_session("live", u, "l1").await.expect("session");
    db.add_refresh_token("live", "spent", now + 10 * hour)
        .await
        .expect("token");
    assert!(matches!(
        db.redeem_refresh_token("spent").await.expect("redeem"),
        Redeemed::Ok { .. }
    ));
    db.add_refresh_token("live", "next", now + 20 * hour)
        .await
        .expect("token");
    // Its only token expires in a minute.
    db.create_session("expiring", u, "l2")
        .await
        .expect("session");
    db.add_refresh_token("expiring", "short", now + 60)
        .await
        .expect("token");
    // Just made, no refresh token (yet, or ever).
    db.create_session("young", u, "l3").await.expect("session");
    // Signed out.
    db.create_session("signed-out", u, "l4")
        .await
        .expect("session");
    db.add_refresh_token("signed-out", "unused", now + hour)
        .await
        .expect("token");
    db.revoke_session("signed-out").await.expect("revoke");

    // Now, with an hour's grace: only the signed-out session goes.
    assert_eq!(
        db.prune_sessions(now, hour).await.expect("prune"),
        Pruned {
            sessions: 1,
            refresh_tokens: 1
        }
    );
    for kept in ["live", "expiring", "young"] {
        assert!(db.session_is_active(kept).await.expect("active"), "{kept}");
    }
    assert_eq!(db.session_of("unused").await.expect("of"), None);

    // Two hours on: "short" expired over the grace ago, and "young" is
    // older than the grace with no token; "live" keeps both of its tokens.
    assert_eq!(
        db.prune_sessions(now + 2 * hour, hour)
            .await
            .expect("prune"),
        Pruned {
            sessions: 2,
            refresh_tokens: 1
        }
    );
    assert!(!db.session_is_active("expiring").await.expect("active"));
    assert!(!db.session_is_active("young").await.expect("active"));
    assert_eq!(db.session_of("short").await.expect("of"), None);
    for kept in ["spent", "next"] {
        assert_eq!(
            db.session_of(kept).await.expect("of"),
            Some("live".into()),
            "{kept}"
        );
    }
    assert_eq!(
        db.redeem_refresh_token("spent").await.expect("reuse"),
        Redeemed::Reused {
            session_id: "live".into()
        },
        "reuse of a pruned-around spent token still signs out"
    );
    assert_eq!(
        db.prune_sessions(now + 2 * hour, hour)
            .await
            .expect("prune"),
        Pruned {
            sessions: 1,
            refresh_tokens: 2
        },
        "the session just revoked, and its tokens"
    );
}

async fn the_database_answers_a_ping(db: &Db) {
    db.ping().await.expect("ping");
}
