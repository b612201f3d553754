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
//!   the client down.
//! - handlers run inline in its receive loop: ours only `try_send` onto a
//!   bounded channel ([`Relay`]), and a full channel is counted, never waited on.
//! - a replaced client can still call back: every callback carries the
//!   generation of its client and is dropped when that is not the current one.
//! - its own reconnect loop can spin a core: it is off; [`crate::backoff`]
//!   schedules ours.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use herald_proto::socket::{ConnectErrorCode, names};
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::backoff;

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub connect_timeout: Duration,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            connect_timeout: Duration::from_secs(10),
            probe_interval: Duration::from_secs(15),
            probe_timeout: Duration::from_secs(10),
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
    NetworkUp,
    Pause,
    Resume,
    Shutdown,
}

/// Forwards callbacks of one client generation, without ever blocking.
#[derive(Debug, Clone)]
pub struct Relay {
    generation: u64,
    current: Arc<AtomicU64>,
    events: mpsc::Sender<LinkEvent>,
    overflowed: Arc<AtomicBool>,
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
                self.overflowed.store(true, Ordering::Release);
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
    /// Starts the supervisor for `server`. It connects with the token in
    /// `token` (and the newest one on every retry); `None` stops it.
    pub fn start(
        server: String,
        token: watch::Receiver<Option<String>>,
        config: LinkConfig,
        events: mpsc::Sender<LinkEvent>,
    ) -> Link {
        let (commands, rx) = mpsc::unbounded_channel();
        let supervisor = Supervisor {
            server,
            config,
            token,
            events,
            commands: rx,
            current: Arc::new(AtomicU64::new(0)),
            overflowed: Arc::new(AtomicBool::new(false)),
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

/// Signals of one client, for the supervisor only.
#[derive(Debug)]
enum Signal {
    Connected,
    Error(String),
    Closed,
}

enum Outcome {
    Lost(String),
    Refused(Option<ConnectErrorCode>, String),
    Command(LinkCommand),
    Stop,
}

struct Supervisor {
    server: String,
    config: LinkConfig,
    token: watch::Receiver<Option<String>>,
    events: mpsc::Sender<LinkEvent>,
    commands: mpsc::UnboundedReceiver<LinkCommand>,
    current: Arc<AtomicU64>,
    overflowed: Arc<AtomicBool>,
    /// Whether this server answers probes: it acknowledged one, or it said
    /// `herald_ready`. The seed's Node server has no probe handler, so there a
    /// missing ack proves nothing (a failed emit still does).
    answers_probes: Arc<AtomicBool>,
}

impl Supervisor {
    async fn state(&self, state: LinkState) {
        let _ = self.events.send(LinkEvent::State(state)).await;
    }

    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let Some(token) = self.token.borrow_and_update().clone() else {
                self.state(LinkState::Stopped).await;
                return;
            };
            self.state(LinkState::Connecting { attempt }).await;
            let outcome = match self.connect(&token).await {
                Ok((client, signals)) => {
                    attempt = 0;
                    self.connected(client, signals).await
                }
                Err(outcome) => outcome,
            };
            let reason = match outcome {
                Outcome::Stop | Outcome::Command(LinkCommand::Shutdown) => break,
                Outcome::Command(LinkCommand::Pause) => {
                    if !self.paused().await {
                        break;
                    }
                    continue;
                }
                Outcome::Command(_) => continue,
                Outcome::Refused(code, message) => {
                    if code.is_some() {
                        self.state(LinkState::AuthFailed {
                            message: message.clone(),
                        })
                        .await;
                    }
                    let _ = self
                        .events
                        .send(LinkEvent::Refused {
                            code,
                            message: message.clone(),
                        })
                        .await;
                    if code.is_some() {
                        // An auth refusal: retrying the same token is pointless.
                        if !self.wait_for_new_token().await {
                            break;
                        }
                        continue;
                    }
                    message
                }
                Outcome::Lost(reason) => reason,
            };
            let delay = backoff::next_delay(attempt);
            attempt = attempt.saturating_add(1);
            let retry_at =
                chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::info!(%reason, ?delay, attempt, "connection lost; retrying");
            self.state(LinkState::Backoff {
                attempt,
                retry_at,
                reason,
            })
            .await;
            match self.wait(delay).await {
                Some(LinkCommand::Shutdown) => break,
                Some(LinkCommand::Pause) => {
                    if !self.paused().await {
                        break;
                    }
                }
                Some(LinkCommand::ReconnectNow | LinkCommand::NetworkUp) => attempt = 0,
                _ => {}
            }
        }
        self.current.fetch_add(1, Ordering::AcqRel);
        self.state(LinkState::Stopped).await;
    }

    /// Waits out a backoff delay; a command cuts it short.
    async fn wait(&mut self, delay: Duration) -> Option<LinkCommand> {
        tokio::select! {
            _ = tokio::time::sleep(delay) => None,
            command = self.commands.recv() => Some(command.unwrap_or(LinkCommand::Shutdown)),
            _ = self.token.changed() => None,
        }
    }

    /// Paused until Resume; false means shut down.
    async fn paused(&mut self) -> bool {
        self.state(LinkState::Paused).await;
        loop {
            match self.commands.recv().await {
                Some(LinkCommand::Resume | LinkCommand::ReconnectNow | LinkCommand::NetworkUp) => {
                    return true;
                }
                Some(LinkCommand::Pause) => continue,
                Some(LinkCommand::Shutdown) | None => return false,
            }
        }
    }

    /// After an auth refusal: wait until the engine provides another token.
    async fn wait_for_new_token(&mut self) -> bool {
        loop {
            tokio::select! {
                changed = self.token.changed() => return changed.is_ok() && self.token.borrow().is_some(),
                command = self.commands.recv() => match command {
                    Some(LinkCommand::Shutdown) | None => return false,
                    Some(LinkCommand::ReconnectNow) => return true,
                    Some(_) => continue,
                },
            }
        }
    }

    /// One connect attempt, confirmed by the server or refused, under the timeout.
    async fn connect(
        &mut self,
        token: &str,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Signal>), Outcome> {
        let generation = self.current.fetch_add(1, Ordering::AcqRel) + 1;
        let relay = Relay {
            generation,
            current: self.current.clone(),
            events: self.events.clone(),
            overflowed: self.overflowed.clone(),
            answers_probes: self.answers_probes.clone(),
        };
        let (signal_tx, mut signals) = mpsc::unbounded_channel();
        let builder = client_builder(&self.server, token, relay, signal_tx);
        let deadline = tokio::time::Instant::now() + self.config.connect_timeout;
        let client = match tokio::time::timeout_at(deadline, builder.connect()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(Outcome::Lost(format!("cannot connect: {e}"))),
            Err(_) => return Err(Outcome::Lost("the connection attempt timed out".into())),
        };
        let answer = tokio::select! {
            answer = tokio::time::timeout_at(deadline, signals.recv()) => answer,
            command = self.commands.recv() => {
                close(&client).await;
                return Err(Outcome::Command(command.unwrap_or(LinkCommand::Shutdown)));
            }
        };
        match answer {
            Ok(Some(Signal::Connected)) => {
                self.state(LinkState::Connected {
                    since: chrono::Utc::now(),
                })
                .await;
                let _ = self.events.send(LinkEvent::Connected).await;
                Ok((client, signals))
            }
            Ok(Some(Signal::Error(error))) => {
                close(&client).await;
                Err(match refusal(&error) {
                    Some((code, message)) => Outcome::Refused(code, message),
                    None => Outcome::Lost(error),
                })
            }
            Ok(Some(Signal::Closed) | None) => {
                close(&client).await;
                Err(Outcome::Lost("the server closed the connection".into()))
            }
            Err(_) => {
                close(&client).await;
                Err(Outcome::Lost(
                    "the server did not confirm the connection in time".into(),
                ))
            }
        }
    }

    /// Runs a confirmed connection until it is lost or a command ends it.
    async fn connected(
        &mut self,
        client: Client,
        mut signals: mpsc::UnboundedReceiver<Signal>,
    ) -> Outcome {
        let mut probe = tokio::time::interval(self.config.probe_interval);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        probe.tick().await;
        let mut pending: Option<(oneshot::Receiver<()>, tokio::time::Instant)> = None;
        let outcome = loop {
            let ack_wait = async {
                match pending.as_mut() {
                    Some((rx, deadline)) => tokio::time::timeout_at(*deadline, rx)
                        .await
                        .map(|r| r.is_ok()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                signal = signals.recv() => match signal {
                    Some(Signal::Connected) => continue,
                    Some(Signal::Error(e)) => break Outcome::Lost(e),
                    Some(Signal::Closed) | None => break Outcome::Lost("the server closed the connection".into()),
                },
                acked = ack_wait => {
                    pending = None;
                    match acked {
                        Ok(true) => self.answers_probes.store(true, Ordering::Release),
                        _ if self.answers_probes.load(Ordering::Acquire) => {
                            break Outcome::Lost("no answer to the liveness probe".into());
                        }
                        _ => {}
                    }
                }
                _ = probe.tick() => {
                    if self.overflowed.swap(false, Ordering::AcqRel) {
                        let _ = self.events.send(LinkEvent::Overflow).await;
                    }
                    if pending.is_none() {
                        match send_probe(&client, self.config.probe_timeout).await {
                            Ok(rx) => pending = Some((rx, tokio::time::Instant::now() + self.config.probe_timeout)),
                            Err(e) => break Outcome::Lost(format!("the liveness probe failed: {e}")),
                        }
                    }
                }
                command = self.commands.recv() => match command {
                    Some(LinkCommand::Resume) => continue,
                    Some(command) => break Outcome::Command(command),
                    None => break Outcome::Stop,
                },
            }
        };
        // Stale callbacks of this client are dropped from here on.
        self.current.fetch_add(1, Ordering::AcqRel);
        close(&client).await;
        outcome
    }
}

fn client_builder(
    server: &str,
    token: &str,
    relay: Relay,
    signals: mpsc::UnboundedSender<Signal>,
) -> ClientBuilder {
    let (s1, s2, s3) = (signals.clone(), signals.clone(), signals);
    let (g1, g2, g3) = (relay.clone(), relay.clone(), relay.clone());
    ClientBuilder::new(server)
        .transport_type(TransportType::Websocket)
        .reconnect(false)
        .reconnect_on_disconnect(false)
        .auth(serde_json::json!({ "token": token }))
        .on(Event::Connect, move |_, _| {
            if g1.current.load(Ordering::Acquire) == g1.generation {
                let _ = s1.send(Signal::Connected);
            }
            async {}.boxed()
        })
        .on(Event::Error, move |payload, _| {
            if g2.current.load(Ordering::Acquire) == g2.generation {
                let _ = s2.send(Signal::Error(payload_text(&payload)));
            }
            async {}.boxed()
        })
        .on(Event::Close, move |_, _| {
            if g3.current.load(Ordering::Acquire) == g3.generation {
                let _ = s3.send(Signal::Closed);
            }
            async {}.boxed()
        })
        .on_any(move |event, payload, _| {
            if let Some(event) = link_event(event, payload) {
                relay.forward(event);
            }
            async {}.boxed()
        })
}

/// Turns a received Socket.IO event into a [`LinkEvent`]; decoding of the
/// payload itself is the engine's job, off the receive loop.
fn link_event(event: Event, payload: Payload) -> Option<LinkEvent> {
    let name = match event {
        Event::Custom(name) => name,
        Event::Message => "message".to_owned(),
        _ => return None,
    };
    let payload = match payload {
        Payload::Text(mut values) if !values.is_empty() => values.swap_remove(0),
        Payload::Binary(_) => return None,
        _ => Value::Null,
    };
    if name == names::READY {
        return Some(LinkEvent::Ready);
    }
    if name == names::READ {
        let ids = payload
            .get("ids")?
            .as_array()?
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        let read = payload.get("read").and_then(Value::as_bool).unwrap_or(true);
        return Some(LinkEvent::ReadSync { ids, read });
    }
    Some(LinkEvent::Event { name, payload })
}

async fn send_probe(client: &Client, timeout: Duration) -> Result<oneshot::Receiver<()>, String> {
    let (tx, rx) = oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    client
        .emit_with_ack(names::PING, serde_json::json!({}), timeout, move |_, _| {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(());
            }
            async {}.boxed()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(rx)
}

/// Disconnects, without letting a dead transport hold us up.
async fn close(client: &Client) {
    let _ = tokio::time::timeout(Duration::from_secs(2), client.disconnect()).await;
}

fn payload_text(payload: &Payload) -> String {
    match payload {
        Payload::Text(values) => values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => "binary error payload".to_owned(),
    }
}

/// Parses rust_socketio's `connect_error` string:
/// `Received an ConnectError frame: {"message": ..., "data": {...}}`.
/// `None` when `error` is not a refusal but a transport error.
pub fn refusal(error: &str) -> Option<(Option<ConnectErrorCode>, String)> {
    let (_, json) = error.split_once("ConnectError frame:")?;
    let payload: Value =
        serde_json::from_str(json.trim()).unwrap_or(Value::String(json.trim().to_owned()));
    let message = payload
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| payload.to_string());
    Some((ConnectErrorCode::from_connect_error(&payload), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(generation: u64, current: u64, capacity: usize) -> (Relay, mpsc::Receiver<LinkEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        let relay = Relay {
            generation,
            current: Arc::new(AtomicU64::new(current)),
            events: tx,
            overflowed: Arc::new(AtomicBool::new(false)),
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
        assert!(relay.overflowed.load(Ordering::Acquire));
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
