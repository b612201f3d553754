//! Listing the inbox: filters, search and keyset paging.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::{COLUMNS, Inbox, InboxError, Item, item_from_row};

/// The page size when [`ListQuery::limit`] is 0.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page [`Inbox::list`] returns.
pub const MAX_LIMIT: u32 = 1000;

/// What [`Inbox::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only this event type.
    pub kind: Option<String>,
    pub unread_only: bool,
    /// A substring of the title or message. Case-insensitive for ASCII
    /// letters only (SQLite's `LIKE`); `%` and `_` match themselves.
    pub search: Option<String>,
    /// Keyset paging: only items after this one in the list order. Pass the
    /// id of the last item of the previous page.
    pub before_id: Option<i64>,
    /// 0 means [`DEFAULT_LIMIT`]; capped at [`MAX_LIMIT`].
    pub limit: u32,
    /// Unread items first, then read ones; each newest first.
    pub unread_first: bool,
}

impl Inbox {
    /// Items newest first (by local id), or unread first when
    /// [`ListQuery::unread_first`], filtered and paged.
    ///
    /// With `unread_first`, paging continues from the read state the
    /// `before_id` item has now. If that item was deleted in between, paging
    /// restarts the read section, so an item may repeat but none is skipped.
    pub fn list(&self, query: &ListQuery) -> Result<Vec<Item>, InboxError> {
        let mut sql = format!("SELECT {COLUMNS} FROM items WHERE server = ?");
        let mut args = vec![Value::Text(self.server.clone())];
        if let Some(kind) = &query.kind {
            sql.push_str(" AND kind = ?");
            args.push(Value::Text(kind.clone()));
        }
        if query.unread_only {
            sql.push_str(" AND read = 0");
        }
        if let Some(search) = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            sql.push_str(r" AND (title LIKE ? ESCAPE '\' OR message LIKE ? ESCAPE '\')");
            let pattern = format!("%{}%", escape_like(search));
            args.push(Value::Text(pattern.clone()));
            args.push(Value::Text(pattern));
        }
        if let Some(before) = query.before_id {
            if query.unread_first {
                let cursor_read = self.read_state(before)?.unwrap_or(false);
                sql.push_str(" AND (read > ? OR (read = ? AND id < ?))");
                args.push(Value::Integer(cursor_read.into()));
                args.push(Value::Integer(cursor_read.into()));
                args.push(Value::Integer(before));
            } else {
                sql.push_str(" AND id < ?");
                args.push(Value::Integer(before));
            }
        }
        sql.push_str(if query.unread_first {
            " ORDER BY read ASC, id DESC"
        } else {
            " ORDER BY id DESC"
        });
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(effective_limit(query.limit).into()));

        let mut stmt = self.conn.prepare_cached(&sql)?;
        let items = stmt
            .query_map(params_from_iter(args), item_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(items)
    }

    /// Whether the item is read; `None` if it is not stored.
    fn read_state(&self, id: i64) -> Result<Option<bool>, InboxError> {
        Ok(self
            .conn
            .query_row(
                "SELECT read FROM items WHERE server = ?1 AND id = ?2",
                params![self.server, id],
                |row| row.get(0),
            )
            .optional()?)
    }
}

fn effective_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// Escapes `LIKE` wildcards so user text matches literally (with `ESCAPE '\'`).
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_off\now"), r"50\%\_off\\now");
        assert_eq!(escape_like("plain"), "plain");
    }

    #[test]
    fn limits_default_and_cap() {
        assert_eq!(effective_limit(0), DEFAULT_LIMIT);
        assert_eq!(effective_limit(7), 7);
        assert_eq!(effective_limit(u32::MAX), MAX_LIMIT);
    }
}
