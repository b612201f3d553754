use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::catch_up::CaughtUp;
use super::testing::{self, FakeServer, PATIENCE, SignedIn};
use super::worker::Worker;
use super::{Command, Engine};
use crate::event::decode;
use crate::link::LinkEvent;
use crate::notify::ActionInvoked;

fn empty_page(_: &str) -> Option<String> {
    Some(r#"{"items":[],"hasMore":false}"#.into())
}

fn order(id: u64) -> Value {
    json!({"id": id, "type": "order_update", "title": format!("Order {id}"), "message": "shipped"})
}

/// Hands the running catch-up's pages to the worker, up to its end.
async fn finish_catch_up(
    worker: &mut Worker,
    caught_rx: &mut mpsc::Receiver<CaughtUp>,
    caught_tx: &mpsc::Sender<CaughtUp>,
) {
    loop {
        let caught = timeout(PATIENCE, caught_rx.recv())
            .await
            .unwrap_or_else(|_| panic!("the catch-up did not end"))
            .unwrap_or_else(|| panic!("the catch-up channel closed"));
        let done = matches!(caught, CaughtUp::Done(_));
        worker.handle_caught_up(caught, caught_tx).await;
        if done {
            return;
        }
    }
}

#[tokio::test]
async fn a_closed_action_channel_leaves_the_worker_idle() {
    let server = FakeServer::start(empty_page).await;
    let worker = testing::worker(&server.url);
    let (_link_tx, link_rx) = mpsc::channel(8);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (actions, action_rx) = mpsc::unbounded_channel::<ActionInvoked>();
    drop(actions);
    let task = tokio::spawn(worker.run(link_rx, command_rx, action_rx));
    // This runtime has one thread, and it parks only when no task is ready:
    // a worker spinning on the closed channel is always ready.
    let metrics = tokio::runtime::Handle::current().metrics();
    let parks = metrics.worker_park_count(0);
    let parked = timeout(PATIENCE, async {
        while metrics.worker_park_count(0) == parks {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(
        parked.is_ok(),
        "the worker spins on the closed action channel"
    );
    // And it still takes commands.
    let _ = commands.send(Command::Shutdown);
    timeout(PATIENCE, task)
        .await
        .unwrap_or_else(|_| panic!("the worker did not shut down"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn the_os_monitor_ends_with_its_engine() {
    let server = FakeServer::start(|_| None).await;
    let account = SignedIn::new(&server.url);
    let start = || async {
        Engine::start(account.parts(), mpsc::unbounded_channel().1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };

    let engine = start().await;
    let wake = engine.os_task();
    assert!(!wake.is_finished());
    engine.shutdown().await;
    assert!(wake.is_finished(), "the OS monitor outlived shutdown");

    let engine = start().await;
    let wake = engine.os_task();
    drop(engine);
    let ended = timeout(PATIENCE, async {
        while !wake.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the OS monitor outlived its dropped engine");
}

#[tokio::test]
async fn herald_ready_catches_up_from_where_the_connection_began() {
    let mut server = FakeServer::start(empty_page).await;
    let mut worker = testing::worker(&server.url);
    let (caught_tx, mut caught_rx) = mpsc::channel(4);
    let stored = (1..=5)
        .map(|id| decode("order_update", &order(id)).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    worker.insert(stored).await;

    worker
        .handle_control(LinkEvent::Connected, &caught_tx)
        .await;
    let first = server.next_request_to("/api/notifications").await;
    assert!(first.contains("after=5"), "{first}");
    finish_catch_up(&mut worker, &mut caught_rx, &caught_tx).await;

    // A live event moves the cursor past anything stored between CONNECT
    // and the join, which this socket never got.
    let live = LinkEvent::Event {
        name: "order_update".into(),
        payload: order(7),
    };
    worker.handle_link_events(vec![live], &caught_tx).await;
    worker.handle_control(LinkEvent::Ready, &caught_tx).await;
    let again = server.next_request_to("/api/notifications").await;
    assert!(again.contains("after=5"), "{again}");
    finish_catch_up(&mut worker, &mut caught_rx, &caught_tx).await;
}

#[tokio::test]
async fn herald_ready_during_a_catch_up_catches_up_again_after_it() {
    let mut server = FakeServer::start(empty_page).await;
    let mut worker = testing::worker(&server.url);
    let (caught_tx, mut caught_rx) = mpsc::channel(4);
    worker
        .handle_control(LinkEvent::Connected, &caught_tx)
        .await;
    // The connect's catch-up has not even sent its request yet.
    worker.handle_control(LinkEvent::Ready, &caught_tx).await;
    let first = server.next_request_to("/api/notifications").await;
    assert!(first.contains("after=0"), "{first}");
    finish_catch_up(&mut worker, &mut caught_rx, &caught_tx).await;
    let again = server.next_request_to("/api/notifications").await;
    assert!(again.contains("after=0"), "{again}");
    finish_catch_up(&mut worker, &mut caught_rx, &caught_tx).await;
}
