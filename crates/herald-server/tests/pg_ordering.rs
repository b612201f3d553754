//! Ids become visible in id order across nodes: many writers through two
//! separate pools on one Postgres (two "nodes") store events for one user
//! while a reader pages `after=cursor`, as a client catching up does. The
//! reader must end with exactly every stored id, none twice: an id it
//! skipped (committed after a larger one it had already passed) fails.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use herald_proto::Severity;
use herald_server::store::Db;
use herald_server::store::event::{Audience, NewEvent};
use support::WAIT;
use support::postgres::TestPostgres;

const WRITERS: usize = 20;
const BATCHES_PER_WRITER: usize = 60;
const USER: u64 = 1;

fn batch(writer: usize, n: usize) -> Vec<NewEvent> {
    // Batches of 1 to 3, so transactions differ in length.
    (0..1 + (writer + n) % 3)
        .map(|i| NewEvent {
            audience: Audience::User(USER),
            kind: "order_update".into(),
            title: format!("w{writer} b{n} e{i}"),
            message: "m".into(),
            url: None,
            severity: Some(Severity::Info),
            data: serde_json::json!({}),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_paging_after_its_cursor_misses_no_id_from_concurrent_nodes() {
    let pg = TestPostgres::start();
    let node_a = Db::connect_postgres(&pg.url()).await.expect("node A");
    let node_b = Db::connect_postgres(&pg.url()).await.expect("node B");

    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = if w % 2 == 0 {
            node_a.clone()
        } else {
            node_b.clone()
        };
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..BATCHES_PER_WRITER {
                let stored = db
                    .insert_events(batch(w, n), "2026-01-01T00:00:00.000Z".into())
                    .await
                    .expect("insert");
                ids.extend(stored.iter().map(|e| e.id));
            }
            ids
        }));
    }

    // The reader, on node A, pages as a client does: after its cursor.
    let reader = {
        let db = node_a.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut seen = Vec::new();
            loop {
                // Read `done` before the page: a page read after every
                // writer finished sees everything.
                let finished = done.load(Ordering::SeqCst);
                let (items, has_more) = db.page_for(USER, false, cursor, 50).await.expect("page");
                for item in &items {
                    assert!(item.event.id > cursor, "an id at or below the cursor");
                    cursor = item.event.id;
                    seen.push(item.event.id);
                }
                if finished && !has_more && items.is_empty() {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let mut stored = Vec::new();
    for writer in writers {
        stored.extend(
            tokio::time::timeout(WAIT, writer)
                .await
                .expect("writers finish")
                .expect("writer"),
        );
    }
    done.store(true, Ordering::SeqCst);
    let seen = tokio::time::timeout(WAIT, reader)
        .await
        .expect("the reader finishes")
        .expect("reader");

    let stored_set: BTreeSet<u64> = stored.iter().copied().collect();
    assert_eq!(stored_set.len(), stored.len(), "every id was given once");
    let expected: usize = (0..WRITERS)
        .flat_map(|w| (0..BATCHES_PER_WRITER).map(move |n| batch(w, n).len()))
        .sum();
    assert_eq!(stored.len(), expected);
    let seen_set: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(seen_set.len(), seen.len(), "the reader saw an id twice");
    let missed: Vec<u64> = stored_set.difference(&seen_set).copied().collect();
    assert!(
        missed.is_empty(),
        "the reader's cursor passed {} ids before they were committed: {:?}",
        missed.len(),
        &missed[..missed.len().min(20)]
    );
    assert_eq!(seen_set, stored_set);
    // Ids are contiguous: nothing was rolled back, and the counter gives
    // each transaction the next run of ids.
    let first = *stored_set.first().expect("ids");
    let last = *stored_set.last().expect("ids");
    assert_eq!(last - first + 1, stored.len() as u64);
    assert_eq!(node_b.last_event_id().await.expect("last"), last);
}
