//! The schema, as an append-only list of migrations.
//!
//! Never edit a migration that has shipped: add a new one. The index of the
//! last one applied is kept in `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, refresh tokens, events, read state, push subscriptions.
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
        password_hash TEXT NOT NULL,
        created_at    INTEGER NOT NULL
    );
    -- One row per login. Access tokens carry the session id, so revoking the
    -- session revokes every token issued under it.
    CREATE TABLE sessions (
        id         TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        login_id   TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    -- Only the SHA-256 of a refresh token is stored.
    CREATE TABLE refresh_tokens (
        hash       TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER
    );
    CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
    -- AUTOINCREMENT: ids are never reused, even after the newest row is
    -- deleted, so a client's "after=ID" can never skip a new event.
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        target_kind TEXT NOT NULL CHECK (target_kind IN ('user', 'room', 'all')),
        target_user INTEGER,
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
    CREATE TABLE reads (
        user_id  INTEGER NOT NULL,
        event_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE push_subscriptions (
        endpoint   TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        p256dh     TEXT NOT NULL,
        auth       TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);
    "#,
    // 2: what the pruning task looks rows up by: events by age, read marks
    // by event, refresh tokens by expiry.
    r#"
    CREATE INDEX events_created ON events(created_at);
    CREATE INDEX reads_event ON reads(event_id);
    CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
    "#,
];

/// Applies every migration newer than the database, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
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
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        migrate(&mut conn)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        assert_eq!(version, MIGRATIONS.len() as i64);
        Ok(())
    }

    #[test]
    fn a_newer_database_is_refused() -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "user_version", 999)?;
        assert!(matches!(migrate(&mut conn), Err(StoreError::Corrupt(_))));
        Ok(())
    }
}
