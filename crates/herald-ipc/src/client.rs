//! A front-end's side of the socket: calls with replies matched by id, and
//! the pushes of a subscription.
//!
//! One reader task and one writer task per connection; both end when the
//! agent goes away or the last [`Client`] handle is dropped. Then every call
//! still waiting fails with [`kind::AGENT_UNAVAILABLE`] and [`Client::closed`]
//! completes, which is how a window learns that the agent died.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};
use tokio_util::sync::CancellationToken;

use crate::endpoint::Endpoint;
use crate::transport;
use crate::wire::{Call, MAX_REPLY_LINE, Request, VERSION, WireError, kind};

/// A push from the agent: `status`, `inbox` or `open`, with its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub name: String,
    pub data: Value,
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Value, WireError>>>>;

#[derive(Debug)]
struct Inner {
    next_id: AtomicU64,
    pending: Pending,
    pushes: Mutex<Option<mpsc::Sender<Push>>>,
    out: mpsc::Sender<String>,
    closed: CancellationToken,
    /// Why the agent ended the connection, if it said.
    last_error: Mutex<Option<WireError>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

/// A connection to the agent; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

fn gone(message: impl Into<String>) -> WireError {
    WireError::new(kind::AGENT_UNAVAILABLE, message)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    /// Connects to the agent of `endpoint`; fails at once when none listens.
    pub async fn connect(endpoint: &Endpoint) -> Result<Client, WireError> {
        let stream = transport::connect(endpoint).await.map_err(|e| {
            gone(format!(
                "Herald's agent is not running ({}: {e})",
                endpoint.socket.display()
            ))
        })?;
        let (read, write) = tokio::io::split(stream);
        let (out, mut out_rx) = mpsc::channel::<String>(64);
        let inner = Arc::new(Inner {
            next_id: AtomicU64::new(1),
            pending: Mutex::default(),
            pushes: Mutex::default(),
            out,
            closed: CancellationToken::new(),
            last_error: Mutex::default(),
        });
        let closed = inner.closed.clone();
        tokio::spawn(async move {
            let mut sink = FramedWrite::new(write, LinesCodec::new());
            loop {
                let line = tokio::select! {
                    _ = closed.cancelled() => break,
                    line = out_rx.recv() => match line { Some(line) => line, None => break },
                };
                if sink.send(line).await.is_err() {
                    break;
                }
            }
            closed.cancel();
        });
        let weak = Arc::downgrade(&inner);
        let closed = inner.closed.clone();
        tokio::spawn(async move {
            let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_REPLY_LINE));
            loop {
                let line = tokio::select! {
                    _ = closed.cancelled() => break,
                    line = lines.next() => match line { Some(Ok(line)) => line, _ => break },
                };
                let Some(inner) = weak.upgrade() else { break };
                inner.take(&line).await;
            }
            closed.cancel();
            if let Some(inner) = weak.upgrade() {
                inner.fail_all();
            }
        });
        Ok(Client { inner })
    }

    /// Calls `call` with `args` and decodes the answer.
    pub async fn call<T: DeserializeOwned>(&self, call: Call, args: Value) -> Result<T, WireError> {
        let value = self.call_named(call.as_str(), args).await?;
        serde_json::from_value(value).map_err(|e| {
            WireError::internal(format!(
                "the agent's answer to `{call}` is not understood: {e}"
            ))
        })
    }

    /// Calls by name, with the answer as JSON (the window forwards it as it is).
    pub async fn call_named(&self, call: &str, args: Value) -> Result<Value, WireError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let request = Request {
            v: VERSION,
            id,
            call: call.to_owned(),
            args,
            account: None,
        };
        let line = serde_json::to_string(&request).map_err(WireError::internal)?;
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.pending).insert(id, tx);
        if self.inner.out.send(line).await.is_err() {
            lock(&self.inner.pending).remove(&id);
            return Err(self.inner.why_gone());
        }
        match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(self.inner.why_gone()),
        }
    }

    /// Subscribes to pushes; answers the status as it is now. With `open`,
    /// this client also gets `open` pushes ("View Details" was clicked): a
    /// window asks for them, a CLI does not.
    pub async fn subscribe(&self, open: bool) -> Result<(Value, mpsc::Receiver<Push>), WireError> {
        let (tx, rx) = mpsc::channel(256);
        *lock(&self.inner.pushes) = Some(tx);
        let status = self
            .call_named(
                Call::Subscribe.as_str(),
                serde_json::json!({ "open": open }),
            )
            .await?;
        Ok((status, rx))
    }

    /// Completes when the connection has ended (the agent stopped or died).
    pub async fn closed(&self) {
        self.inner.closed.clone().cancelled_owned().await;
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }
}

impl Inner {
    async fn take(&self, line: &str) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            tracing::warn!("the agent sent a line that is not JSON");
            return;
        };
        if let Some(name) = value.get("push").and_then(Value::as_str) {
            let push = Push {
                name: name.to_owned(),
                data: value.get("data").cloned().unwrap_or(Value::Null),
            };
            let tx = lock(&self.pushes).clone();
            if let Some(tx) = tx {
                // Waiting here slows the agent down for this client only.
                let _ = tx.send(push).await;
            }
            return;
        }
        let error = value
            .get("error")
            .and_then(|e| serde_json::from_value::<WireError>(e.clone()).ok());
        match value.get("id").and_then(Value::as_u64) {
            Some(id) => {
                let Some(tx) = lock(&self.pending).remove(&id) else {
                    return;
                };
                let answer = match error {
                    Some(error) => Err(error),
                    None => Ok(value.get("ok").cloned().unwrap_or(Value::Null)),
                };
                let _ = tx.send(answer);
            }
            // An error for no request: the agent is closing this connection.
            None => *lock(&self.last_error) = error,
        }
    }

    fn why_gone(&self) -> WireError {
        lock(&self.last_error)
            .clone()
            .unwrap_or_else(|| gone("Herald's agent stopped"))
    }

    fn fail_all(&self) {
        let why = self.why_gone();
        for (_, tx) in lock(&self.pending).drain() {
            let _ = tx.send(Err(why.clone()));
        }
        lock(&self.pushes).take();
    }
}
