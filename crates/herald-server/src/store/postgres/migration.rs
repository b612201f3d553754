//! The Postgres schema, as an append-only list of migrations.
//!
//! Never edit a migration that has shipped: add a new one. The number
//! applied is the one row of `herald_schema`. Migrating runs in one
//! transaction holding an advisory lock, so when two nodes start at once one
//! applies the list and the other then finds it applied.

use deadpool_postgres::Client;

use super::StoreError;

/// The advisory lock key of migrations (any constant; "herald" in ASCII).
const LOCK_KEY: i64 = 0x6865_7261_6c64;

const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, refresh tokens, events and their id counter, read
    // state, push subscriptions (the same tables and rules as SQLite's).
    r#"
    CREATE TABLE users (
        id            BIGSERIAL PRIMARY KEY,
        email         TEXT NOT NULL,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
        password_hash TEXT NOT NULL,
        created_at    BIGINT NOT NULL
    );
    -- Emails are unique whatever their case, as SQLite's NOCASE.
    CREATE UNIQUE INDEX users_email ON users (lower(email));
    CREATE TABLE sessions (
        id         TEXT PRIMARY KEY,
        user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        login_id   TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE TABLE refresh_tokens (
        hash       TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        expires_at BIGINT NOT NULL,
        used_at    BIGINT
    );
    CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
    CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
    -- The last event id ever assigned. Not a sequence: see event.rs.
    CREATE TABLE event_counter (
        one  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        last BIGINT NOT NULL
    );
    INSERT INTO event_counter (last) VALUES (0);
    CREATE TABLE events (
        id          BIGINT PRIMARY KEY,
        target_kind TEXT NOT NULL CHECK (target_kind IN ('user', 'room', 'all')),
        target_user BIGINT,
        target_room TEXT,
        type        TEXT NOT NULL,
        title       TEXT NOT NULL,
        message     TEXT NOT NULL,
        url         TEXT,
        severity    TEXT,
        data        TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX events_user ON events(target_user, id);
    CREATE INDEX events_room ON events(target_room, id);
    CREATE INDEX events_created ON events(created_at);
    CREATE TABLE reads (
        user_id  BIGINT NOT NULL,
        event_id BIGINT NOT NULL,
        PRIMARY KEY (user_id, event_id)
    );
    CREATE INDEX reads_event ON reads(event_id);
    CREATE TABLE push_subscriptions (
        endpoint   TEXT PRIMARY KEY,
        user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        p256dh     TEXT NOT NULL,
        auth       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        -- Insertion order, for "newest first" within one second.
        seq        BIGSERIAL NOT NULL
    );
    CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);
    "#,
];

/// Applies every migration newer than the database, in one transaction.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS herald_schema (version INTEGER NOT NULL);
         INSERT INTO herald_schema (version)
             SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM herald_schema);",
    )
    .await?;
    let applied: i32 = tx
        .query_one("SELECT version FROM herald_schema", &[])
        .await?
        .get(0);
    let applied = usize::try_from(applied)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {applied}")))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {applied}, newer than this server knows ({}); \
             upgrade herald-server",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql).await?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE herald_schema SET version = $1", &[&version])
            .await?;
        tracing::info!(version, "applied Postgres schema migration");
    }
    tx.commit().await?;
    Ok(())
}
