//! A flood through the whole path: 50,000 events from a real herald-server
//! to the engine, shown by the real notifier on dunst. Every event reaches
//! the history (its ids equal the ids the server stored) and the flood is a
//! handful of toasts, counted on the bus by a D-Bus monitor.
//!
//! Run inside `scripts/desktop-session.sh` (dunst on the session bus).
#![cfg(target_os = "linux")]

#[path = "common/bus_monitor.rs"]
mod bus_monitor;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bus_monitor::{NotifyArgs, become_monitor};
use futures_util::StreamExt;
use herald_core::link::LinkConfig;
use herald_core::notify::desktop::DesktopNotifier;
use herald_core::notify::policy::PolicyConfig;
use herald_core::status::ConnectionState;
use tokio::time::Instant;
use zbus::Connection;

/// The burst, as in the benchmark's scenario 3.
const EVENTS: u64 = 50_000;
/// Requests in flight: the hub takes one event per request.
const IN_FLIGHT: usize = 64;
/// `burst_max` (3) in all: the first two show at once, then the flood's one
/// summary.
const MOST_TOASTS: usize = 3;

/// Counts the `Notify` calls with `app_name` on the session bus.
async fn count_notify_calls(app_name: String) -> (Arc<std::sync::Mutex<Vec<String>>>, Connection) {
    let rules = ["type='method_call',interface='org.freedesktop.Notifications',member='Notify'"];
    let (bus, mut stream) = become_monitor(&rules).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let summaries = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let Ok((app, _, _, summary, ..)) = message.body().deserialize::<NotifyArgs>() else {
                continue;
            };
            if app == app_name {
                summaries.lock().expect("the toast list").push(summary);
            }
        }
    });
    (seen, bus)
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_thousand_events_lose_none_and_show_a_handful_of_toasts() {
    let (hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    let app_name = format!("herald-burst-{}", std::process::id());
    let (toasts, _monitor) = count_notify_calls(app_name.clone()).await;
    // The link as users run it: a probe a minute, the full queue.
    let mut parts = device.parts(LinkConfig::default());
    parts.settings.history_limit = 60_000;
    parts.settings.notifications = PolicyConfig::default();
    let (actions, action_rx) = tokio::sync::mpsc::unbounded_channel();
    parts.notifier = Some(Arc::new(DesktopNotifier::new(&app_name, "herald", actions)));
    let engine = herald_core::engine::Engine::start(parts, action_rx)
        .await
        .expect("start the engine");
    let mut status = engine.status();
    support::until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;

    let hub = Arc::new(hub);
    let stored: BTreeSet<u64> = futures_util::stream::iter(1..=EVENTS)
        .map(|n| {
            let (hub, admin) = (hub.clone(), admin.clone());
            async move { hub.emit(&admin, support::order(alice, n)).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    assert_eq!(stored.len() as u64, EVENTS);

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let history = support::history_ids(&engine, "order_update");
        if history.len() as u64 >= EVENTS {
            assert_eq!(history, stored, "0 lost, nothing else");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {EVENTS} in the history",
            history.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The flood's summary comes a burst window (2 s) after its last event.
    let summary_deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let seen = toasts.lock().expect("the toast list").clone();
        if seen.iter().any(|s| s.ends_with("missed notifications")) {
            break;
        }
        assert!(Instant::now() < summary_deadline, "no summary: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = toasts.lock().expect("the toast list").clone();
    let summaries = seen
        .iter()
        .filter(|s| s.ends_with("missed notifications"))
        .count();
    assert_eq!(summaries, 1, "one summary, after the flood: {seen:?}");
    assert!(seen.len() <= MOST_TOASTS, "{} toasts: {seen:?}", seen.len());
    // Nothing is held once the flood is summarised: shutting down (which
    // waits for every received event) shows nothing more.
    engine.shutdown().await;
    let after = toasts.lock().expect("the toast list").len();
    assert_eq!(after, seen.len(), "no toast after the summary");
}
