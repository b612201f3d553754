//! Web Push subscriptions, one row per browser endpoint.

use herald_proto::api::{PushKeys, PushSubscription};
use rusqlite::{Connection, params};

use super::{StoreError, now_unix};

/// Saves a subscription for `user_id`; an endpoint re-subscribed by another
/// user moves to that user (the browser profile changed hands).
pub fn upsert(conn: &Connection, user_id: u64, sub: &PushSubscription) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (endpoint) DO UPDATE SET user_id = ?2, p256dh = ?3, auth = ?4",
        params![
            sub.endpoint,
            user_id,
            sub.keys.p256dh,
            sub.keys.auth,
            now_unix()
        ],
    )?;
    Ok(())
}

/// Deletes `user_id`'s subscription at `endpoint`; whether there was one.
pub fn delete(conn: &Connection, user_id: u64, endpoint: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM push_subscriptions WHERE user_id = ?1 AND endpoint = ?2",
        params![user_id, endpoint],
    )? > 0)
}

/// Deletes a subscription the push service reported gone.
pub fn delete_endpoint(conn: &Connection, endpoint: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM push_subscriptions WHERE endpoint = ?1",
        [endpoint],
    )?;
    Ok(())
}

pub fn for_user(conn: &Connection, user_id: u64) -> Result<Vec<PushSubscription>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = ?1 ORDER BY created_at",
    )?;
    let rows = stmt.query_map([user_id], |r| {
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
