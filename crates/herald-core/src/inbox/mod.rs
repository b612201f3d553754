//! The inbox: the local notification history, in SQLite.
//!
//! One database file can hold the histories of several servers; an [`Inbox`]
//! is scoped to one server origin and every query filters on it, so switching
//! servers never mixes histories, read state or catch-up cursors.
//!
//! - [`migration`]: the append-only schema.
//! - [`write`]: inserting batches (with de-duplication by server id), read
//!   state, deletion and retention.
//! - [`query`]: listing with filters, search and keyset paging.
//!
//! Every value reaches SQL as a bound parameter, never as SQL text, so titles
//! full of quotes or SQL are stored and returned verbatim.

mod migration;
mod query;
mod write;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_proto::Severity;
use rusqlite::{Connection, OptionalExtension, Row, params};

pub use query::{DEFAULT_LIMIT, ListQuery, MAX_LIMIT};

/// One stored notification.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The local id (the SQLite rowid); never reused, even after a delete.
    pub id: i64,
    /// The server's id; `None` from a server that assigns none (the seed).
    pub server_id: Option<u64>,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub url: Option<String>,
    pub severity: Severity,
    /// RFC 3339, as the server sent it.
    pub created_at: String,
    /// RFC 3339 UTC: when this device stored it.
    pub received_at: String,
    pub data: serde_json::Value,
    pub read: bool,
}

/// Why an inbox call failed.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("history database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the history database was written by a newer Herald (schema version {found}; this \
         build knows up to {known}): upgrade Herald, or move the file aside to start a new history"
    )]
    NewerSchema { found: usize, known: usize },
    #[error("the history database is corrupt ({0}): move the file aside to start a new history")]
    Corrupt(String),
    #[error("{0:?} is not an http(s) server address")]
    BadServer(String),
    #[error("cannot create the history folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The history of one server, over one SQLite connection.
///
/// Calls block on SQLite; async callers run them on a blocking thread.
pub struct Inbox {
    conn: Connection,
    /// The normalised origin every row of this inbox belongs to.
    server: String,
    /// The item and unread counts, kept up to date by this connection's
    /// inserts: counting the table after every batch made a long burst
    /// quadratic (each count walks every unread row).
    counts: std::cell::Cell<Option<Counts>>,
}

/// Cached counts, valid while no other connection has written (SQLite's
/// `data_version` is unchanged) and no write of ours but an insert has run
/// (those drop the cache).
#[derive(Debug, Clone, Copy)]
struct Counts {
    items: u64,
    unread: u64,
    data_version: i64,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The columns of an [`Item`], in the order [`item_from_row`] reads them.
const COLUMNS: &str =
    "id, server_id, kind, title, message, url, severity, created_at, received_at, data, read";

impl Inbox {
    /// Opens (or creates) the database file at `path`, creating its folder,
    /// and migrates it. All rows are scoped to `server`, an origin such as
    /// `http://127.0.0.1:3000` (a path or trailing slash is ignored).
    pub fn open(path: &Path, server: &str) -> Result<Inbox, InboxError> {
        let server = normalise_origin(server)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| InboxError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        Inbox::setup(Connection::open(path)?, server)
    }

    /// An in-memory inbox, for tests and for running without a data folder.
    pub fn open_in_memory(server: &str) -> Result<Inbox, InboxError> {
        let server = normalise_origin(server)?;
        Inbox::setup(Connection::open_in_memory()?, server)
    }

    fn setup(mut conn: Connection, server: String) -> Result<Inbox, InboxError> {
        // WAL lets the UI read while the engine writes; NORMAL sync survives a
        // process crash, and losing the last instant on power loss is harmless
        // because catch-up fetches it again. The busy timeout covers the CLI
        // and the tray app opening the same file at once.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        migration::migrate(&mut conn)?;
        Ok(Inbox {
            conn,
            server,
            counts: std::cell::Cell::new(None),
        })
    }

    /// The server origin this inbox is scoped to, normalised.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The highest server id ever stored for this server (0 if none): the
    /// catch-up cursor. It never goes down, even when the newest rows are
    /// deleted, or catch-up would fetch deleted items again.
    pub fn last_server_id(&self) -> Result<u64, InboxError> {
        let last: Option<i64> = self
            .conn
            .query_row(
                "SELECT last_server_id FROM cursors WHERE server = ?1",
                params![self.server],
                |row| row.get(0),
            )
            .optional()?;
        match last {
            None => Ok(0),
            Some(last) => u64::try_from(last)
                .map_err(|_| InboxError::Corrupt(format!("negative catch-up cursor {last}"))),
        }
    }

    /// One item by its local id; `None` if it is absent or another server's.
    pub fn get(&self, id: i64) -> Result<Option<Item>, InboxError> {
        let sql = format!("SELECT {COLUMNS} FROM items WHERE server = ?1 AND id = ?2");
        Ok(self
            .conn
            .query_row(&sql, params![self.server, id], item_from_row)
            .optional()?)
    }

    /// How many items are unread.
    pub fn unread_count(&self) -> Result<u64, InboxError> {
        Ok(self.counts()?.unread)
    }

    /// How many items are stored.
    pub fn count(&self) -> Result<u64, InboxError> {
        Ok(self.counts()?.items)
    }

    /// The cached counts, counted again when another connection (the CLI,
    /// the tray app) wrote since, or a write of ours dropped them.
    fn counts(&self) -> Result<Counts, InboxError> {
        let data_version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))?;
        if let Some(counts) = self.counts.get()
            && counts.data_version == data_version
        {
            return Ok(counts);
        }
        let counts = Counts {
            items: self.count_where("1")?,
            unread: self.count_where("read = 0")?,
            data_version,
        };
        self.counts.set(Some(counts));
        Ok(counts)
    }

    /// Adds newly inserted items to the cached counts, if there are any.
    fn counted_insert(&self, inserted: &[Item]) {
        if let Some(mut counts) = self.counts.get() {
            counts.items += inserted.len() as u64;
            counts.unread += inserted.iter().filter(|i| !i.read).count() as u64;
            self.counts.set(Some(counts));
        }
    }

    /// Drops the cached counts after a change that is not an insert.
    fn forget_counts(&self) {
        self.counts.set(None);
    }

    fn count_where(&self, condition: &str) -> Result<u64, InboxError> {
        let sql = format!("SELECT count(*) FROM items WHERE server = ?1 AND {condition}");
        let n: i64 = self
            .conn
            .query_row(&sql, params![self.server], |row| row.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// `http://Host:80/path/` → `http://host`: one spelling per server, so the
/// same server is never split into two histories.
fn normalise_origin(server: &str) -> Result<String, InboxError> {
    let bad = || InboxError::BadServer(server.to_owned());
    let url = url::Url::parse(server.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

/// Now, as stored in `received_at`.
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Success => "success",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// The inverse of [`severity_name`]. Lenient: one odd row must not make the
/// whole history unreadable.
fn parse_severity(name: &str) -> Severity {
    match name {
        "success" => Severity::Success,
        "warning" => Severity::Warning,
        "critical" => Severity::Critical,
        "info" => Severity::Info,
        other => {
            tracing::warn!(
                severity = other,
                "unknown stored severity; showing it as info"
            );
            Severity::Info
        }
    }
}

/// Reads the columns of [`COLUMNS`], in order.
fn item_from_row(row: &Row<'_>) -> rusqlite::Result<Item> {
    let server_id: Option<i64> = row.get(1)?;
    let severity: String = row.get(6)?;
    let data: String = row.get(9)?;
    Ok(Item {
        id: row.get(0)?,
        // Only ids that fit an i64 are ever stored (see `write`).
        server_id: server_id.and_then(|id| u64::try_from(id).ok()),
        kind: row.get(2)?,
        title: row.get(3)?,
        message: row.get(4)?,
        url: row.get(5)?,
        severity: parse_severity(&severity),
        created_at: row.get(7)?,
        received_at: row.get(8)?,
        data: serde_json::from_str(&data).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored data is not JSON; showing none");
            serde_json::Value::Null
        }),
        read: row.get(10)?,
    })
}
