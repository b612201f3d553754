//! Persistence: one async interface ([`Db`]) over two backends.
//!
//! - SQLite, the embedded default: one file in the data directory
//!   ([`sqlite`]), its queries in [`event`], [`session`], [`subscription`]
//!   and [`user`], next to the types every backend returns.
//! - Postgres, for several nodes sharing one database (`--database-url`).
//!
//! Callers see only [`Db`]'s methods, so every rule a method promises (ids
//! in commit order, a refresh token used once, the per-account push cap) is
//! kept by each backend and checked by one test suite run against both
//! (`tests/storage.rs`).

pub mod event;
pub mod migration;
pub mod postgres;
pub mod session;
pub mod sqlite;
pub mod subscription;
pub mod user;

use std::path::Path;

use herald_proto::Envelope;
use herald_proto::api::{CatchUpItem, PushSubscription, Role, User};

use event::{NewEvent, StoredEvent};
use postgres::PgDb;
use session::{Pruned, Redeemed};
use sqlite::SqliteDb;
use subscription::Saved;
use user::UserRecord;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(String),
    /// The database cannot be reached (or did not answer in time): the
    /// caller may retry later, nothing was stored.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database task failed: {0}")]
    Task(String),
    #[error("cannot secure the database file: {0}")]
    File(String),
    #[error("a user with the email {0} already exists")]
    DuplicateEmail(String),
}

/// A handle on the database, cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({})", self.backend_name())
    }
}

impl From<SqliteDb> for Db {
    fn from(db: SqliteDb) -> Db {
        Db {
            backend: Backend::Sqlite(db),
        }
    }
}

impl Db {
    /// Opens (or creates) the SQLite database in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Db, StoreError> {
        Ok(SqliteDb::open(data_dir)?.into())
    }

    /// Connects to the Postgres database at `url` and migrates it.
    pub async fn connect_postgres(url: &str) -> Result<Db, StoreError> {
        Ok(Db {
            backend: Backend::Postgres(PgDb::connect(url).await?),
        })
    }

    /// An in-memory SQLite database, for tests.
    pub fn open_in_memory() -> Result<Db, StoreError> {
        Ok(SqliteDb::open_in_memory()?.into())
    }

    /// `sqlite` or `postgres`, as `/healthz` reports it.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
                    .await
            }
            Backend::Postgres(db) => db.ping().await,
        }
    }

    // Events.

    /// Stores a batch in one transaction and returns the envelopes, ids
    /// assigned in the order given. Ids are visible in commit order: once a
    /// reader has seen id N, no event with an id below N appears later.
    pub async fn insert_events(
        &self,
        events: Vec<NewEvent>,
        created_at: String,
    ) -> Result<Vec<Envelope>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| event::insert_batch(conn, &events, &created_at))
                    .await
            }
            Backend::Postgres(db) => db.insert_events(&events, &created_at).await,
        }
    }

    /// One page of what `user_id` can see after `after`, oldest first, and
    /// whether there is more.
    pub async fn page_for(
        &self,
        user_id: u64,
        is_admin: bool,
        after: u64,
        limit: u32,
    ) -> Result<(Vec<CatchUpItem>, bool), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| event::page_for(conn, user_id, is_admin, after, limit))
                    .await
            }
            Backend::Postgres(db) => db.page_for(user_id, is_admin, after, limit).await,
        }
    }

    /// Every stored event, whatever its audience, with an id above
    /// `after_id`, in id order, at most `limit` of them.
    pub async fn events_after(
        &self,
        after_id: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| event::after(conn, after_id, limit))
                    .await
            }
            Backend::Postgres(db) => db.events_after(after_id, limit).await,
        }
    }

    /// Marks read (or unread) those of `ids` that `user_id` can see; returns
    /// how many changed.
    pub async fn set_read(
        &self,
        user_id: u64,
        is_admin: bool,
        ids: Vec<u64>,
        read: bool,
    ) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| event::set_read(conn, user_id, is_admin, &ids, read))
                    .await
            }
            Backend::Postgres(db) => db.set_read(user_id, is_admin, &ids, read).await,
        }
    }

    /// The newest event id ever assigned, 0 when there is none; it stays put
    /// when pruning deletes the newest rows.
    pub async fn last_event_id(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| event::last_id(conn)).await,
            Backend::Postgres(db) => db.last_event_id().await,
        }
    }

    /// Deletes up to `batch` of the oldest events created before `cutoff`
    /// (RFC 3339, as the hub writes them) with their read marks; how many went.
    pub async fn prune_events_before(&self, cutoff: String, batch: u32) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| event::prune_before(conn, &cutoff, batch))
                    .await
            }
            Backend::Postgres(db) => db.prune_events_before(&cutoff, batch).await,
        }
    }

    // Users.

    /// Adds a user; [`StoreError::DuplicateEmail`] when the email (in any
    /// case) is taken.
    pub async fn insert_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let (email, name, hash) = (email.to_owned(), name.to_owned(), password_hash.to_owned());
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| user::insert(conn, &email, &name, role, &hash))
                    .await
            }
            Backend::Postgres(db) => db.insert_user(&email, &name, role, &hash).await,
        }
    }

    /// The user with `email`, compared without regard to case.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let email = email.to_owned();
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| user::find_by_email(conn, &email)).await,
            Backend::Postgres(db) => db.find_user_by_email(&email).await,
        }
    }

    pub async fn find_user_by_id(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| user::find_by_id(conn, id)).await,
            Backend::Postgres(db) => db.find_user_by_id(id).await,
        }
    }

    /// Which of `ids` name no user: one query (one lock of SQLite), however
    /// many ids a batch of events names.
    pub async fn missing_users(&self, ids: Vec<u64>) -> Result<Vec<u64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| {
                    let mut missing = Vec::new();
                    for id in ids {
                        // An id past SQLite's integer range names nobody.
                        if i64::try_from(id).is_err() || user::find_by_id(conn, id)?.is_none() {
                            missing.push(id);
                        }
                    }
                    Ok(missing)
                })
                .await
            }
            Backend::Postgres(db) => db.missing_users(&ids).await,
        }
    }

    // Sessions.

    /// Records a new session (one login) of `user_id`.
    pub async fn create_session(
        &self,
        session_id: &str,
        user_id: u64,
        login_id: &str,
    ) -> Result<(), StoreError> {
        let (sid, login) = (session_id.to_owned(), login_id.to_owned());
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| session::create(conn, &sid, user_id, &login))
                    .await
            }
            Backend::Postgres(db) => db.create_session(&sid, user_id, &login).await,
        }
    }

    /// Stores the hash of a new refresh token of `session_id`.
    pub async fn add_refresh_token(
        &self,
        session_id: &str,
        token: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let (sid, token) = (session_id.to_owned(), token.to_owned());
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| session::add_refresh_token(conn, &sid, &token, expires_at))
                    .await
            }
            Backend::Postgres(db) => db.add_refresh_token(&sid, &token, expires_at).await,
        }
    }

    /// Spends a refresh token; reusing a spent one revokes its session.
    pub async fn redeem_refresh_token(&self, token: &str) -> Result<Redeemed, StoreError> {
        let token = token.to_owned();
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| session::redeem(conn, &token)).await,
            Backend::Postgres(db) => db.redeem_refresh_token(&token).await,
        }
    }

    pub async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        let sid = session_id.to_owned();
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| session::revoke(conn, &sid)).await,
            Backend::Postgres(db) => db.revoke_session(&sid).await,
        }
    }

    /// Whether a session exists and has not been revoked.
    pub async fn session_is_active(&self, session_id: &str) -> Result<bool, StoreError> {
        let sid = session_id.to_owned();
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| session::is_active(conn, &sid)).await,
            Backend::Postgres(db) => db.session_is_active(&sid).await,
        }
    }

    /// The session a refresh token belongs to, used or not.
    pub async fn session_of(&self, refresh_token: &str) -> Result<Option<String>, StoreError> {
        let token = refresh_token.to_owned();
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| session::session_of(conn, &token)).await,
            Backend::Postgres(db) => db.session_of(&token).await,
        }
    }

    /// Deletes ended sessions and expired refresh tokens as of `now` (Unix
    /// s); see [`session::prune`] for the rules.
    pub async fn prune_sessions(&self, now: i64, grace: i64) -> Result<Pruned, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| session::prune(conn, now, grace)).await,
            Backend::Postgres(db) => db.prune_sessions(now, grace).await,
        }
    }

    // Push subscriptions.

    /// Saves `user_id`'s subscription, at most `max` per user; an endpoint
    /// belongs to the user who saved it first.
    pub async fn save_subscription(
        &self,
        user_id: u64,
        sub: PushSubscription,
        max: usize,
    ) -> Result<Saved, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| subscription::save(conn, user_id, &sub, max))
                    .await
            }
            Backend::Postgres(db) => db.save_subscription(user_id, &sub, max).await,
        }
    }

    /// Deletes `user_id`'s subscription at `endpoint`; whether there was one.
    pub async fn delete_subscription(
        &self,
        user_id: u64,
        endpoint: &str,
    ) -> Result<bool, StoreError> {
        let endpoint = endpoint.to_owned();
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| subscription::delete(conn, user_id, &endpoint))
                    .await
            }
            Backend::Postgres(db) => db.delete_subscription(user_id, &endpoint).await,
        }
    }

    /// `user_id`'s newest `limit` subscriptions.
    pub async fn subscriptions_for(
        &self,
        user_id: u64,
        limit: usize,
    ) -> Result<Vec<PushSubscription>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| subscription::for_user(conn, user_id, limit))
                    .await
            }
            Backend::Postgres(db) => db.subscriptions_for(user_id, limit).await,
        }
    }
}

/// Seconds since the Unix epoch, the unit of every stored instant.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}
