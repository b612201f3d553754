//! A minimal Socket.IO client: Engine.IO v4 / Socket.IO v5 text framing over
//! a raw WebSocket. It answers pings and counts events, nothing more, so one
//! process can hold 10,000 sockets, and it is the floor the real clients are
//! measured against.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::clock::now_ns;

/// Where every socket of a run reports its events: `(key, arrival)` where
/// the key is the first number after `"<key>":` in the event, e.g. the
/// envelope's `id`, or the bench's own `seq` in `data`.
#[derive(Debug)]
pub struct Sink {
    key: String,
    arrivals: Mutex<Vec<(u64, u64)>>,
    changed: Notify,
    pub closed: AtomicU64,
}

impl Sink {
    pub fn new(key: &str) -> Arc<Sink> {
        Arc::new(Sink {
            key: format!("\"{key}\":"),
            arrivals: Mutex::new(Vec::new()),
            changed: Notify::new(),
            closed: AtomicU64::new(0),
        })
    }

    fn deliver(&self, frame: &str) {
        let at = now_ns();
        let Some(key) = number_after(frame, &self.key) else {
            return;
        };
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key, at));
        self.changed.notify_waiters();
    }

    /// Events with a key received since the last [`Sink::drain`].
    pub fn count(&self) -> u64 {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u64
    }

    /// Takes every arrival recorded so far; the count starts again at zero.
    pub fn drain(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.arrivals.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until at least `n` events arrived; false on timeout.
    pub async fn wait_count(&self, n: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if self.count() >= n {
                return true;
            }
            // Bounded waits, so a notification between the check and the
            // wait costs at most this long.
            let step = Duration::from_millis(5);
            if tokio::time::timeout(step, changed).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return self.count() >= n;
            }
        }
    }
}

/// The decimal number right after the first `needle` in `text`.
pub fn number_after(text: &str, needle: &str) -> Option<u64> {
    let start = text.find(needle)? + needle.len();
    let digits: &str = &text[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Connects to `addr` (`host:port`) with `auth: {token}` and serves the
/// socket until it closes or the task is aborted. Returns once the server
/// accepted the Socket.IO CONNECT.
pub async fn connect(
    addr: &str,
    token: &str,
    sink: Arc<Sink>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    // Small buffers: what arrives is a few hundred bytes at a time, and
    // 10,000 sockets must not cost the load generator gigabytes.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .with_context(|| format!("cannot open a WebSocket to {addr}"))?;
    let open = next_text(&mut ws).await?;
    if !open.starts_with('0') {
        bail!("expected an Engine.IO OPEN packet, got {open:?}");
    }
    let auth = serde_json::json!({ "token": token });
    ws.send(Message::text(format!("40{auth}"))).await?;
    loop {
        let frame = next_text(&mut ws).await?;
        if frame.starts_with("40") {
            break;
        }
        if frame.starts_with("44") {
            bail!("the server refused the socket: {frame}");
        }
        if frame == "2" {
            ws.send(Message::text("3")).await?;
        }
    }
    Ok(tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let text = text.as_str();
            if text == "2" {
                if ws.send(Message::text("3")).await.is_err() {
                    break;
                }
            } else if text.starts_with("42") {
                sink.deliver(text);
            } else if text.starts_with("41") {
                break;
            }
        }
        sink.closed.fetch_add(1, Ordering::Relaxed);
    }))
}

async fn next_text<S>(ws: &mut S) -> anyhow::Result<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let read = async {
        while let Some(message) = ws.next().await {
            if let Message::Text(text) = message? {
                return Ok(text.as_str().to_owned());
            }
        }
        bail!("the server closed the WebSocket during the handshake")
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .context("no answer to the handshake in 30 s")?
}

#[cfg(test)]
mod tests {
    use super::number_after;

    #[test]
    fn finds_the_first_key() {
        let frame = r#"42["order_update",{"id":17,"data":{"seq":4}}]"#;
        assert_eq!(number_after(frame, "\"id\":"), Some(17));
        assert_eq!(number_after(frame, "\"seq\":"), Some(4));
        assert_eq!(number_after(frame, "\"nope\":"), None);
    }
}
