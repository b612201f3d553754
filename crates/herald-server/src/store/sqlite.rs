//! The SQLite backend's handle: one connection, driven from blocking threads.
//!
//! Every table lives in one file in the data directory. The schema is built by
//! the append-only list in [`super::migration`]. The queries are plain
//! functions over a `&Connection` in the sibling modules ([`super::event`],
//! [`super::session`], ...), next to the types they return, so that a test
//! can compose several of them through [`SqliteDb::call_blocking`].

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::{StoreError, migration};

/// A SQLite database, cheap to clone.
///
/// SQLite serialises writers anyway; one connection behind a mutex keeps
/// ordering obvious (event ids are assigned and emitted in one order) and
/// costs little, because writes of a burst are batched into one transaction
/// by the hub.
#[derive(Clone)]
pub struct SqliteDb {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteDb")
    }
}

impl SqliteDb {
    /// Opens (or creates) `herald.db` in `data_dir` and migrates it. The
    /// database and its `-wal` and `-shm` files are made owner-only (0600).
    pub fn open(data_dir: &Path) -> Result<SqliteDb, StoreError> {
        let path = data_dir.join("herald.db");
        crate::fsutil::make_private_file(&path).map_err(|e| StoreError::File(e.to_string()))?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let side = std::path::PathBuf::from(side);
            if side.exists() {
                crate::fsutil::make_private_file(&side)
                    .map_err(|e| StoreError::File(e.to_string()))?;
            }
        }
        let conn = Connection::open(path)?;
        SqliteDb::setup(conn)
    }

    /// An in-memory database, for unit tests.
    pub fn open_in_memory() -> Result<SqliteDb, StoreError> {
        SqliteDb::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<SqliteDb, StoreError> {
        // WAL lets readers (catch-up) proceed while the hub writes; NORMAL
        // sync is durable across process crashes, which is what kill -9 is.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migration::migrate(&mut conn)?;
        Ok(SqliteDb {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("database mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` on the current thread; for tests that seed rows directly.
    pub fn call_blocking<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError>,
    {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Task("database mutex poisoned".into()))?;
        f(&mut guard)
    }
}
