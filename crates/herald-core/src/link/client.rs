//! The rust_socketio client: its callbacks, the probe, and error parsing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use herald_proto::socket::{ConnectErrorCode, names};
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::supervisor::Signal;
use super::{LinkEvent, Relay};
use crate::net::{Net, NetError};

/// A client of `net`'s server: a WebSocket to the server with `net`'s
/// one TLS connector (the platform's store and the account's CA), or, when a
/// proxy applies, to `net`'s loopback tunnel, which carries it through the
/// proxy and does that TLS itself (`net/tunnel.rs`; see ARCHITECTURE.md).
pub(super) fn client_builder(
    net: &Net,
    token: &str,
    relay: Relay,
    signals: mpsc::UnboundedSender<Signal>,
) -> Result<ClientBuilder, NetError> {
    let url = net.socket_url()?;
    let direct_tls = url.starts_with("https:");
    let mut builder = ClientBuilder::new(url).transport_type(TransportType::Websocket);
    if direct_tls {
        builder = builder.tls_config(net.tls()?);
    }
    let (s1, s2, s3) = (signals.clone(), signals.clone(), signals);
    let (g1, g2, g3) = (relay.clone(), relay.clone(), relay.clone());
    Ok(builder
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
        }))
}

/// Turns a received Socket.IO event into a [`LinkEvent`]; decoding of the
/// payload itself is the engine's job, off the receive loop.
pub(super) fn link_event(event: Event, payload: Payload) -> Option<LinkEvent> {
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
    // herald-bench's "emit → socket handler" latency ends here (its own
    // subscriber enables this target; otherwise the fields are not evaluated).
    tracing::trace!(target: "herald_core::link::received", id = payload.get("id").and_then(serde_json::Value::as_u64), "event received");
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

pub(super) async fn send_probe(
    client: &Client,
    timeout: Duration,
) -> Result<oneshot::Receiver<()>, String> {
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
pub(super) async fn close(client: &Client) {
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
