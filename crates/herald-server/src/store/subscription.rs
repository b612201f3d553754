//! Web Push subscriptions, one row per browser endpoint, owned by the user
//! who saved it first.

use herald_proto::api::{PushKeys, PushSubscription};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, now_unix};

/// What [`save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Added,
    /// The user had it already; its keys were replaced.
    Refreshed,
    /// Another user registered the endpoint first; nothing changed.
    OwnedByAnother,
    /// The user has `max` subscriptions already; nothing changed.
    LimitReached,
}

/// Saves `user_id`'s subscription. An endpoint belongs to the user who first
/// saved it: anyone else posting it would otherwise receive that user's
/// alerts in their place, or silence them. A user has at most `max`.
pub fn save(
    conn: &Connection,
    user_id: u64,
    sub: &PushSubscription,
    max: usize,
) -> Result<Saved, StoreError> {
    // The one connection is behind a mutex, so check and write cannot be
    // interleaved with another save; the transaction keeps them one change.
    let tx = conn.unchecked_transaction()?;
    let owner: Option<u64> = tx
        .query_row(
            "SELECT user_id FROM push_subscriptions WHERE endpoint = ?1",
            [&sub.endpoint],
            |r| r.get(0),
        )
        .optional()?;
    let saved = match owner {
        Some(owner) if owner != user_id => return Ok(Saved::OwnedByAnother),
        Some(_) => {
            tx.execute(
                "UPDATE push_subscriptions SET p256dh = ?2, auth = ?3 WHERE endpoint = ?1",
                params![sub.endpoint, sub.keys.p256dh, sub.keys.auth],
            )?;
            Saved::Refreshed
        }
        None => {
            let count: u64 = tx.query_row(
                "SELECT COUNT(*) FROM push_subscriptions WHERE user_id = ?1",
                [user_id],
                |r| r.get(0),
            )?;
            if count >= max as u64 {
                return Ok(Saved::LimitReached);
            }
            tx.execute(
                "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sub.endpoint,
                    user_id,
                    sub.keys.p256dh,
                    sub.keys.auth,
                    now_unix()
                ],
            )?;
            Saved::Added
        }
    };
    tx.commit()?;
    Ok(saved)
}

/// Deletes `user_id`'s subscription at `endpoint`; whether there was one.
pub fn delete(conn: &Connection, user_id: u64, endpoint: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM push_subscriptions WHERE user_id = ?1 AND endpoint = ?2",
        params![user_id, endpoint],
    )? > 0)
}

/// `user_id`'s newest `limit` subscriptions. The limit matters only for
/// accounts that saved more before there was a cap.
pub fn for_user(
    conn: &Connection,
    user_id: u64,
    limit: usize,
) -> Result<Vec<PushSubscription>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = ?1
         ORDER BY created_at DESC, rowid DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![user_id, limit], |r| {
        Ok(PushSubscription {
            endpoint: r.get(0)?,
            keys: PushKeys {
                p256dh: r.get(1)?,
                auth: r.get(2)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
