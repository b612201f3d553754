//! A Socket.IO client for tests, on rust_socketio (the library Herald uses).
//!
//! rust_socketio's `connect()` returns before the server accepts, so
//! [`SocketClient::connect`] waits for the `connect` event or a
//! `connect_error` itself.

use std::time::Duration;

use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use tokio::sync::mpsc;

/// What the client saw, in order.
#[derive(Debug, Clone)]
pub enum Seen {
    Connected,
    /// A `connect_error` or transport error, as rust_socketio reports it.
    Error(String),
    Closed,
    Event {
        name: String,
        payload: Value,
    },
}

pub struct SocketClient {
    pub client: Client,
    rx: mpsc::UnboundedReceiver<Seen>,
}

impl SocketClient {
    /// Connects with `auth: { token }` (or no auth when `None`) and returns
    /// once the server has accepted or refused.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<SocketClient, String> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut builder = ClientBuilder::new(url)
            .transport_type(TransportType::Websocket)
            .reconnect(false);
        if let Some(token) = token {
            builder = builder.auth(serde_json::json!({ "token": token }));
        }
        let (t1, t2, t3, t4) = (tx.clone(), tx.clone(), tx.clone(), tx);
        let client = builder
            .on(Event::Connect, move |_, _| {
                let _ = t1.send(Seen::Connected);
                async {}.boxed()
            })
            .on(Event::Error, move |payload, _| {
                let _ = t2.send(Seen::Error(text(&payload)));
                async {}.boxed()
            })
            .on(Event::Close, move |_, _| {
                let _ = t3.send(Seen::Closed);
                async {}.boxed()
            })
            .on_any(move |event, payload, _| {
                let payload = match payload {
                    Payload::Text(mut values) if !values.is_empty() => values.remove(0),
                    _ => Value::Null,
                };
                let _ = t4.send(Seen::Event {
                    name: event.as_str().to_owned(),
                    payload,
                });
                async {}.boxed()
            })
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(super::WAIT, rx.recv()).await {
            Ok(Some(Seen::Connected)) => {}
            Ok(Some(Seen::Error(e))) => return Err(e),
            other => return Err(format!("no connect or connect_error: {other:?}")),
        }
        // CONNECT comes before the socket joins its rooms; herald_ready after.
        match tokio::time::timeout(super::WAIT, rx.recv()).await {
            Ok(Some(Seen::Event { name, .. })) if name == herald_proto::socket::names::READY => {
                Ok(SocketClient { client, rx })
            }
            other => Err(format!("no herald_ready after connect: {other:?}")),
        }
    }

    /// The next event (skipping nothing), or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Seen> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next notification event's payload; panics on timeout.
    pub async fn next_event(&mut self) -> (String, Value) {
        loop {
            match self.next(super::WAIT).await {
                Some(Seen::Event { name, payload }) => return (name, payload),
                Some(Seen::Connected) => continue,
                other => panic!("expected an event, got {other:?}"),
            }
        }
    }

    /// Everything received within `quiet` of silence.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some(s) = self.next(quiet).await {
            seen.push(s);
        }
        seen
    }

    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
    }
}

fn text(payload: &Payload) -> String {
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
        other => format!("{other:?}"),
    }
}

/// The JSON after rust_socketio's "Received an ConnectError frame: " prefix.
pub fn connect_error_payload(error: &str) -> Value {
    let json = error.find('{').map(|i| &error[i..]).unwrap_or(error);
    serde_json::from_str(json).unwrap_or(Value::Null)
}
