//! The supervisor task: connect, confirm, watch, back off, repeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use herald_proto::socket::ConnectErrorCode;
use rust_socketio::asynchronous::Client;
use tokio::sync::{mpsc, oneshot, watch};

use super::cause::{Cause, describe};
use super::client::{client_builder, close, refusal, send_probe};
use super::{LinkCommand, LinkConfig, LinkEvent, LinkState, Overflow, Relay};
use crate::backoff;
use crate::net::Net;
use crate::wake::ClockCheck;

/// What the status says while the OS reports no network.
const OFFLINE_REASON: &str = "the system reports no network; waiting for it to come back";

/// Signals of one client, for the supervisor only.
#[derive(Debug)]
pub(super) enum Signal {
    Connected,
    Error(String),
    Closed,
}

enum Outcome {
    /// Why, for a person and for a log.
    Lost(Cause, String),
    Refused(Option<ConnectErrorCode>, String),
    Command(LinkCommand),
    Stop,
}

pub(super) struct Supervisor {
    /// The TLS connector and proxy, shared with the engine's REST client.
    pub(super) net: Arc<Net>,
    pub(super) config: LinkConfig,
    pub(super) token: watch::Receiver<Option<String>>,
    /// False while the OS says the network is down.
    pub(super) online: watch::Receiver<bool>,
    pub(super) events: mpsc::Sender<LinkEvent>,
    pub(super) commands: mpsc::UnboundedReceiver<LinkCommand>,
    pub(super) current: Arc<AtomicU64>,
    pub(super) overflow: Arc<Overflow>,
    /// Whether this server answers probes: it acknowledged one, or it said
    /// `herald_ready`. The seed's Node server has no probe handler, so there a
    /// missing ack proves nothing (a failed emit still does).
    pub(super) answers_probes: Arc<AtomicBool>,
}

impl Supervisor {
    async fn state(&self, state: LinkState) {
        let _ = self.events.send(LinkEvent::State(state)).await;
    }

    pub(super) async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            if !*self.online.borrow_and_update() {
                // No attempt, no backoff: wait for the network (or try once
                // after the fallback timer, or when asked to).
                match self.offline(attempt).await {
                    Some(LinkCommand::Shutdown) => break,
                    Some(LinkCommand::Pause) => {
                        if !self.paused().await {
                            break;
                        }
                        continue;
                    }
                    _ => attempt = 0,
                }
            }
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
            let (cause, reason) = match outcome {
                Outcome::Stop | Outcome::Command(LinkCommand::Shutdown) => break,
                Outcome::Command(LinkCommand::Pause) => {
                    if !self.paused().await {
                        break;
                    }
                    continue;
                }
                Outcome::Command(_) => continue,
                Outcome::Refused(code, message) => {
                    // Only a refusal of the token waits for a new one; any
                    // other (too many sockets) is retried after a backoff.
                    let auth = code.is_some_and(ConnectErrorCode::is_auth);
                    if auth {
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
                    if auth {
                        // An auth refusal: retrying the same token is pointless.
                        if !self.wait_for_new_token().await {
                            break;
                        }
                        continue;
                    }
                    (Cause::of_refusal(code), message)
                }
                Outcome::Lost(cause, reason) => (cause, reason),
            };
            if !*self.online.borrow() {
                tracing::info!(%reason, ?cause, "connection lost while the system is offline");
                continue;
            }
            let delay = backoff::next_delay(attempt);
            attempt = attempt.saturating_add(1);
            let retry_at =
                chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::info!(%reason, ?cause, ?delay, attempt, "connection lost; retrying");
            self.state(LinkState::Backoff {
                attempt,
                retry_at,
                cause,
                reason,
            })
            .await;
            match self.wait(delay).await {
                Some(LinkCommand::Shutdown) => break,
                Some(LinkCommand::Pause) if !self.paused().await => {
                    break;
                }
                Some(LinkCommand::ReconnectNow | LinkCommand::NetworkUp) => attempt = 0,
                _ => {}
            }
        }
        self.current.fetch_add(1, Ordering::AcqRel);
        self.state(LinkState::Stopped).await;
    }

    /// Waits out a backoff delay; a command cuts it short, and so does a
    /// change of the network (the loop then waits for it, or tries now).
    async fn wait(&mut self, delay: Duration) -> Option<LinkCommand> {
        tokio::select! {
            _ = tokio::time::sleep(delay) => None,
            command = self.commands.recv() => Some(command.unwrap_or(LinkCommand::Shutdown)),
            _ = self.token.changed() => None,
            () = online_changed(&mut self.online) => None,
        }
    }

    /// While the OS says offline: returns when it says online, when a
    /// command comes (Pause and Shutdown are the caller's to act on; any
    /// other means try now), the token changes, or after
    /// [`LinkConfig::offline_recheck`].
    async fn offline(&mut self, attempt: u32) -> Option<LinkCommand> {
        let wait = self.config.offline_recheck;
        tracing::info!(?wait, "the system says the network is down; waiting for it");
        let retry_at = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        self.state(LinkState::Backoff {
            attempt,
            retry_at,
            cause: Cause::Unreachable,
            reason: OFFLINE_REASON.into(),
        })
        .await;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return None,
                () = online_changed(&mut self.online) => {
                    if *self.online.borrow() {
                        return None;
                    }
                }
                command = self.commands.recv() => match command {
                    Some(LinkCommand::Resume) => continue,
                    Some(command) => return Some(command),
                    None => return Some(LinkCommand::Shutdown),
                },
                _ = self.token.changed() => return None,
            }
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
            overflow: self.overflow.clone(),
            answers_probes: self.answers_probes.clone(),
        };
        let (signal_tx, mut signals) = mpsc::unbounded_channel();
        let builder = client_builder(&self.net, token, relay, signal_tx)
            .map_err(|e| Outcome::Lost(Cause::Tls, e.to_string()))?;
        // A failure of an earlier attempt's tunnel is not this attempt's.
        let _ = self.net.take_tunnel_failure();
        let deadline = tokio::time::Instant::now() + self.config.connect_timeout;
        let client = match tokio::time::timeout_at(deadline, builder.connect()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                // Through a proxy, the loopback connection's end says
                // little; the tunnel knows why (the proxy, its TLS).
                if let Some(failure) = self.net.take_tunnel_failure() {
                    let failure: &(dyn std::error::Error + 'static) = &*failure;
                    return Err(Outcome::Lost(
                        Cause::of_error(failure),
                        format!("cannot connect: {}", describe(failure)),
                    ));
                }
                return Err(Outcome::Lost(
                    Cause::of_error(&e),
                    format!("cannot connect: {}", describe(&e)),
                ));
            }
            Err(_) => {
                return Err(Outcome::Lost(
                    Cause::NoAnswer,
                    "the connection attempt timed out".into(),
                ));
            }
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
                    None => Outcome::Lost(Cause::of_reported(&error), error),
                })
            }
            Ok(Some(Signal::Closed) | None) => {
                close(&client).await;
                Err(Outcome::Lost(
                    Cause::Dropped,
                    "the server closed the connection".into(),
                ))
            }
            Err(_) => {
                close(&client).await;
                Err(Outcome::Lost(
                    Cause::NoAnswer,
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
        let mut clock = ClockCheck::new();
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
                    Some(Signal::Error(e)) => break Outcome::Lost(Cause::of_reported(&e), e),
                    Some(Signal::Closed) | None => {
                        break Outcome::Lost(Cause::Dropped, "the server closed the connection".into());
                    }
                },
                acked = ack_wait => {
                    pending = None;
                    match acked {
                        Ok(true) => self.answers_probes.store(true, Ordering::Release),
                        _ if self.answers_probes.load(Ordering::Acquire) => {
                            break Outcome::Lost(Cause::NoAnswer, "no answer to the liveness probe".into());
                        }
                        _ => {}
                    }
                }
                // Live events were dropped: the engine catches up now.
                () = self.overflow.marked() => {
                    if self.overflow.take() {
                        let _ = self.events.send(LinkEvent::Overflow).await;
                    }
                }
                _ = probe.tick() => {
                    // The fallback for an OS that does not say it resumed.
                    if clock.woke() {
                        break Outcome::Command(LinkCommand::NetworkUp);
                    }
                    // Offline, a probe could only fail: the OS will say
                    // when the network is back, and the link reconnects then.
                    if pending.is_none() && *self.online.borrow() {
                        match send_probe(&client, self.config.probe_timeout).await {
                            Ok(rx) => pending = Some((rx, tokio::time::Instant::now() + self.config.probe_timeout)),
                            Err(e) => break Outcome::Lost(Cause::Dropped, format!("the liveness probe failed: {e}")),
                        }
                    }
                }
                command = self.commands.recv() => match command {
                    Some(LinkCommand::Resume) => continue,
                    Some(command) => break Outcome::Command(command),
                    None => break Outcome::Stop,
                },
                // The network came back: this connection lived through an
                // outage unprobed, so make a fresh one now.
                () = online_changed(&mut self.online) => {
                    if *self.online.borrow() {
                        break Outcome::Command(LinkCommand::NetworkUp);
                    }
                }
            }
        };
        // Stale callbacks of this client are dropped from here on.
        self.current.fetch_add(1, Ordering::AcqRel);
        close(&client).await;
        outcome
    }
}

/// Ready when `online` changes; never, once its sender is gone (the engine
/// is ending, or there is no OS monitor).
async fn online_changed(online: &mut watch::Receiver<bool>) {
    if online.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
