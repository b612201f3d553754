//! Timestamps keyed by event id, and the tracing layer that takes them at
//! the hub's emit and at the engine's Socket.IO handler.
//!
//! herald-server and herald-core each mark those two points with a trace
//! event on a target of its own (`herald_server::hub::emit`,
//! `herald_core::link::received`); this layer is the only subscriber that
//! enables them, so outside the bench they cost nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;

use crate::clock::now_ns;

pub const EMIT_TARGET: &str = "herald_server::hub::emit";
pub const RECEIVED_TARGET: &str = "herald_core::link::received";

/// When each event id reached one point of the path.
#[derive(Debug, Default)]
pub struct Marks {
    at: Mutex<HashMap<u64, u64>>,
    changed: Notify,
}

impl Marks {
    pub fn new() -> Arc<Marks> {
        Arc::new(Marks::default())
    }

    /// Records the first time `id` was seen.
    pub fn mark(&self, id: u64, at: u64) {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_insert(at);
        self.changed.notify_waiters();
    }

    pub fn get(&self, id: u64) -> Option<u64> {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
    }

    /// Waits until `id` is marked; `None` on timeout.
    pub async fn wait(&self, id: u64, timeout: Duration) -> Option<u64> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if let Some(at) = self.get(id) {
                return Some(at);
            }
            let step = Duration::from_millis(5);
            if tokio::time::timeout(step, changed).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return self.get(id);
            }
        }
    }
}

/// The marks this process's tracing layer fills in.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub emitted: Arc<Marks>,
    pub received: Arc<Marks>,
}

impl Probe {
    /// The layer, filtered to the two targets (at trace level, which no
    /// other subscriber of this process enables).
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let targets = Targets::new()
            .with_target(EMIT_TARGET, tracing::Level::TRACE)
            .with_target(RECEIVED_TARGET, tracing::Level::TRACE);
        ProbeLayer(self.clone()).with_filter(targets)
    }
}

struct ProbeLayer(Probe);

struct IdVisitor(Option<u64>);

impl Visit for IdVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "id" {
            self.0 = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "id" {
            self.0 = u64::try_from(value).ok();
        }
    }

    // An `Option<u64>` field is recorded as its value, or not at all.
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for ProbeLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let at = now_ns();
        let mut id = IdVisitor(None);
        event.record(&mut id);
        let Some(id) = id.0 else { return };
        match event.metadata().target() {
            EMIT_TARGET => self.0.emitted.mark(id, at),
            RECEIVED_TARGET => self.0.received.mark(id, at),
            _ => {}
        }
    }
}
