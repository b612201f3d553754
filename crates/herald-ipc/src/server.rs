//! The agent's side of the socket: accepts front-ends, answers their calls,
//! and pushes status and history updates to those who subscribed.
//!
//! Each connection is one task that ends when its peer leaves or the
//! server's shutdown fires. Every bound is a stated number: at most
//! [`MAX_CONNECTIONS`] peers, [`MAX_IN_FLIGHT`] calls under way per peer,
//! [`MAX_REQUEST_LINE`] bytes a line. A peer that breaks the protocol gets one
//! error line saying how, and is dropped; the others never notice.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use herald_core::engine::InboxUpdate;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::service::Service;
use crate::transport::{BoxStream, Listener, Peer};
use crate::view::{InboxEvent, StatusView};
use crate::wire::{Call, MAX_REQUEST_LINE, Outgoing, WireError, kind, parse_request, push};

/// Front-ends connected at once: a window, a few CLIs, and room to spare.
pub const MAX_CONNECTIONS: usize = 64;
/// Calls one peer may have under way at once (the doctor takes seconds).
pub const MAX_IN_FLIGHT: usize = 16;
/// How long a refusal waits for the peer to take its one error line.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);

/// See the module documentation.
#[derive(Debug)]
pub struct Server {
    service: Arc<Service>,
    windows: Arc<AtomicUsize>,
    slots: Arc<Semaphore>,
}

impl Server {
    pub fn new(service: Service) -> Server {
        Server {
            service: Arc::new(service),
            windows: Arc::default(),
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// Peers that subscribed to `open` (windows): when there is none, a
    /// "View Details" click has to start one.
    pub fn windows(&self) -> usize {
        self.windows.load(Ordering::SeqCst)
    }

    /// Serves until `shutdown` completes, then ends every connection and
    /// waits for their tasks.
    pub async fn run(&self, mut listener: Listener, shutdown: impl Future<Output = ()>) {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and the like: wait a moment rather than spin.
                        tracing::warn!(error = %e, "cannot accept a front-end");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            if let Peer::Foreign(uid) = peer {
                tracing::warn!(uid, "refused a connection from another user");
                tasks.spawn(refuse(
                    stream,
                    WireError::new(
                        kind::FORBIDDEN,
                        "this Herald agent belongs to another user; it answers only its own user",
                    ),
                ));
                continue;
            }
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                tracing::warn!(MAX_CONNECTIONS, "too many front-ends; refused one");
                tasks.spawn(refuse(
                    stream,
                    WireError::new(
                        kind::BUSY,
                        format!("the agent serves at most {MAX_CONNECTIONS} front-ends at once"),
                    ),
                ));
                continue;
            };
            let connection = Connection {
                service: self.service.clone(),
                windows: self.windows.clone(),
                cancel: cancel.child_token(),
            };
            tasks.spawn(async move {
                connection.serve(stream).await;
                drop(slot);
            });
        }
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
    }
}

type Lines = FramedWrite<tokio::io::WriteHalf<BoxStream>, LinesCodec>;

async fn refuse(stream: BoxStream, error: WireError) {
    let (_, write) = tokio::io::split(stream);
    let mut sink = FramedWrite::new(write, LinesCodec::new());
    let line = encode(&Outgoing::Err { id: None, error });
    let _ = tokio::time::timeout(REFUSAL_GRACE, sink.send(line)).await;
}

fn encode(frame: &Outgoing) -> String {
    serde_json::to_string(frame).unwrap_or_else(|e| {
        format!(r#"{{"id":null,"error":{{"kind":"internal","message":"cannot encode: {e}"}}}}"#)
    })
}

/// Counts a window while it is subscribed to `open`.
struct WindowGuard(Arc<AtomicUsize>);

impl Drop for WindowGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Subscription {
    status: tokio::sync::watch::Receiver<herald_core::status::Status>,
    updates: tokio::sync::broadcast::Receiver<InboxUpdate>,
    /// Held while this peer gets `open` pushes (a window).
    window: Option<WindowGuard>,
}

enum Step {
    Line(Option<Result<String, LinesCodecError>>),
    Frame(Outgoing),
}

struct Connection {
    service: Arc<Service>,
    windows: Arc<AtomicUsize>,
    cancel: CancellationToken,
}

impl Connection {
    async fn serve(self, stream: BoxStream) {
        let (read, write) = tokio::io::split(stream);
        let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_REQUEST_LINE));
        let mut sink = FramedWrite::new(write, LinesCodec::new());
        let (replies_tx, mut replies) = mpsc::channel::<Outgoing>(MAX_IN_FLIGHT);
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut subscription: Option<Subscription> = None;
        let calls = TaskTracker::new();
        loop {
            let step = tokio::select! {
                _ = self.cancel.cancelled() => break,
                line = lines.next() => Step::Line(line),
                Some(reply) = replies.recv() => Step::Frame(reply),
                Some(frame) = next_push(&mut subscription) => Step::Frame(frame),
            };
            let frame = match step {
                Step::Frame(frame) => frame,
                Step::Line(None | Some(Err(LinesCodecError::Io(_)))) => break,
                Step::Line(Some(Err(LinesCodecError::MaxLineLengthExceeded))) => {
                    let error = WireError::new(
                        kind::TOO_LARGE,
                        format!("a request line is at most {MAX_REQUEST_LINE} bytes"),
                    );
                    let _ = self
                        .send(&mut sink, Outgoing::Err { id: None, error })
                        .await;
                    break;
                }
                Step::Line(Some(Ok(line))) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match self.request(&line, &in_flight, &replies_tx, &calls, &mut subscription) {
                        Ok(Some(frame)) => frame,
                        Ok(None) => continue,
                        Err(fatal) => {
                            let _ = self.send(&mut sink, fatal).await;
                            break;
                        }
                    }
                }
            };
            if self.send(&mut sink, frame).await.is_err() {
                break;
            }
        }
        // Calls under way end with the connection: their answers have no one to go to.
        self.cancel.cancel();
        calls.close();
        calls.wait().await;
    }

    /// Handles one request line: `Ok(Some)` is an answer to write now,
    /// `Ok(None)` an answer that comes later, `Err` a frame error that ends
    /// the connection.
    fn request(
        &self,
        line: &str,
        in_flight: &Arc<Semaphore>,
        replies: &mpsc::Sender<Outgoing>,
        calls: &TaskTracker,
        subscription: &mut Option<Subscription>,
    ) -> Result<Option<Outgoing>, Outgoing> {
        let request = parse_request(line).map_err(|(id, error)| Outgoing::Err { id, error })?;
        let id = request.id;
        let fail = |error| {
            Ok(Some(Outgoing::Err {
                id: Some(id),
                error,
            }))
        };
        if let Err(e) = self.service.account(request.account.as_deref()) {
            return fail(e);
        }
        let Some(call) = Call::parse(&request.call) else {
            return fail(WireError::new(
                kind::UNKNOWN_CALL,
                format!("this agent has no call {:?}", request.call),
            ));
        };
        if call == Call::Subscribe {
            let open = request
                .args
                .get("open")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let controller = &self.service.controller;
            let status = controller.status();
            let current = StatusView::from(status.borrow().clone());
            // A subscription replaces the previous one: a window stays
            // counted once, and one that no longer asks for `open` is not.
            let previous = subscription.take().and_then(|s| s.window);
            let window = open.then(|| {
                previous.unwrap_or_else(|| {
                    self.windows.fetch_add(1, Ordering::SeqCst);
                    WindowGuard(self.windows.clone())
                })
            });
            *subscription = Some(Subscription {
                status,
                updates: controller.updates(),
                window,
            });
            return Ok(Some(match serde_json::to_value(current) {
                Ok(ok) => Outgoing::Ok { id, ok },
                Err(e) => Outgoing::Err {
                    id: Some(id),
                    error: WireError::internal(e),
                },
            }));
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            return fail(WireError::new(
                kind::BUSY,
                format!("at most {MAX_IN_FLIGHT} calls at once on one connection"),
            ));
        };
        let service = self.service.clone();
        let replies = replies.clone();
        let cancel = self.cancel.clone();
        calls.spawn(async move {
            let answer = tokio::select! {
                answer = service.call(call, request.args) => answer,
                _ = cancel.cancelled() => return,
            };
            let frame = match answer {
                Ok(ok) => Outgoing::Ok { id, ok },
                Err(error) => Outgoing::Err {
                    id: Some(id),
                    error,
                },
            };
            let _ = replies.send(frame).await;
            drop(permit);
        });
        Ok(None)
    }

    /// Writes one frame, unless the connection is being torn down (a peer
    /// that stopped reading must not hold up the shutdown).
    async fn send(&self, sink: &mut Lines, frame: Outgoing) -> Result<(), ()> {
        tokio::select! {
            sent = sink.send(encode(&frame)) => sent.map_err(drop),
            _ = self.cancel.cancelled() => Err(()),
        }
    }
}

/// The next push for a subscribed peer; pending forever without a subscription.
async fn next_push(subscription: &mut Option<Subscription>) -> Option<Outgoing> {
    let Some(sub) = subscription.as_mut() else {
        return std::future::pending().await;
    };
    let window = sub.window.is_some();
    loop {
        tokio::select! {
            changed = sub.status.changed() => {
                if changed.is_err() {
                    return std::future::pending().await;
                }
                let status = sub.status.borrow_and_update().clone();
                return Some(push_frame(push::STATUS, StatusView::from(status)));
            }
            update = sub.updates.recv() => match update {
                Ok(InboxUpdate::Open { item, url }) => {
                    if window {
                        let open = crate::view::OpenEvent { item: *item, url };
                        return Some(push_frame(push::OPEN, open));
                    }
                }
                Ok(update) => {
                    if let Some(event) = InboxEvent::from_update(update) {
                        return Some(push_frame(push::INBOX, event));
                    }
                }
                // A slow reader missed some: it reloads instead.
                Err(RecvError::Lagged(_)) => return Some(push_frame(push::INBOX, InboxEvent::Reset)),
                Err(RecvError::Closed) => return std::future::pending().await,
            },
        }
    }
}

fn push_frame<T: serde::Serialize>(name: &'static str, data: T) -> Outgoing {
    match serde_json::to_value(data) {
        Ok(data) => Outgoing::Push { push: name, data },
        Err(e) => Outgoing::Err {
            id: None,
            error: WireError::internal(e),
        },
    }
}
