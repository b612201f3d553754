//! The engine and the OS's word on sleep and the network, against a real
//! herald-server that counts the connection attempts (`/healthz`
//! `socketHandshakes`).
//!
//! logind and NetworkManager are stood in on a private D-Bus daemon (the
//! system bus is not available in CI), which each test's child process
//! takes for its system bus through `DBUS_SYSTEM_BUS_ADDRESS`, as zbus does
//! for the real one: the engine runs its product code unchanged.
#![cfg(target_os = "linux")]

#[path = "common/child.rs"]
mod child;
#[path = "common/os_stand_ins.rs"]
mod os_stand_ins;
#[path = "common/private_bus.rs"]
mod private_bus;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use herald_core::engine::Engine;
use herald_core::link::Cause;
use herald_core::link::LinkConfig;
use herald_core::os_signals::Monitor;
use herald_core::status::{ConnectionState, Status};
use os_stand_ins::{NM_CONNECTED, NM_DISCONNECTED, StandIns};
use private_bus::PrivateBus;
use support::{Hub, order, server_ids, until};
use tokio::time::Instant;

/// Set in the child that runs a scenario.
const CHILD: &str = "HERALD_OS_SIGNALS_CHILD";
/// How soon a resume or a network coming up must bring a new connection.
const AT_ONCE: Duration = Duration::from_secs(1);
/// How long, at least, a link told the network is down is watched for
/// attempts: a backing-off link would have tried several times by then
/// (its first retries come within 1 s, 2 s, 4 s).
const QUIET: Duration = Duration::from_secs(3);

/// In the parent: runs `test` in a child whose system bus is a private bus
/// of its own, and returns false. In that child: returns true.
fn in_child(test: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let bus = PrivateBus::start();
    child::run_test_in_child(test, CHILD, &bus.address, |command| {
        command.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    });
    false
}

/// The default timings (a probe a minute), with a short connect timeout.
fn link() -> LinkConfig {
    LinkConfig {
        connect_timeout: Duration::from_secs(2),
        ..LinkConfig::default()
    }
}

const BOTH: Monitor = Monitor {
    logind: true,
    network_manager: true,
};

/// Waits until the server has counted `n` connect attempts; returns when.
async fn handshakes_reach(hub: &Hub, n: u64, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let seen = hub.handshakes().await;
        if seen >= n {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{seen} connect attempts after {within:?}, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn offline(s: &Status) -> bool {
    matches!(s.state, ConnectionState::Backoff { .. }) && s.cause == Some(Cause::Unreachable)
}

/// For at least [`QUIET`] and at least 20 events stored by the server for
/// `user` (the window moves on the server's side, not by sleeping), the
/// server sees no connect attempt and the engine neither connects nor
/// hears the network come back. Returns the ids of the events stored
/// meanwhile.
async fn no_attempts_while_offline(
    hub: &Hub,
    admin: &str,
    user: u64,
    engine: &Engine,
) -> BTreeSet<u64> {
    let started = Instant::now();
    let mut stored = BTreeSet::new();
    let mut n = 0;
    while started.elapsed() < QUIET || stored.len() < 20 {
        n += 1;
        stored.insert(hub.emit(admin, order(user, n)).await);
        assert_eq!(hub.handshakes().await, 0, "an attempt while offline");
        let status = engine.status().borrow().clone();
        assert!(!engine.os_online(), "{status:?}");
        assert_ne!(status.state, ConnectionState::Connecting, "{status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stored
}

/// The network comes up: the server sees the first attempt within
/// [`AT_ONCE`], the engine connects, and catches up every event in `missed`.
async fn network_up_reconnects_at_once(
    os: &StandIns,
    hub: &Hub,
    engine: &Engine,
    missed: &BTreeSet<u64>,
) {
    os.set_network(NM_CONNECTED).await;
    let up = Instant::now();
    let connected = handshakes_reach(hub, 1, AT_ONCE).await;
    assert!(connected - up < AT_ONCE, "{:?}", connected - up);
    until(&mut engine.status(), "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    let deadline = Instant::now() + support::WAIT;
    while !missed.is_subset(&server_ids(engine)) {
        assert!(Instant::now() < deadline, "not caught up: {missed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_resume_reconnects_within_a_second() {
    if !in_child("a_resume_reconnects_within_a_second") {
        return;
    }
    let os = StandIns::start(NM_CONNECTED).await;
    let (hub, _alice, _admin, device) = support::alice_and_admin(|_| {}).await;
    let engine = device.start(link()).await;
    assert_eq!(engine.monitor(), BOTH);
    let mut status = engine.status();
    until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    assert_eq!(hub.handshakes().await, 1);

    os.prepare_for_sleep(true).await;
    os.prepare_for_sleep(false).await;
    let resumed = Instant::now();
    let again = handshakes_reach(&hub, 2, AT_ONCE).await;
    assert!(again - resumed < AT_ONCE, "{:?}", again - resumed);
    let s = until(&mut status, "connected again", |s| {
        s.state == ConnectionState::Connected && s.reconnects == 1
    })
    .await;
    assert_eq!(s.failed_attempts, 0);
    engine.shutdown().await;
}

#[tokio::test]
async fn offline_at_start_makes_no_attempt_until_the_network_is_up() {
    if !in_child("offline_at_start_makes_no_attempt_until_the_network_is_up") {
        return;
    }
    let os = StandIns::start(NM_DISCONNECTED).await;
    let (hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    let engine = device.start(link()).await;
    assert_eq!(engine.monitor(), BOTH);
    let mut status = engine.status();
    until(&mut status, "offline", offline).await;
    let missed = no_attempts_while_offline(&hub, &admin, alice, &engine).await;

    network_up_reconnects_at_once(&os, &hub, &engine, &missed).await;
    assert_eq!(hub.handshakes().await, 1, "one attempt, and it held");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_link_lost_while_offline_waits_for_the_network_then_reconnects_at_once() {
    if !in_child("a_link_lost_while_offline_waits_for_the_network_then_reconnects_at_once") {
        return;
    }
    let os = StandIns::start(NM_CONNECTED).await;
    let (mut hub, alice, admin, device) = support::alice_and_admin(|_| {}).await;
    let engine = device.start(link()).await;
    let mut status = engine.status();
    until(&mut status, "connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;

    os.set_network(NM_DISCONNECTED).await;
    let deadline = Instant::now() + AT_ONCE;
    while engine.os_online() {
        assert!(
            Instant::now() < deadline,
            "the engine did not hear the network go"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The server goes away and comes back (its counter starts again at 0):
    // the link is lost while the OS says offline.
    // (Offline, the link sends no probe, so it may not notice the close: a
    // clean close can be silent. Either way it must not try.)
    hub.restart().await;
    // A resume while offline is no reason to try either.
    os.prepare_for_sleep(false).await;
    let missed = no_attempts_while_offline(&hub, &admin, alice, &engine).await;

    network_up_reconnects_at_once(&os, &hub, &engine, &missed).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn doctor_names_the_monitor_in_use() {
    if !in_child("doctor_names_the_monitor_in_use") {
        return;
    }
    let check = || async {
        tokio::task::spawn_blocking(herald_core::doctor::check_os_monitor)
            .await
            .expect("the check")
    };
    // A system bus with neither service on it: the fallback, and why.
    let alone = check().await;
    assert!(alone.ok, "{alone:?}");
    assert_eq!(alone.name, "sleep/network");
    assert!(
        alone.detail.starts_with("fallback: clock check"),
        "{alone:?}"
    );
    assert!(alone.hint.is_some(), "{alone:?}");
    let _os = StandIns::start(NM_CONNECTED).await;
    let both = check().await;
    assert_eq!(both.detail, "sleep/network: logind + NetworkManager");
    assert_eq!(both.hint, None, "{both:?}");
}
