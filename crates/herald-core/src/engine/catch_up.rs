//! Fetching what was missed, page by page.

use tokio::sync::mpsc;

use crate::api::{Api, ApiError};
use crate::event::{Incoming, decode};

/// Events fetched per catch-up page.
const PAGE: u32 = 500;

pub(super) enum CaughtUp {
    Page(Vec<Incoming>, u64),
    Done(Result<(), ApiError>),
}

/// Pages through everything after `after`, sending each page to the engine.
pub(super) async fn catch_up(
    api: &Api,
    token: &str,
    mut after: u64,
    tx: &mpsc::Sender<CaughtUp>,
) -> Result<(), ApiError> {
    loop {
        let page = api.catch_up(token, after, PAGE).await?;
        let mut items = Vec::with_capacity(page.items.len());
        let mut rejected = 0;
        let before = after;
        for raw in &page.items {
            // Advance past every id, decodable or not, so a bad item cannot stall paging.
            after = after.max(
                raw.get("id")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0),
            );
            let name = raw
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("notification");
            match decode(name, raw) {
                Ok(item) => items.push(item),
                Err(e) => {
                    tracing::warn!(error = %e, "caught-up event refused");
                    rejected += 1;
                }
            }
        }
        if tx.send(CaughtUp::Page(items, rejected)).await.is_err() {
            return Ok(());
        }
        if !page.has_more || after == before {
            return Ok(());
        }
    }
}
