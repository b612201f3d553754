//! The HTTP API: routes, and the layers every request passes.

mod auth;
mod event;
pub mod extract;
mod notification;

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;
use extract::Json;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route(
            "/api/auth/push-subscription",
            post(auth::subscribe_push).delete(auth::unsubscribe_push),
        )
        .route("/api/push/vapid-public-key", get(auth::vapid_public_key))
        .route("/api/notifications", get(notification::catch_up))
        .route("/api/notifications/read", post(notification::mark_read))
        .route("/api/notifications/test", post(notification::self_test))
        .route("/api/events", post(event::emit))
        .route("/healthz", get(health))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let last_id = state
        .db
        .call(|conn| crate::store::event::last_id(conn))
        .await?;
    let stats = state.hub.stats();
    Ok(Json(serde_json::json!({
        "status": "ok",
        "lastEventId": last_id,
        "sockets": state.io.sockets().len(),
        "eventsStored": stats.stored.load(Ordering::Relaxed),
        "emitFailures": stats.emit_failures.load(Ordering::Relaxed),
    })))
}
