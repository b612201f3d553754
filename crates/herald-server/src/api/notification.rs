//! `/api/notifications*`: catch-up, read state, and the self-test.

use axum::extract::State;
use herald_proto::api::{CatchUpPage, CatchUpQuery, ReadRequest, ReadResponse, SelfTestResponse};
use herald_proto::socket::names;
use herald_proto::{EventType, Severity};

use super::extract::{AuthUser, Json, Query};
use crate::error::ApiError;
use crate::sample::sample;
use crate::state::AppState;
use crate::store::event::{Audience, NewEvent, user_room};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
const MAX_READ_IDS: usize = 10_000;

/// What this user missed after `after`, oldest first.
pub async fn catch_up(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<CatchUpQuery>,
) -> Result<Json<CatchUpPage>, ApiError> {
    // Ids are SQLite integers: a cursor past i64::MAX names no event.
    if i64::try_from(query.after).is_err() {
        return Err(ApiError::bad_input(
            "invalid_cursor",
            format!("after must be at most {}", i64::MAX),
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let (items, has_more) = state
        .db
        .page_for(user.id, user.is_admin(), query.after, limit)
        .await?;
    Ok(Json(CatchUpPage { items, has_more }))
}

/// Marks events read (or unread) and tells the user's other devices.
pub async fn mark_read(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<ReadRequest>,
) -> Result<Json<ReadResponse>, ApiError> {
    if body.ids.len() > MAX_READ_IDS {
        return Err(ApiError::invalid(
            "too_many_ids",
            format!("at most {MAX_READ_IDS} ids at once"),
        ));
    }
    let updated = state
        .db
        .set_read(user.id, user.is_admin(), body.ids.clone(), body.read)
        .await?;
    if updated > 0 {
        let change = serde_json::json!({ "ids": body.ids, "read": body.read });
        if let Err(e) = state
            .io
            .to(user_room(user.id))
            .emit(names::READ, &change)
            .await
        {
            tracing::debug!(error = %e, "cannot tell other devices of a read change");
        }
    }
    Ok(Json(ReadResponse { updated }))
}

/// Sends the caller one event of each type, like the seed's test panel.
/// Once per user per [`crate::Config::self_test_every`]: it stores six
/// events, so a loop of calls would grow the database without bound.
pub async fn self_test(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SelfTestResponse>, ApiError> {
    if let Err(soon) = state.self_tests.take(user.id, std::time::Instant::now()) {
        if soon.first {
            tracing::warn!(
                user = user.id,
                "self-test called again too soon; refusing (logged once per period)"
            );
        }
        return Err(ApiError::Throttled {
            what: format!(
                "the self-test runs at most once every {} s",
                state.config.self_test_every.as_secs().max(1)
            ),
            retry_after: soon.retry_after_secs(),
        });
    }
    let mut ids = Vec::with_capacity(EventType::ALL.len());
    for (n, kind) in EventType::ALL.into_iter().enumerate() {
        let (title, message, data) = sample(kind, n as u64);
        let event = NewEvent {
            audience: Audience::User(user.id),
            kind: kind.as_str().to_owned(),
            title,
            message,
            url: None,
            severity: Some(Severity::default_for(kind)),
            data,
        };
        let stored = state.hub.publish(event).await.map_err(ApiError::from)?;
        ids.push(stored.id);
    }
    Ok(Json(SelfTestResponse { ids }))
}
