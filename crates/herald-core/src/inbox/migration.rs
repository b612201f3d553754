//! The inbox schema, as an append-only list of migrations.
//!
//! Never edit a migration that has shipped: add a new one. The number of
//! migrations applied is kept in `PRAGMA user_version`, so a database written
//! by a newer Herald is recognised and refused rather than misread.

use rusqlite::Connection;

use super::InboxError;

const MIGRATIONS: &[&str] = &[
    // 1: items and the per-server catch-up cursor.
    r#"
    -- AUTOINCREMENT: a local id is never reused, so a toast or a UI row that
    -- still holds the id of a deleted item can never act on a newer one.
    CREATE TABLE items (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        server      TEXT NOT NULL,
        server_id   INTEGER,
        kind        TEXT NOT NULL,
        title       TEXT NOT NULL,
        message     TEXT NOT NULL,
        url         TEXT,
        severity    TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        received_at TEXT NOT NULL,
        data        TEXT NOT NULL,
        read        INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0, 1))
    );
    -- The de-duplication key. NULL server ids (the seed's server assigns
    -- none) are distinct from each other, so those items always insert.
    CREATE UNIQUE INDEX items_server_id ON items(server, server_id);
    CREATE INDEX items_server ON items(server, id);
    CREATE INDEX items_unread ON items(server, read, id);
    -- The highest server id ever stored per server. Kept apart from items so
    -- that deleting the newest rows never moves the catch-up cursor back.
    CREATE TABLE cursors (
        server         TEXT PRIMARY KEY,
        last_server_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub(crate) const VERSION: usize = MIGRATIONS.len();

/// Applies every migration newer than the database, each in its own transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), InboxError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let Ok(applied) = usize::try_from(applied) else {
        return Err(InboxError::Corrupt(format!(
            "negative schema version {applied}"
        )));
    };
    if applied > VERSION {
        return Err(InboxError::NewerSchema {
            found: applied,
            known: VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied inbox schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() -> Result<(), InboxError> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        migrate(&mut conn)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        assert_eq!(usize::try_from(version).ok(), Some(VERSION));
        Ok(())
    }

    #[test]
    fn a_newer_version_is_refused_and_left_alone() -> Result<(), InboxError> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "user_version", VERSION + 1)?;
        let result = migrate(&mut conn);
        assert!(
            matches!(result, Err(InboxError::NewerSchema { found, known: VERSION }) if found == VERSION + 1),
            "{result:?}"
        );
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(
            tables, 0,
            "nothing is created in a database we do not understand"
        );
        Ok(())
    }

    #[test]
    fn a_negative_version_is_corrupt() -> Result<(), InboxError> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "user_version", -1)?;
        assert!(matches!(migrate(&mut conn), Err(InboxError::Corrupt(_))));
        Ok(())
    }
}
