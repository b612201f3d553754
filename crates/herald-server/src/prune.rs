//! The pruning task: what is kept, and for how long.
//!
//! Without it the database only grows: every event, every refresh token a
//! rotation spent and every session ever signed out stay forever. Once at
//! start-up and then every [`Retention::every`], this task deletes
//!
//! - events older than [`Retention::events`] (30 days by default), with
//!   their read marks; a client whose catch-up cursor is older gets what
//!   remains, since ids are never reused;
//! - signed-out sessions, sessions whose refresh tokens all expired, and
//!   refresh tokens (used ones too) past their expiry, each after
//!   [`Retention::grace`]; see [`session::prune`] for why a spent token
//!   is kept until it could no longer have been valid.
//!
//! Events go in batches, each its own transaction, so the hub and the API
//! (which share the one connection) wait at most one batch.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;

use crate::config::Retention;
use crate::store::{Db, StoreError};

/// Events deleted per transaction: 5,000 (a few milliseconds of the lock).
pub const EVENT_BATCH: u32 = 5_000;

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub events: u64,
    pub sessions: u64,
    pub refresh_tokens: u64,
}

/// Prunes once, as of `now`.
pub async fn run_once(
    db: &Db,
    retention: Retention,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    // A retention too long to subtract keeps everything.
    let oldest_kept = chrono::Duration::from_std(retention.events)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // The hub writes `created_at` in this very form, so text order is time
    // order.
    let cutoff = oldest_kept.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut report = Report::default();
    loop {
        let deleted = db.prune_events_before(cutoff.clone(), EVENT_BATCH).await?;
        report.events += deleted;
        if deleted < u64::from(EVENT_BATCH) {
            break;
        }
    }
    let grace = i64::try_from(retention.grace.as_secs()).unwrap_or(i64::MAX);
    let at = now.timestamp();
    let pruned = db.prune_sessions(at, grace).await?;
    report.sessions = pruned.sessions;
    report.refresh_tokens = pruned.refresh_tokens;
    Ok(report)
}

/// Prunes at once and then every `retention.every`, until `stop` is set.
pub async fn run(db: Db, retention: Retention, mut stop: watch::Receiver<bool>) {
    let every = retention.every.max(Duration::from_millis(1));
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let pruned = tokio::select! {
            pruned = run_once(&db, retention, Utc::now()) => pruned,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        match pruned {
            Ok(report) if report == Report::default() => {
                tracing::debug!("pruning found nothing to delete");
            }
            Ok(report) => tracing::info!(
                events = report.events,
                sessions = report.sessions,
                refresh_tokens = report.refresh_tokens,
                "pruned old rows"
            ),
            Err(e) => tracing::error!(error = %e, "cannot prune old rows"),
        }
    }
}
