//! The connection supervisor: one task that owns the Socket.IO client.
//!
//! rust_socketio 0.6 has flaws this module guards against, each measured:
//!
//! - `connect()` returns before the server accepts: we wait for the `connect`
//!   event ourselves, under [`LinkConfig::connect_timeout`], which also bounds
//!   a connect attempt that would otherwise never end.
//! - a `connect_error` arrives only as an error string: [`refusal`] parses it,
//!   and an auth refusal waits for a new token instead of retrying blindly.
//! - a clean close from the server can be silent: a liveness probe (an emit
//!   with an acknowledgement) runs every [`LinkConfig::probe_interval`]; a
//!   failed emit, or a missing ack from a server that has acked before, tears
//!   the client down. A dead link is so noticed within
//!   `probe_interval + probe_timeout` (70 s by default); a network that went
//!   away or a resume at once, from the OS ([`crate::os_signals`]).
//! - handlers run inline in its receive loop: ours only `try_send` onto a
//!   bounded channel ([`Relay`]), and a full channel is marked
//!   ([`Overflow`]), never waited on; the supervisor hears of the mark at
//!   once and has the engine catch up.
//! - a replaced client can still call back: every callback carries the
//!   generation of its client and is dropped when that is not the current one.
//! - its own reconnect loop can spin a core: it is off; [`crate::backoff`]
//!   schedules ours.
//! - its errors are for programmers ("EngineIO Error" hides the real one):
//!   every failure is classified into a [`Cause`] where it happens.

mod cause;
mod client;
mod supervisor;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use herald_proto::socket::ConnectErrorCode;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

pub use cause::Cause;
pub use client::refusal;
use supervisor::Supervisor;

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub connect_timeout: Duration,
    /// Between liveness probes; the tick also runs the clock check
    /// ([`crate::wake`]). Each probe is a round trip that wakes the process
    /// several times, so an idle engine probes once a minute.
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    /// While the OS says the network is down the link waits for it to come
    /// back, and tries once after this long even if no signal came (a
    /// monitor can miss one).
    pub offline_recheck: Duration,
    /// Live events the engine may fall behind by: past that the link drops
    /// them (the receive loop must not wait) and the engine catches up.
    pub queue: usize,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            connect_timeout: Duration::from_secs(10),
            probe_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(10),
            offline_recheck: Duration::from_secs(600),
            queue: 4096,
        }
    }
}

/// The link's state, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum LinkState {
    Connecting {
        attempt: u32,
    },
    Connected {
        since: chrono::DateTime<chrono::Utc>,
    },
    Backoff {
        attempt: u32,
        retry_at: chrono::DateTime<chrono::Utc>,
        /// Why, for a person.
        cause: Cause,
        /// Why, for a log: the library's own words.
        reason: String,
    },
    /// The server refused the token; waiting for a new one.
    AuthFailed {
        message: String,
    },
    Paused,
    Stopped,
}

/// What the link reports to the engine, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    State(LinkState),
    /// The server accepted the connection: time to catch up.
    Connected,
    /// herald-server: the socket has joined its rooms; catch up (again) now.
    Ready,
    Event {
        name: String,
        payload: Value,
    },
    /// Another device of the user changed read state.
    ReadSync {
        ids: Vec<u64>,
        read: bool,
    },
    /// Events were dropped because the engine fell behind: catch up.
    Overflow,
    Refused {
        code: Option<ConnectErrorCode>,
        message: String,
    },
}

/// What the engine can ask of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCommand {
    /// Drop the backoff (or the connection) and connect at once.
    ReconnectNow,
    /// The network came back, or the machine woke up: same as ReconnectNow.
    /// (That the network is down is a state, not a command: the `online`
    /// watch of [`Link::start`].)
    NetworkUp,
    Pause,
    Resume,
    Shutdown,
}

/// That live events were dropped because the engine's queue was full. The
/// receive loop marks it; the supervisor waits on it and tells the engine to
/// catch up at once, not at its next probe (a minute away when idle).
#[derive(Debug, Default)]
pub(crate) struct Overflow {
    dropped: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Overflow {
    /// Marks a drop; wakes the supervisor on the first since it last looked.
    fn mark(&self) {
        if !self.dropped.swap(true, Ordering::AcqRel) {
            // A stored permit if nobody waits yet: the wake is not lost.
            self.wake.notify_one();
        }
    }

    /// Whether anything was dropped since the last call.
    fn take(&self) -> bool {
        self.dropped.swap(false, Ordering::AcqRel)
    }

    /// Until the next mark (at once if one came while nobody waited).
    async fn marked(&self) {
        self.wake.notified().await;
    }
}

/// Forwards callbacks of one client generation, without ever blocking.
#[derive(Debug, Clone)]
pub struct Relay {
    generation: u64,
    current: Arc<AtomicU64>,
    events: mpsc::Sender<LinkEvent>,
    overflow: Arc<Overflow>,
    /// Set on `herald_ready`: this server answers probes.
    answers_probes: Arc<AtomicBool>,
}

impl Relay {
    /// Forwards `event` if this relay's client is still the current one.
    /// Returns whether it was forwarded.
    pub fn forward(&self, event: LinkEvent) -> bool {
        if self.current.load(Ordering::Acquire) != self.generation {
            return false;
        }
        if event == LinkEvent::Ready {
            self.answers_probes.store(true, Ordering::Release);
        }
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(_) => {
                self.overflow.mark();
                false
            }
        }
    }
}

/// A handle to the running link.
#[derive(Debug, Clone)]
pub struct Link {
    commands: mpsc::UnboundedSender<LinkCommand>,
}

impl Link {
    /// Starts the supervisor for `net`'s server (the engine's own `Net`, so
    /// REST and the socket share one TLS connector and one proxy rule). It connects with
    /// the token in `token` (and the newest one on every retry); `None` stops
    /// it. While `online` is false (the OS says the network is down) it makes
    /// no attempt and sends no probe.
    pub fn start(
        net: Arc<crate::net::Net>,
        token: watch::Receiver<Option<String>>,
        online: watch::Receiver<bool>,
        config: LinkConfig,
        events: mpsc::Sender<LinkEvent>,
    ) -> Link {
        let (commands, rx) = mpsc::unbounded_channel();
        let supervisor = Supervisor {
            net,
            config,
            token,
            online,
            events,
            commands: rx,
            current: Arc::new(AtomicU64::new(0)),
            overflow: Arc::default(),
            answers_probes: Arc::new(AtomicBool::new(false)),
        };
        tokio::spawn(supervisor.run());
        Link { commands }
    }

    pub fn send(&self, command: LinkCommand) {
        let _ = self.commands.send(command);
    }

    /// Like [`Link::send`]; false once the supervisor has ended.
    pub fn send_checked(&self, command: LinkCommand) -> bool {
        self.commands.send(command).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::client::link_event;
    use super::*;
    use herald_proto::socket::names;
    use rust_socketio::{Event, Payload};

    fn relay(generation: u64, current: u64, capacity: usize) -> (Relay, mpsc::Receiver<LinkEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        let relay = Relay {
            generation,
            current: Arc::new(AtomicU64::new(current)),
            events: tx,
            overflow: Arc::default(),
            answers_probes: Arc::new(AtomicBool::new(false)),
        };
        (relay, rx)
    }

    fn event(n: u64) -> LinkEvent {
        LinkEvent::Event {
            name: "order_update".into(),
            payload: serde_json::json!({"id": n}),
        }
    }

    #[test]
    fn a_stale_generation_is_dropped() {
        let (stale, mut rx) = relay(1, 2, 8);
        assert!(!stale.forward(event(1)));
        assert!(rx.try_recv().is_err());
        let (live, mut rx) = relay(2, 2, 8);
        assert!(live.forward(event(2)));
        assert_eq!(rx.try_recv().ok(), Some(event(2)));
    }

    #[test]
    fn a_full_queue_never_blocks_and_is_flagged() {
        let (relay, _rx) = relay(1, 1, 1);
        assert!(relay.forward(event(1)));
        // The queue is full: forward returns at once instead of waiting.
        assert!(!relay.forward(event(2)));
        assert!(relay.overflow.take());
        assert!(!relay.overflow.take(), "taken once");
    }

    #[tokio::test]
    async fn a_drop_wakes_whoever_waits_for_it_even_if_it_came_first() {
        let (relay, _rx) = relay(1, 1, 1);
        assert!(relay.forward(event(1)));
        // Dropped before anyone waits: the wake is kept for the waiter.
        assert!(!relay.forward(event(2)));
        let woke = tokio::time::timeout(Duration::from_secs(5), relay.overflow.marked()).await;
        assert!(woke.is_ok(), "the supervisor is woken by the drop");
        assert!(relay.overflow.take());
        // Nothing dropped since: no wake.
        let idle = tokio::time::timeout(Duration::from_millis(50), relay.overflow.marked()).await;
        assert!(idle.is_err(), "no wake without a drop");
    }

    #[test]
    fn refusals_are_parsed_from_rust_socketio_error_strings() {
        let herald =
            r#"Received an ConnectError frame: {"message":"EXPIRED: access token expired"}"#;
        assert_eq!(
            refusal(herald),
            Some((
                Some(ConnectErrorCode::Expired),
                "EXPIRED: access token expired".into()
            ))
        );
        let node = r#"Received an ConnectError frame: {"message":"jwt malformed","data":{"code":"BAD_TOKEN"}}"#;
        assert_eq!(
            refusal(node),
            Some((Some(ConnectErrorCode::BadToken), "jwt malformed".into()))
        );
        let other = r#"Received an ConnectError frame: {"message":"Invalid namespace"}"#;
        assert_eq!(refusal(other), Some((None, "Invalid namespace".into())));
        assert_eq!(refusal("websocket closed"), None);
    }

    #[test]
    fn read_sync_and_events_are_told_apart() {
        let read = link_event(
            Event::Custom(names::READ.into()),
            Payload::Text(vec![serde_json::json!({"ids": [1, 2], "read": false})]),
        );
        assert_eq!(
            read,
            Some(LinkEvent::ReadSync {
                ids: vec![1, 2],
                read: false
            })
        );
        let order = link_event(
            Event::Custom("order_update".into()),
            Payload::Text(vec![serde_json::json!({"id": 3})]),
        );
        assert_eq!(order, Some(event(3)));
        assert_eq!(link_event(Event::Connect, Payload::Text(vec![])), None);
    }
}
