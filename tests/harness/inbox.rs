//! Reading a device's history straight from its SQLite file.

use std::collections::BTreeMap;

use herald_core::inbox::{Inbox, ListQuery};

use crate::client::Herald;

/// Server id → how many rows carry it, for items of `kind` in `herald`'s history.
pub fn server_ids(herald: &Herald, server: &str, kind: &str) -> BTreeMap<u64, usize> {
    let Ok(inbox) = Inbox::open(&herald.data_dir.join("inbox.db"), server) else {
        return BTreeMap::new();
    };
    let mut ids = BTreeMap::new();
    let mut before = None;
    loop {
        let page = inbox
            .list(&ListQuery {
                kind: Some(kind.to_owned()),
                before_id: before,
                limit: 1000,
                ..ListQuery::default()
            })
            .unwrap_or_default();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for item in &page {
            if let Some(id) = item.server_id {
                *ids.entry(id).or_insert(0) += 1;
            }
        }
    }
    ids
}
