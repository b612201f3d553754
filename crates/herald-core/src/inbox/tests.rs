use super::*;
use crate::event::Incoming;
use serde_json::json;

const SERVER: &str = "http://127.0.0.1:3000";

type TestResult = Result<(), InboxError>;

fn incoming(server_id: Option<u64>, kind: &str, title: &str) -> Incoming {
    Incoming {
        server_id,
        kind: kind.into(),
        title: title.into(),
        message: format!("message of {title}"),
        url: None,
        severity: Severity::Info,
        created_at: "2026-01-01T00:00:00Z".into(),
        data: json!({"n": server_id}),
        read: false,
        truncated: false,
    }
}

fn numbered(ids: std::ops::RangeInclusive<u64>) -> Vec<Incoming> {
    ids.map(|id| incoming(Some(id), "order_update", &format!("item {id}")))
        .collect()
}

fn server_ids(items: &[Item]) -> Vec<Option<u64>> {
    items.iter().map(|i| i.server_id).collect()
}

/// A fresh path under the temp dir, removed with its WAL files on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!(
            "herald-inbox-test-{}-{name}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        TempDb(dir.join("history.db"))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn inserts_return_items_with_ids_in_input_order() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let mut batch = numbered(3..=4);
    batch.insert(0, incoming(Some(9), "announcement", "first"));
    let stored = inbox.insert_batch(&batch)?;
    assert_eq!(server_ids(&stored), [Some(9), Some(3), Some(4)]);
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    let got = inbox.get(stored[0].id)?.expect("the first item is stored");
    assert_eq!(got, stored[0]);
    assert_eq!(got.data, json!({"n": 9}));
    assert_eq!(inbox.last_server_id()?, 9);
    Ok(())
}

#[test]
fn duplicates_are_skipped_within_and_across_batches() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let mut batch = numbered(1..=3);
    batch.push(incoming(Some(2), "order_update", "again"));
    let stored = inbox.insert_batch(&batch)?;
    assert_eq!(server_ids(&stored), [Some(1), Some(2), Some(3)]);
    assert_eq!(stored[1].title, "item 2", "the first copy wins");

    let stored = inbox.insert_batch(&numbered(2..=5))?;
    assert_eq!(server_ids(&stored), [Some(4), Some(5)]);
    assert_eq!(inbox.count()?, 5);
    assert!(inbox.insert_batch(&numbered(1..=5))?.is_empty());
    Ok(())
}

#[test]
fn items_without_server_id_always_insert() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let seed = incoming(None, "order_update", "same");
    let stored = inbox.insert_batch(&[seed.clone(), seed.clone()])?;
    assert_eq!(stored.len(), 2);
    assert_ne!(stored[0].id, stored[1].id);
    assert_eq!(inbox.insert_batch(&[seed])?.len(), 1);
    assert_eq!(inbox.count()?, 3);
    assert_eq!(inbox.last_server_id()?, 0, "no server id, no cursor");
    Ok(())
}

#[test]
fn an_out_of_range_server_id_is_dropped_without_moving_the_cursor() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&[
        incoming(Some(u64::MAX), "x", "bad"),
        incoming(Some(4), "x", "ok"),
    ])?;
    assert_eq!(server_ids(&stored), [Some(4)]);
    assert_eq!(inbox.last_server_id()?, 4);
    Ok(())
}

#[test]
fn last_server_id_never_decreases() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&numbered(1..=10))?;
    assert_eq!(inbox.last_server_id()?, 10);

    // A late, older event (catch-up racing live events) keeps the cursor.
    inbox.insert_batch(&[incoming(Some(0), "x", "zero")])?;
    assert_eq!(inbox.last_server_id()?, 10);

    let newest = stored.last().expect("ten stored").id;
    assert_eq!(inbox.delete(&[newest])?, 1);
    assert_eq!(inbox.last_server_id()?, 10);
    inbox.enforce_retention(0)?;
    assert_eq!(inbox.count()?, 0);
    assert_eq!(inbox.last_server_id()?, 10);
    Ok(())
}

#[test]
fn servers_never_share_items_ids_or_cursors() -> TestResult {
    let path = TempDb::new("scoped");
    let mut a = Inbox::open(&path.0, "http://a.example:3000/")?;
    let mut b = Inbox::open(&path.0, "https://b.example")?;
    let in_a = a.insert_batch(&numbered(1..=3))?;
    b.insert_batch(&numbered(1..=1))?;
    assert_eq!(
        (a.count()?, b.count()?),
        (3, 1),
        "the same server ids are stored per server"
    );
    assert_eq!((a.last_server_id()?, b.last_server_id()?), (3, 1));
    assert_eq!(b.get(in_a[0].id)?, None);
    assert_eq!(b.set_read(&[in_a[0].id], true)?, 0);
    assert_eq!(b.delete(&[in_a[1].id])?, 0);
    assert_eq!(b.mark_all_read()?.len(), 1);
    assert_eq!(a.unread_count()?, 3);
    Ok(())
}

#[test]
fn server_origins_are_normalised_and_checked() -> TestResult {
    let inbox = Inbox::open_in_memory("HTTP://LocalHost:80/some/path/")?;
    assert_eq!(inbox.server(), "http://localhost");
    for bad in ["", "not a url", "file:///tmp/x", "javascript:alert(1)"] {
        assert!(
            matches!(Inbox::open_in_memory(bad), Err(InboxError::BadServer(_))),
            "{bad:?}"
        );
    }
    Ok(())
}

#[test]
fn hostile_text_is_stored_verbatim() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let mut evil = incoming(
        Some(1),
        "x'); DROP TABLE items; --",
        "Robert'); DROP TABLE items;--",
    );
    evil.message = r#"<b>"quoted"</b> & 'single' %_\"#.into();
    evil.url = Some("javascript:alert('x')".into());
    let stored = inbox.insert_batch(&[evil.clone()])?;
    let got = inbox.get(stored[0].id)?.expect("stored");
    assert_eq!(
        (got.kind, got.title, got.message, got.url),
        (evil.kind, evil.title, evil.message, evil.url)
    );
    assert_eq!(inbox.count()?, 1);
    Ok(())
}

fn listed(inbox: &Inbox, query: &ListQuery) -> Result<Vec<String>, InboxError> {
    Ok(inbox.list(query)?.into_iter().map(|i| i.title).collect())
}

#[test]
fn list_filters_by_kind_and_unread() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&[
        incoming(Some(1), "order_update", "o1"),
        incoming(Some(2), "login_notification", "l1"),
        incoming(Some(3), "order_update", "o2"),
    ])?;
    inbox.set_read(&[stored[2].id], true)?;
    assert_eq!(listed(&inbox, &ListQuery::default())?, ["o2", "l1", "o1"]);
    let orders = ListQuery {
        kind: Some("order_update".into()),
        ..ListQuery::default()
    };
    assert_eq!(listed(&inbox, &orders)?, ["o2", "o1"]);
    let unread_orders = ListQuery {
        unread_only: true,
        ..orders
    };
    assert_eq!(listed(&inbox, &unread_orders)?, ["o1"]);
    Ok(())
}

#[test]
fn search_is_case_insensitive_and_treats_wildcards_literally() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let mut sale = incoming(Some(1), "announcement", "Sale: 50% OFF");
    sale.message = "ends_today".into();
    inbox.insert_batch(&[
        sale,
        incoming(Some(2), "announcement", "Sale: 500 items"),
        incoming(Some(3), "announcement", "endsXtoday"),
        incoming(Some(4), "announcement", r"back\slash"),
    ])?;
    let search = |s: &str| ListQuery {
        search: Some(s.into()),
        ..ListQuery::default()
    };
    assert_eq!(listed(&inbox, &search("50% off"))?, ["Sale: 50% OFF"]);
    assert_eq!(
        listed(&inbox, &search("sale"))?,
        ["Sale: 500 items", "Sale: 50% OFF"]
    );
    assert_eq!(
        listed(&inbox, &search("ENDS_TODAY"))?,
        ["Sale: 50% OFF"],
        "matches the message; _ is literal"
    );
    assert_eq!(listed(&inbox, &search("%"))?, ["Sale: 50% OFF"]);
    assert_eq!(listed(&inbox, &search(r"k\s"))?, [r"back\slash"]);
    assert_eq!(
        listed(&inbox, &search("  "))?.len(),
        4,
        "a blank search filters nothing"
    );
    assert!(listed(&inbox, &search("'; DROP TABLE items; --"))?.is_empty());
    assert_eq!(inbox.count()?, 4);
    Ok(())
}

#[test]
fn paging_with_before_id_walks_every_item_once() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&numbered(1..=25))?;
    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: 10,
        ..ListQuery::default()
    };
    loop {
        let page = inbox.list(&query)?;
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 10);
        query.before_id = Some(last.id);
        seen.extend(page.iter().map(|i| i.id));
    }
    let mut expected: Vec<i64> = stored.iter().map(|i| i.id).collect();
    expected.reverse();
    assert_eq!(seen, expected);
    Ok(())
}

#[test]
fn limits_default_to_fifty_and_cap_at_a_thousand() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    inbox.insert_batch(&numbered(1..=1200))?;
    assert_eq!(inbox.list(&ListQuery::default())?.len(), 50);
    let huge = ListQuery {
        limit: 5000,
        ..ListQuery::default()
    };
    assert_eq!(inbox.list(&huge)?.len(), 1000);
    Ok(())
}

#[test]
fn unread_first_orders_and_pages_across_the_read_boundary() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&numbered(1..=6))?;
    // Read: 2, 4, 6. Expected order: unread 5, 3, 1, then read 6, 4, 2.
    let read: Vec<i64> = stored
        .iter()
        .filter(|i| i.server_id.is_some_and(|s| s % 2 == 0))
        .map(|i| i.id)
        .collect();
    inbox.set_read(&read, true)?;
    let all = ListQuery {
        unread_first: true,
        ..ListQuery::default()
    };
    assert_eq!(
        listed(&inbox, &all)?,
        ["item 5", "item 3", "item 1", "item 6", "item 4", "item 2"]
    );

    let mut titles = Vec::new();
    let mut query = ListQuery { limit: 2, ..all };
    loop {
        let page = inbox.list(&query)?;
        let Some(last) = page.last() else { break };
        query.before_id = Some(last.id);
        titles.extend(page.into_iter().map(|i| i.title));
    }
    assert_eq!(
        titles,
        ["item 5", "item 3", "item 1", "item 6", "item 4", "item 2"]
    );
    Ok(())
}

#[test]
fn read_state_by_local_and_server_ids() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&numbered(1..=4))?;
    assert_eq!(inbox.unread_count()?, 4);
    assert_eq!(
        inbox.set_read(&[stored[0].id, stored[1].id, 9999], true)?,
        2
    );
    assert_eq!(
        inbox.set_read(&[stored[0].id], true)?,
        0,
        "already read: no change"
    );
    assert_eq!(inbox.unread_count()?, 2);
    assert_eq!(inbox.set_read(&[stored[0].id], false)?, 1);
    assert!(!inbox.get(stored[0].id)?.expect("stored").read);

    assert_eq!(
        inbox.set_read_by_server_ids(&[3, 4, 77, u64::MAX], true)?,
        2
    );
    assert!(inbox.get(stored[3].id)?.expect("stored").read);
    assert_eq!(inbox.unread_count()?, 1);
    assert_eq!(inbox.set_read_by_server_ids(&[4], false)?, 1);
    assert_eq!(inbox.unread_count()?, 2);
    Ok(())
}

#[test]
fn items_read_elsewhere_arrive_read() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let mut old = incoming(Some(1), "x", "read elsewhere");
    old.read = true;
    let stored = inbox.insert_batch(&[old])?;
    assert!(stored[0].read);
    assert_eq!(inbox.unread_count()?, 0);
    Ok(())
}

#[test]
fn mark_all_read_returns_only_the_changed_items() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&numbered(1..=4))?;
    inbox.set_read(&[stored[1].id], true)?;
    let changed = inbox.mark_all_read()?;
    assert_eq!(server_ids(&changed), [Some(4), Some(3), Some(1)]);
    assert!(changed.iter().all(|i| i.read));
    assert_eq!(inbox.unread_count()?, 0);
    assert!(inbox.mark_all_read()?.is_empty());
    Ok(())
}

#[test]
fn delete_removes_only_the_given_items() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&numbered(1..=3))?;
    assert_eq!(inbox.delete(&[stored[0].id, stored[2].id, -5])?, 2);
    assert_eq!(listed(&inbox, &ListQuery::default())?, ["item 2"]);
    // Deleted server ids stay known to the cursor, not to dedup: catch-up
    // never asks for them again because the cursor is past them.
    assert_eq!(inbox.last_server_id()?, 3);
    Ok(())
}

#[test]
fn retention_keeps_the_newest() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    inbox.insert_batch(&numbered(1..=10))?;
    assert_eq!(inbox.enforce_retention(20)?, 0);
    assert_eq!(inbox.enforce_retention(10)?, 0);
    assert_eq!(inbox.enforce_retention(4)?, 6);
    let kept: Vec<Option<u64>> = server_ids(&inbox.list(&ListQuery::default())?);
    assert_eq!(kept, [Some(10), Some(9), Some(8), Some(7)]);
    assert_eq!(inbox.enforce_retention(usize::MAX)?, 0);
    Ok(())
}

#[test]
fn counts_follow_every_change() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let other = Inbox::open_in_memory("https://other.example")?;
    assert_eq!((inbox.count()?, inbox.unread_count()?), (0, 0));
    let stored = inbox.insert_batch(&numbered(1..=10))?;
    assert_eq!((inbox.count()?, inbox.unread_count()?), (10, 10));
    inbox.set_read(&[stored[0].id, stored[1].id, stored[2].id], true)?;
    assert_eq!((inbox.count()?, inbox.unread_count()?), (10, 7));
    let mut read_elsewhere = numbered(11..=12);
    read_elsewhere[0].read = true;
    inbox.insert_batch(&read_elsewhere)?;
    inbox.insert_batch(&numbered(12..=12))?;
    assert_eq!((inbox.count()?, inbox.unread_count()?), (12, 8));
    inbox.delete(&[stored[0].id, stored[9].id])?;
    assert_eq!((inbox.count()?, inbox.unread_count()?), (10, 7));
    assert_eq!(inbox.enforce_retention(8)?, 2);
    assert_eq!((inbox.count()?, inbox.unread_count()?), (8, 7));
    inbox.set_read_by_server_ids(&[12], true)?;
    assert_eq!(inbox.unread_count()?, 6);
    inbox.mark_all_read()?;
    assert_eq!((inbox.count()?, inbox.unread_count()?), (8, 0));
    assert_eq!((other.count()?, other.unread_count()?), (0, 0));
    Ok(())
}

#[test]
fn counts_see_another_connections_writes() -> TestResult {
    let path = TempDb::new("counts");
    let mut engine = Inbox::open(&path.0, SERVER)?;
    let mut cli = Inbox::open(&path.0, SERVER)?;
    let stored = engine.insert_batch(&numbered(1..=5))?;
    assert_eq!((engine.count()?, engine.unread_count()?), (5, 5));
    cli.set_read(&[stored[0].id], true)?;
    cli.insert_batch(&numbered(6..=7))?;
    assert_eq!((engine.count()?, engine.unread_count()?), (7, 6));
    engine.insert_batch(&numbered(8..=8))?;
    assert_eq!((engine.count()?, engine.unread_count()?), (8, 7));
    Ok(())
}

#[test]
fn a_reopened_file_keeps_items_read_state_and_cursor() -> TestResult {
    let path = TempDb::new("reopen");
    let first_id;
    {
        let mut inbox = Inbox::open(&path.0, SERVER)?;
        let stored = inbox.insert_batch(&numbered(1..=3))?;
        first_id = stored[0].id;
        inbox.set_read(&[first_id], true)?;
        inbox.delete(&[stored[2].id])?;
    }
    let mut inbox = Inbox::open(&path.0, SERVER)?;
    let mode: String = inbox
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    assert_eq!(mode, "wal");
    assert_eq!(inbox.count()?, 2);
    assert_eq!(inbox.unread_count()?, 1);
    assert!(inbox.get(first_id)?.expect("kept").read);
    assert_eq!(inbox.last_server_id()?, 3);
    let new = inbox.insert_batch(&numbered(4..=5))?;
    assert!(
        new.iter().all(|i| i.id > first_id + 2),
        "local ids are never reused"
    );
    Ok(())
}

#[test]
fn a_database_from_a_newer_herald_is_refused() -> TestResult {
    let path = TempDb::new("newer");
    {
        Inbox::open(&path.0, SERVER)?;
        let conn = Connection::open(&path.0)?;
        conn.pragma_update(None, "user_version", 99)?;
    }
    let err = Inbox::open(&path.0, SERVER).expect_err("a newer schema must be refused");
    assert!(
        matches!(err, InboxError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade Herald"), "{err}");
    Ok(())
}

#[test]
fn a_large_burst_is_one_batch() -> TestResult {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let stored = inbox.insert_batch(&numbered(1..=10_000))?;
    assert_eq!(stored.len(), 10_000);
    assert_eq!(inbox.count()?, 10_000);
    assert_eq!(inbox.last_server_id()?, 10_000);
    Ok(())
}

#[test]
fn items_serialise_in_camel_case() -> Result<(), Box<dyn std::error::Error>> {
    let mut inbox = Inbox::open_in_memory(SERVER)?;
    let item = inbox.insert_batch(&numbered(7..=7))?.remove(0);
    let value = serde_json::to_value(&item)?;
    assert_eq!(value["serverId"], 7);
    assert_eq!(value["severity"], "info");
    assert!(value.get("receivedAt").is_some_and(|v| v.is_string()));
    let back: Item = serde_json::from_value(value)?;
    assert_eq!(back, item);
    Ok(())
}
