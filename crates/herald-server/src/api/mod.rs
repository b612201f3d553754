//! The HTTP API: routes, and the layers every request passes.

mod auth;
mod event;
pub mod extract;
mod notification;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;
use extract::Json;

// The checks a request body meets before anything is stored or hashed, as
// pure functions: the fuzz targets (fuzz/) drive them with arbitrary bodies.
pub use auth::{MAX_EMAIL, login_email, logout_refresh_token};
pub use event::{
    MAX_BATCH, MAX_BATCH_BODY, MAX_MESSAGE, MAX_TITLE, MAX_URL, parse_batch as parse_event_batch,
    validate as validate_event,
};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let request_timeout = state.config.http.request_timeout;
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
        .route(
            "/api/events",
            // A batch needs more room than the default; a single event
            // still gets MAX_BODY (the handler checks it).
            post(event::emit).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route("/healthz", get(health))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(request_timeout, time_limit))
        .layer(middleware::from_fn(json_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers 408 when a request (its body included) is not answered in time.
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// Turns an error answer some layer or extractor made in another form (a
/// plain-text 413, an empty 405) into `{"error": {code, message}}`.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let mut answer = ApiError::from_status(status).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

/// The node's state. 200 when its database answers; otherwise 503 with
/// `database.reachable: false`, the reason, and the `database_unavailable`
/// error a load balancer or an operator can read.
async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let backend = state.db.backend_name();
    let answered = match state.db.ping().await {
        Ok(()) => state.db.last_event_id().await,
        Err(e) => Err(e),
    };
    let last_id = match answered {
        Ok(last_id) => last_id,
        Err(e) => {
            let body = serde_json::json!({
                "status": "unavailable",
                "database": { "backend": backend, "reachable": false, "reason": e.to_string() },
                "error": {
                    "code": crate::error::DATABASE_UNAVAILABLE,
                    "message": format!("the {backend} database cannot be reached: {e}"),
                },
            });
            let mut response =
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(crate::error::DATABASE_RETRY_AFTER_SECS),
            );
            return Ok(response);
        }
    };
    let stats = state.hub.stats();
    Ok(Json(serde_json::json!({
        "status": "ok",
        "database": { "backend": backend, "reachable": true },
        "lastEventId": last_id,
        "sockets": state.io.sockets().len(),
        "socketHandshakes": state.socket_handshakes.load(Ordering::Relaxed),
        "eventsStored": stats.stored.load(Ordering::Relaxed),
        "emitFailures": stats.emit_failures.load(Ordering::Relaxed),
        "loginThrottleKeys": state.limiter.tracked_keys(),
        "loginAlerts": state.fanout.snapshot(),
        "cluster": state.cluster.as_ref().map(crate::cluster::Cluster::snapshot),
    }))
    .into_response())
}
