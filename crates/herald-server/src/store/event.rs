//! The event log and each user's read state.

use herald_proto::api::CatchUpItem;
use herald_proto::{Envelope, Severity};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params, params_from_iter};

use super::StoreError;

/// Who can see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The room `user_{id}`.
    User(u64),
    /// The room `admin`.
    Admins,
    /// Everyone.
    All,
}

impl Audience {
    /// The Socket.IO room the event is emitted to; `None` means everyone.
    pub fn room(self) -> Option<String> {
        match self {
            Audience::User(id) => Some(user_room(id)),
            Audience::Admins => Some(ADMIN_ROOM.to_owned()),
            Audience::All => None,
        }
    }
}

pub const ADMIN_ROOM: &str = "admin";

pub fn user_room(user_id: u64) -> String {
    format!("user_{user_id}")
}

/// A stored event with who may see it: what a node relaying events to
/// other nodes needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub audience: Audience,
    pub envelope: Envelope,
}

/// The stored `(target_kind, target_user, target_room)` of an audience, and back.
pub fn audience_columns(audience: Audience) -> (&'static str, Option<u64>, Option<&'static str>) {
    match audience {
        Audience::User(id) => ("user", Some(id), None),
        Audience::Admins => ("room", None, Some(ADMIN_ROOM)),
        Audience::All => ("all", None, None),
    }
}

pub fn audience_from_columns(kind: &str, user: Option<u64>) -> Result<Audience, StoreError> {
    match (kind, user) {
        ("user", Some(id)) => Ok(Audience::User(id)),
        ("room", _) => Ok(Audience::Admins),
        ("all", _) => Ok(Audience::All),
        _ => Err(StoreError::Corrupt(format!(
            "event audience {kind:?}/{user:?}"
        ))),
    }
}

/// An event before it has an id.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub audience: Audience,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub url: Option<String>,
    pub severity: Option<Severity>,
    pub data: serde_json::Value,
}

pub fn severity_str(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Success => "success",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

pub fn parse_severity(s: &str) -> Option<Severity> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// Stores a batch in one transaction and returns the envelopes, ids assigned,
/// in the order given.
pub fn insert_batch(
    conn: &mut Connection,
    events: &[NewEvent],
    created_at: &str,
) -> Result<Vec<Envelope>, StoreError> {
    let tx = conn.transaction()?;
    let mut out = Vec::with_capacity(events.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO events (target_kind, target_user, target_room, type, title, message, url, severity, data, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for event in events {
            let (kind, user, room) = audience_columns(event.audience);
            let data = serde_json::to_string(&event.data)
                .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?;
            stmt.execute(params![
                kind,
                user,
                room,
                event.kind,
                event.title,
                event.message,
                event.url,
                event.severity.map(severity_str),
                data,
                created_at,
            ])?;
            let id = u64::try_from(tx.last_insert_rowid())
                .map_err(|_| StoreError::Corrupt("negative event id".into()))?;
            out.push(Envelope {
                id,
                kind: event.kind.clone(),
                title: event.title.clone(),
                message: event.message.clone(),
                created_at: created_at.to_owned(),
                url: event.url.clone(),
                severity: event.severity,
                data: event.data.clone(),
            });
        }
    }
    tx.commit()?;
    Ok(out)
}

/// The condition that makes event `e` visible to user `?1`, an admin when `?2`.
const VISIBLE: &str =
    "(e.target_user = ?1 OR e.target_kind = 'all' OR (?2 AND e.target_room = 'admin'))";

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<(CatchUpItem, String)> {
    let severity: Option<String> = row.get(7)?;
    let data: String = row.get(8)?;
    let event = Envelope {
        id: row.get(0)?,
        kind: row.get(1)?,
        title: row.get(2)?,
        message: row.get(3)?,
        created_at: row.get(4)?,
        url: row.get(5)?,
        severity: severity.as_deref().and_then(parse_severity),
        data: serde_json::Value::Null,
    };
    Ok((
        CatchUpItem {
            event,
            read: row.get(6)?,
        },
        data,
    ))
}

/// One page of what `user_id` can see after `after`, oldest first. Fetches one
/// more row than asked to learn whether there are more.
pub fn page_for(
    conn: &Connection,
    user_id: u64,
    is_admin: bool,
    after: u64,
    limit: u32,
) -> Result<(Vec<CatchUpItem>, bool), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT e.id, e.type, e.title, e.message, e.created_at, e.url,
                EXISTS (SELECT 1 FROM reads r WHERE r.user_id = ?1 AND r.event_id = e.id),
                e.severity, e.data
         FROM events e WHERE e.id > ?3 AND {VISIBLE} ORDER BY e.id LIMIT ?4"
    ))?;
    let rows = stmt.query_map(params![user_id, is_admin, after, limit + 1], item_from_row)?;
    let mut items = Vec::new();
    for row in rows {
        let (mut item, data) = row?;
        item.event.data = serde_json::from_str(&data)
            .map_err(|e| StoreError::Corrupt(format!("event {} data: {e}", item.event.id)))?;
        items.push(item);
    }
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Ok((items, has_more))
}

/// Every event with an id above `after_id`, of any audience, in id order.
pub fn after(conn: &Connection, after_id: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, type, title, message, created_at, url, severity, data, target_kind, target_user
         FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![after_id, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let severity: Option<String> = row.get(6)?;
        let data: String = row.get(7)?;
        let kind: String = row.get(8)?;
        let id: u64 = row.get(0)?;
        out.push(StoredEvent {
            audience: audience_from_columns(&kind, row.get(9)?)?,
            envelope: Envelope {
                id,
                kind: row.get(1)?,
                title: row.get(2)?,
                message: row.get(3)?,
                created_at: row.get(4)?,
                url: row.get(5)?,
                severity: severity.as_deref().and_then(parse_severity),
                data: serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("event {id} data: {e}")))?,
            },
        });
    }
    Ok(out)
}

/// Marks read (or unread) those of `ids` that `user_id` can see; returns how many changed.
pub fn set_read(
    conn: &mut Connection,
    user_id: u64,
    is_admin: bool,
    ids: &[u64],
    read: bool,
) -> Result<u64, StoreError> {
    let tx = conn.transaction()?;
    let mut changed = 0;
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let ids = chunk.iter().map(|&id| Value::Integer(id as i64));
        changed += if read {
            let sql = format!(
                "INSERT OR IGNORE INTO reads (user_id, event_id)
                 SELECT ?1, e.id FROM events e WHERE {VISIBLE} AND e.id IN ({marks})"
            );
            let head = [
                Value::Integer(user_id as i64),
                Value::Integer(i64::from(is_admin)),
            ];
            tx.execute(&sql, params_from_iter(head.into_iter().chain(ids)))?
        } else {
            // Only the user's own rows can be deleted, so no visibility test.
            let sql = format!("DELETE FROM reads WHERE user_id = ?1 AND event_id IN ({marks})");
            let head = [Value::Integer(user_id as i64)];
            tx.execute(&sql, params_from_iter(head.into_iter().chain(ids)))?
        } as u64;
    }
    tx.commit()?;
    Ok(changed)
}

/// The newest event id ever assigned, 0 when there is none. Read from
/// AUTOINCREMENT's counter, so it stays put when pruning deletes the newest
/// rows too (`MAX(id)` would fall back, and look like a reset database).
pub fn last_id(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
        [],
        |r| r.get(0),
    )?)
}

/// Deletes up to `batch` of the oldest events created before `cutoff` (an
/// RFC 3339 instant as the hub writes them), with their read marks, in one
/// transaction; returns how many events went. Ids are never reused
/// (AUTOINCREMENT), so a catch-up cursor below the deleted ids just gets
/// what remains after it.
pub fn prune_before(conn: &mut Connection, cutoff: &str, batch: u32) -> Result<u64, StoreError> {
    let tx = conn.transaction()?;
    const DOOMED: &str =
        "SELECT id FROM events WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2";
    tx.execute(
        &format!("DELETE FROM reads WHERE event_id IN ({DOOMED})"),
        params![cutoff, batch],
    )?;
    let deleted = tx.execute(
        &format!("DELETE FROM events WHERE id IN ({DOOMED})"),
        params![cutoff, batch],
    )?;
    tx.commit()?;
    Ok(deleted as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteDb as Db;

    fn event(audience: Audience, title: &str) -> NewEvent {
        NewEvent {
            audience,
            kind: "notification".into(),
            title: title.into(),
            message: "m".into(),
            url: None,
            severity: Some(Severity::Info),
            data: serde_json::json!({"n": title}),
        }
    }

    #[test]
    fn each_user_sees_only_their_own_admin_and_global_events() -> Result<(), StoreError> {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let batch = [
                event(Audience::User(1), "a"),
                event(Audience::User(2), "b"),
                event(Audience::Admins, "c"),
                event(Audience::All, "d"),
            ];
            let stored = insert_batch(conn, &batch, "2026-01-01T00:00:00Z")?;
            let ids: Vec<u64> = stored.iter().map(|e| e.id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

            let titles = |user, admin| -> Result<Vec<String>, StoreError> {
                Ok(page_for(conn, user, admin, 0, 10)?
                    .0
                    .into_iter()
                    .map(|i| i.event.title)
                    .collect())
            };
            assert_eq!(titles(1, false)?, ["a", "d"]);
            assert_eq!(titles(2, true)?, ["b", "c", "d"]);
            assert_eq!(titles(3, false)?, ["d"]);
            Ok(())
        })
    }

    #[test]
    fn paging_is_ordered_and_reports_more() -> Result<(), StoreError> {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let batch: Vec<_> = (0..5)
                .map(|i| event(Audience::User(1), &i.to_string()))
                .collect();
            insert_batch(conn, &batch, "t")?;
            let (first, more) = page_for(conn, 1, false, 0, 2)?;
            assert!(more);
            let (rest, more) = page_for(conn, 1, false, first[1].event.id, 10)?;
            assert!(!more);
            let all: Vec<_> = first
                .iter()
                .chain(&rest)
                .map(|i| i.event.title.clone())
                .collect();
            assert_eq!(all, ["0", "1", "2", "3", "4"]);
            assert_eq!(rest[0].event.data, serde_json::json!({"n": "2"}));
            Ok(())
        })
    }

    #[test]
    fn pruning_deletes_old_events_and_their_reads_and_keeps_the_last_id() -> Result<(), StoreError>
    {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let old = insert_batch(
                conn,
                &[event(Audience::User(1), "a"), event(Audience::All, "b")],
                "2026-01-01T00:00:00.000Z",
            )?;
            let new = insert_batch(
                conn,
                &[event(Audience::User(1), "c")],
                "2026-03-01T00:00:00.000Z",
            )?;
            let ids: Vec<u64> = old.iter().chain(&new).map(|e| e.id).collect();
            set_read(conn, 1, false, &ids, true)?;
            // One at a time, as the task does in batches.
            assert_eq!(prune_before(conn, "2026-02-01T00:00:00.000Z", 1)?, 1);
            assert_eq!(prune_before(conn, "2026-02-01T00:00:00.000Z", 10)?, 1);
            assert_eq!(prune_before(conn, "2026-02-01T00:00:00.000Z", 10)?, 0);
            let (left, _) = page_for(conn, 1, false, 0, 10)?;
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].event.title, "c");
            assert!(left[0].read, "the kept event keeps its read mark");
            let reads: u64 = conn.query_row("SELECT COUNT(*) FROM reads", [], |r| r.get(0))?;
            assert_eq!(reads, 1);
            // A cursor older than everything left still pages correctly.
            let (after_old, more) = page_for(conn, 1, false, ids[0], 10)?;
            assert_eq!((after_old.len(), more), (1, false));
            // Pruning the newest too leaves the last id where it was.
            prune_before(conn, "2027-01-01T00:00:00.000Z", 10)?;
            assert_eq!(last_id(conn)?, ids[2]);
            let next = insert_batch(conn, &[event(Audience::User(1), "d")], "t")?;
            assert!(next[0].id > ids[2], "ids are never reused");
            Ok(())
        })
    }

    #[test]
    fn read_state_is_per_user_and_only_for_visible_events() -> Result<(), StoreError> {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let stored = insert_batch(
                conn,
                &[
                    event(Audience::User(1), "mine"),
                    event(Audience::User(2), "theirs"),
                ],
                "t",
            )?;
            let ids: Vec<u64> = stored.iter().map(|e| e.id).collect();
            assert_eq!(
                set_read(conn, 1, false, &ids, true)?,
                1,
                "only the visible one"
            );
            assert_eq!(set_read(conn, 1, false, &ids, true)?, 0, "idempotent");
            assert!(page_for(conn, 1, false, 0, 10)?.0[0].read);
            assert!(!page_for(conn, 2, false, 0, 10)?.0[0].read);
            assert_eq!(set_read(conn, 1, false, &ids, false)?, 1);
            assert!(!page_for(conn, 1, false, 0, 10)?.0[0].read);
            Ok(())
        })
    }
}
