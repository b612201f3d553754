//! Changes to the inbox: batched inserts with de-duplication, read state,
//! deletion and retention. Each call is one transaction.

use rusqlite::params;

use super::{COLUMNS, Inbox, InboxError, Item, item_from_row, now_rfc3339, severity_name};
use crate::event::Incoming;

impl Inbox {
    /// Stores a batch in one transaction, so a burst costs one fsync.
    ///
    /// De-duplicates by (server, server id): an item whose server id is
    /// already stored, or appears earlier in the batch, is skipped. Items
    /// without a server id always insert. Returns the newly inserted items in
    /// input order, with their local ids, and raises the catch-up cursor.
    pub fn insert_batch(&mut self, items: &[Incoming]) -> Result<Vec<Item>, InboxError> {
        let received_at = now_rfc3339();
        let tx = self.conn.transaction()?;
        let mut inserted = Vec::new();
        let mut highest: Option<i64> = None;
        {
            // No conflict target: the only uniqueness constraint that can
            // fire is the (server, server_id) index, and that one means
            // "already stored".
            let mut insert = tx.prepare_cached(
                "INSERT INTO items (server, server_id, kind, title, message, url, severity,
                                    created_at, received_at, data, read)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT DO NOTHING",
            )?;
            for incoming in items {
                // SQLite integers are i64. A larger id cannot come from a real
                // server; storing it would also push the cursor past every
                // future id, so it is refused rather than stored.
                let server_id = match incoming.server_id.map(i64::try_from).transpose() {
                    Ok(id) => id,
                    Err(_) => {
                        tracing::warn!(server_id = ?incoming.server_id, "server id out of range; item dropped");
                        continue;
                    }
                };
                let changed = insert.execute(params![
                    self.server,
                    server_id,
                    incoming.kind,
                    incoming.title,
                    incoming.message,
                    incoming.url,
                    severity_name(incoming.severity),
                    incoming.created_at,
                    received_at,
                    incoming.data.to_string(),
                    incoming.read,
                ])?;
                if changed == 0 {
                    tracing::debug!(server_id, "duplicate event skipped");
                    continue;
                }
                highest = highest.max(server_id);
                inserted.push(Item {
                    id: tx.last_insert_rowid(),
                    server_id: incoming.server_id,
                    kind: incoming.kind.clone(),
                    title: incoming.title.clone(),
                    message: incoming.message.clone(),
                    url: incoming.url.clone(),
                    severity: incoming.severity,
                    created_at: incoming.created_at.clone(),
                    received_at: received_at.clone(),
                    data: incoming.data.clone(),
                    read: incoming.read,
                });
            }
        }
        if let Some(highest) = highest {
            tx.execute(
                "INSERT INTO cursors (server, last_server_id) VALUES (?1, ?2)
                 ON CONFLICT (server) DO UPDATE
                 SET last_server_id = max(last_server_id, excluded.last_server_id)",
                params![self.server, highest],
            )?;
        }
        tx.commit()?;
        self.counted_insert(&inserted);
        if inserted.len() < items.len() {
            tracing::debug!(
                received = items.len(),
                inserted = inserted.len(),
                "stored a batch with duplicates"
            );
        }
        Ok(inserted)
    }

    /// Marks items read or unread by local id; returns how many changed.
    pub fn set_read(&mut self, ids: &[i64], read: bool) -> Result<usize, InboxError> {
        self.update_each(
            "UPDATE items SET read = ?1 WHERE server = ?2 AND id = ?3 AND read <> ?1",
            ids.iter().copied(),
            read,
        )
    }

    /// Applies read state that came from the server (another device); ids
    /// not stored here are ignored. Returns how many items changed.
    pub fn set_read_by_server_ids(
        &mut self,
        server_ids: &[u64],
        read: bool,
    ) -> Result<usize, InboxError> {
        // An id beyond i64 is never stored (see `insert_batch`), so skipping
        // it changes nothing.
        let ids = server_ids.iter().filter_map(|&id| i64::try_from(id).ok());
        self.update_each(
            "UPDATE items SET read = ?1 WHERE server = ?2 AND server_id = ?3 AND read <> ?1",
            ids,
            read,
        )
    }

    fn update_each(
        &mut self,
        sql: &str,
        ids: impl Iterator<Item = i64>,
        read: bool,
    ) -> Result<usize, InboxError> {
        self.forget_counts();
        let tx = self.conn.transaction()?;
        let mut changed = 0;
        {
            let mut update = tx.prepare_cached(sql)?;
            for id in ids {
                changed += update.execute(params![read, self.server, id])?;
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Marks every unread item read. Returns the items that changed, newest
    /// first and already marked read, so the caller can sync their server
    /// ids to the server.
    pub fn mark_all_read(&mut self) -> Result<Vec<Item>, InboxError> {
        self.forget_counts();
        let sql =
            format!("UPDATE items SET read = 1 WHERE server = ?1 AND read = 0 RETURNING {COLUMNS}");
        let mut changed = self
            .conn
            .prepare(&sql)?
            .query_map(params![self.server], item_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING gives no order.
        changed.sort_by_key(|item| std::cmp::Reverse(item.id));
        Ok(changed)
    }

    /// Deletes items by local id; returns how many were deleted. The catch-up
    /// cursor stays where it is.
    pub fn delete(&mut self, ids: &[i64]) -> Result<usize, InboxError> {
        self.forget_counts();
        let tx = self.conn.transaction()?;
        let mut deleted = 0;
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM items WHERE server = ?1 AND id = ?2")?;
            for id in ids {
                deleted += delete.execute(params![self.server, id])?;
            }
        }
        tx.commit()?;
        Ok(deleted)
    }

    /// Deletes the oldest items (by local id) beyond the newest `max_items`;
    /// returns how many. The catch-up cursor stays where it is.
    pub fn enforce_retention(&mut self, max_items: usize) -> Result<usize, InboxError> {
        // Runs after every stored batch: under the cap (the cached count
        // says so) it costs nothing, and over it only the excess is walked.
        let excess = self
            .count()?
            .saturating_sub(u64::try_from(max_items).unwrap_or(u64::MAX));
        if excess == 0 {
            return Ok(0);
        }
        self.forget_counts();
        let deleted = self.conn.execute(
            "DELETE FROM items WHERE server = ?1 AND id IN (
                 SELECT id FROM items WHERE server = ?1 ORDER BY id LIMIT ?2
             )",
            params![self.server, i64::try_from(excess).unwrap_or(i64::MAX)],
        )?;
        if deleted > 0 {
            tracing::info!(deleted, max_items, "history retention removed old items");
        }
        Ok(deleted)
    }
}
