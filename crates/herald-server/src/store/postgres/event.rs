//! The event log and read state on Postgres.
//!
//! Ids are not taken from a sequence. A sequence hands out ids at insert
//! time, and transactions commit in any order: a reader could see id 7
//! committed, move its cursor to 7, and never see id 6 committed a moment
//! later. Instead the storing transaction takes its ids from the one row of
//! `event_counter` (`UPDATE ... SET last = last + n RETURNING last`). The
//! row stays locked until that transaction ends, so a transaction given
//! larger ids can only take them after every one holding smaller ids has
//! committed (or rolled back, undoing its increment: ids stay contiguous).
//! Ids therefore become visible in id order, on every node at once.

use herald_proto::Envelope;
use herald_proto::api::CatchUpItem;
use tokio_postgres::Row;

use super::{PgDb, to_i64, to_u64};
use crate::store::StoreError;
use crate::store::event::{
    NewEvent, StoredEvent, audience_columns, audience_from_columns, parse_severity, severity_str,
};

/// The condition that makes event `e` visible to user `$1`, an admin when `$2`.
const VISIBLE: &str =
    "(e.target_user = $1 OR e.target_kind = 'all' OR ($2 AND e.target_room = 'admin'))";

impl PgDb {
    /// Stores a batch in one transaction; ids in the order given.
    pub async fn insert_events(
        &self,
        events: &[NewEvent],
        created_at: &str,
    ) -> Result<Vec<Envelope>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let n = i64::try_from(events.len())
            .map_err(|_| StoreError::Corrupt("too many events in one batch".into()))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let last: i64 = tx
            .query_one(
                "UPDATE event_counter SET last = last + $1 RETURNING last",
                &[&n],
            )
            .await?
            .get(0);
        let first = last - n + 1;
        let mut ids = Vec::with_capacity(events.len());
        let mut kinds = Vec::with_capacity(events.len());
        let mut users = Vec::with_capacity(events.len());
        let mut rooms = Vec::with_capacity(events.len());
        let mut types = Vec::with_capacity(events.len());
        let mut titles = Vec::with_capacity(events.len());
        let mut messages = Vec::with_capacity(events.len());
        let mut urls = Vec::with_capacity(events.len());
        let mut severities = Vec::with_capacity(events.len());
        let mut datas = Vec::with_capacity(events.len());
        for (offset, event) in (0i64..).zip(events) {
            let (kind, user, room) = audience_columns(event.audience);
            ids.push(first + offset);
            kinds.push(kind);
            users.push(user.map(to_i64));
            rooms.push(room);
            types.push(event.kind.as_str());
            titles.push(event.title.as_str());
            messages.push(event.message.as_str());
            urls.push(event.url.as_deref());
            severities.push(event.severity.map(severity_str));
            datas.push(
                serde_json::to_string(&event.data)
                    .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
            );
        }
        let created = vec![created_at; events.len()];
        tx.execute(
            "INSERT INTO events (id, target_kind, target_user, target_room, type, title, message, url, severity, data, created_at)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                                  $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[])",
            &[
                &ids, &kinds, &users, &rooms, &types, &titles, &messages, &urls, &severities,
                &datas, &created,
            ],
        )
        .await?;
        tx.commit().await?;
        ids.iter()
            .zip(events)
            .map(|(&id, event)| {
                Ok(Envelope {
                    id: to_u64(id, "event id")?,
                    kind: event.kind.clone(),
                    title: event.title.clone(),
                    message: event.message.clone(),
                    created_at: created_at.to_owned(),
                    url: event.url.clone(),
                    severity: event.severity,
                    data: event.data.clone(),
                })
            })
            .collect()
    }

    /// One page of what `user_id` can see after `after`, oldest first.
    pub async fn page_for(
        &self,
        user_id: u64,
        is_admin: bool,
        after: u64,
        limit: u32,
    ) -> Result<(Vec<CatchUpItem>, bool), StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT e.id, e.type, e.title, e.message, e.created_at, e.url, e.severity, e.data,
                            EXISTS (SELECT 1 FROM reads r WHERE r.user_id = $1 AND r.event_id = e.id)
                     FROM events e WHERE e.id > $3 AND {VISIBLE} ORDER BY e.id LIMIT $4"
                ),
                &[
                    &to_i64(user_id),
                    &is_admin,
                    &to_i64(after),
                    &(i64::from(limit) + 1),
                ],
            )
            .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(CatchUpItem {
                    event: envelope(row)?,
                    read: row.try_get(8)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Ok((items, has_more))
    }

    /// Every event above `after_id`, of any audience, in id order.
    pub async fn events_after(
        &self,
        after_id: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, type, title, message, created_at, url, severity, data, target_kind, target_user
                 FROM events WHERE id > $1 ORDER BY id LIMIT $2",
                &[&to_i64(after_id), &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get(8)?;
                let user: Option<i64> = row.try_get(9)?;
                let user = user.map(|u| to_u64(u, "user id")).transpose()?;
                Ok(StoredEvent {
                    audience: audience_from_columns(&kind, user)?,
                    envelope: envelope(row)?,
                })
            })
            .collect()
    }

    /// Marks read (or unread) those of `ids` that `user_id` can see.
    pub async fn set_read(
        &self,
        user_id: u64,
        is_admin: bool,
        ids: &[u64],
        read: bool,
    ) -> Result<u64, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|&id| to_i64(id)).collect();
        let client = self.client().await?;
        let changed = if read {
            client
                .execute(
                    &format!(
                        "INSERT INTO reads (user_id, event_id)
                         SELECT $1, e.id FROM events e WHERE {VISIBLE} AND e.id = ANY($3)
                         ON CONFLICT DO NOTHING"
                    ),
                    &[&to_i64(user_id), &is_admin, &ids],
                )
                .await?
        } else {
            // Only the user's own rows can be deleted, so no visibility test.
            client
                .execute(
                    "DELETE FROM reads WHERE user_id = $1 AND event_id = ANY($2)",
                    &[&to_i64(user_id), &ids],
                )
                .await?
        };
        Ok(changed)
    }

    /// The newest event id ever assigned: the counter, which pruning leaves.
    pub async fn last_event_id(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let last: i64 = client
            .query_one("SELECT last FROM event_counter", &[])
            .await?
            .get(0);
        to_u64(last, "event counter")
    }

    /// Deletes up to `batch` of the oldest events created before `cutoff`,
    /// with their read marks, in one statement.
    pub async fn prune_events_before(&self, cutoff: &str, batch: u32) -> Result<u64, StoreError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "WITH doomed AS (
                     SELECT id FROM events WHERE created_at < $1 ORDER BY created_at, id LIMIT $2
                 ), marks AS (
                     DELETE FROM reads WHERE event_id IN (SELECT id FROM doomed)
                 )
                 DELETE FROM events WHERE id IN (SELECT id FROM doomed)",
                &[&cutoff, &i64::from(batch)],
            )
            .await?)
    }
}

/// The envelope in columns 0 to 7 (id, type, title, message, created_at,
/// url, severity, data).
fn envelope(row: &Row) -> Result<Envelope, StoreError> {
    let id = to_u64(row.try_get(0)?, "event id")?;
    let severity: Option<String> = row.try_get(6)?;
    let data: String = row.try_get(7)?;
    Ok(Envelope {
        id,
        kind: row.try_get(1)?,
        title: row.try_get(2)?,
        message: row.try_get(3)?,
        created_at: row.try_get(4)?,
        url: row.try_get(5)?,
        severity: severity.as_deref().and_then(parse_severity),
        data: serde_json::from_str(&data)
            .map_err(|e| StoreError::Corrupt(format!("event {id} data: {e}")))?,
    })
}
