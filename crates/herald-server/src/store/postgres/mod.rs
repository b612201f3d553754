//! The Postgres backend: a pool of connections shared by a node's tasks, so
//! that several nodes can serve one set of users from one database.
//!
//! - The schema is the append-only list in [`migration`], applied at start
//!   under an advisory lock (two nodes starting at once do not race).
//! - Event ids come from a one-row counter updated in the storing
//!   transaction ([`event`]), so they become visible in id order.
//! - A request never waits more than [`POOL_WAIT`] for a connection, nor
//!   [`CONNECT_TIMEOUT`] for a new one: past that it fails as
//!   [`StoreError::Unavailable`], which the API answers with a 503.
//! - The pool drops connections that died (a restarted database) and makes
//!   new ones on demand, so service resumes by itself.

pub mod event;
pub mod migration;
pub mod session;
pub mod user;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::StoreError;

/// Connections per node at most: 16.
pub const POOL_SIZE: usize = 16;
/// How long a request waits for a free connection: 5 s.
pub const POOL_WAIT: Duration = Duration::from_secs(5);
/// How long opening one connection may take: 5 s.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the health check's query may take: 2 s.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A Postgres database, cheap to clone.
#[derive(Clone)]
pub struct PgDb {
    pool: Pool,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgDb")
    }
}

impl PgDb {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and
    /// migrates the schema.
    pub async fn connect(url: &str) -> Result<PgDb, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Postgres(format!("invalid database URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("herald-server");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection the database closed is noticed (and replaced)
                // when it is next taken; a query on one that died unseen fails
                // as Unavailable once, and the next request gets a new one.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Postgres(format!("cannot build the pool: {e}")))?;
        let db = PgDb { pool };
        migration::migrate(&mut db.client().await?).await?;
        Ok(db)
    }

    /// A connection from the pool.
    pub async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Whether the database answers `SELECT 1` within [`PING_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        let answered = tokio::time::timeout(PING_TIMEOUT, async {
            self.client().await?.simple_query("SELECT 1").await?;
            Ok::<_, StoreError>(())
        })
        .await;
        answered.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {} s",
                PING_TIMEOUT.as_secs()
            )))
        })
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        // Server-side shutdown and start-up codes, and any failure below the
        // protocol (a refused or broken connection), mean "not reachable
        // now", which a client may retry; everything else is a real error.
        let unreachable = match e.code() {
            Some(code) => [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code),
            None => {
                e.is_closed()
                    || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
                    || e.to_string().contains("timeout")
            }
        };
        if unreachable {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Postgres(e.to_string())
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> StoreError {
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) => StoreError::Unavailable(format!(
                "no database connection within {} s",
                POOL_WAIT.as_secs()
            )),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// A stored BIGINT as the unsigned id the API speaks.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what} {value}")))
}

/// An id from the API as a BIGINT; ids above `i64::MAX` match nothing.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
