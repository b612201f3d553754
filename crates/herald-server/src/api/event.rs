//! `POST /api/events`: an admin emits an event to a user, the admin room, or
//! everyone; or, with a JSON array, up to [`MAX_BATCH`] events at once.
//!
//! A batch is all or nothing: every element passes the same checks as a
//! single event (the first that fails is named by its index and nothing is
//! stored), then the hub stores them in one transaction and emits them in
//! id order. One request per event capped an operator's rate at the hub's
//! round trip; a batch pays it once.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_proto::api::{EmitBatchResponse, EmitRequest, EmitResponse, Target};
use herald_proto::{EventType, Severity};
use serde_json::value::RawValue;

use super::MAX_BODY;
use super::extract::{AdminUser, Json, RawBody};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::event::{ADMIN_ROOM, Audience, NewEvent};

pub const MAX_TITLE: usize = 200;
pub const MAX_MESSAGE: usize = 4000;
pub const MAX_URL: usize = 2048;

/// Events one request may carry as an array.
pub const MAX_BATCH: usize = 1000;

/// The body limit of `POST /api/events`: 4 MiB, room for a full batch of
/// typical events. A single object, and each element of an array, stays
/// within [`MAX_BODY`] as before.
pub const MAX_BATCH_BODY: usize = 4 * 1024 * 1024;

pub async fn emit(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    headers: HeaderMap,
    body: Result<RawBody, ApiError>,
) -> Result<Response, ApiError> {
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let RawBody(body) = body.map_err(|e| match e {
        ApiError::PayloadTooLarge => ApiError::TooLarge {
            code: "payload_too_large",
            message: format!(
                "the request body is larger than {} MiB",
                MAX_BATCH_BODY / (1024 * 1024)
            ),
        },
        other => other,
    })?;
    let is_batch = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if !is_batch {
        if body.len() > MAX_BODY {
            return Err(ApiError::PayloadTooLarge);
        }
        let event = validate(parse_one(&body)?)?;
        check_users(&state, std::slice::from_ref(&event), false).await?;
        let stored = state.hub.publish(event).await.map_err(ApiError::from)?;
        return Ok((StatusCode::CREATED, Json(EmitResponse { id: stored.id })).into_response());
    }
    let events = parse_batch(&body)?;
    check_users(&state, &events, true).await?;
    let stored = state
        .hub
        .publish_batch(events)
        .await
        .map_err(ApiError::from)?;
    let ids = stored.iter().map(|e| e.id).collect();
    Ok((StatusCode::CREATED, Json(EmitBatchResponse { ids })).into_response())
}

/// Whether the request says its body is JSON, as `axum::Json` requires:
/// `application/json` or `application/*+json`, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.to_ascii_lowercase().ends_with("+json"))
}

/// One event's JSON, with the same rejections as the `Json` extractor.
fn parse_one(bytes: &[u8]) -> Result<EmitRequest, ApiError> {
    let axum::Json(request) = axum::Json::<EmitRequest>::from_bytes(bytes)?;
    Ok(request)
}

/// Parses and checks every element of a batch; the first bad one rejects
/// the whole batch, named by its index.
pub fn parse_batch(bytes: &[u8]) -> Result<Vec<NewEvent>, ApiError> {
    let axum::Json(elements) = axum::Json::<Vec<Box<RawValue>>>::from_bytes(bytes)?;
    if elements.is_empty() {
        return Err(ApiError::invalid(
            "empty_batch",
            "the array holds no events",
        ));
    }
    if elements.len() > MAX_BATCH {
        return Err(ApiError::TooLarge {
            code: "too_many_events",
            message: format!(
                "the array holds {} events; at most {MAX_BATCH} a request",
                elements.len()
            ),
        });
    }
    elements
        .iter()
        .enumerate()
        .map(|(index, element)| {
            let text = element.get();
            if text.len() > MAX_BODY {
                return Err(ApiError::TooLarge {
                    code: "event_too_large",
                    message: format!("event {index}: larger than {} KiB", MAX_BODY / 1024),
                });
            }
            parse_one(text.as_bytes())
                .and_then(validate)
                .map_err(|e| at_index(index, e))
        })
        .collect()
}

/// The same error, its message prefixed with the element's index.
fn at_index(index: usize, error: ApiError) -> ApiError {
    let message = format!("event {index}: {error}");
    match error {
        ApiError::Invalid { code, .. } => ApiError::Invalid { code, message },
        ApiError::MalformedJson(_) => ApiError::MalformedJson(message),
        ApiError::BadInput { code, .. } => ApiError::BadInput { code, message },
        _ => ApiError::BadRequest(message),
    }
}

/// Refuses events for a user who does not exist; in a batch, names the
/// first such element.
async fn check_users(state: &AppState, events: &[NewEvent], batch: bool) -> Result<(), ApiError> {
    let mut wanted: Vec<(usize, u64)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.audience {
            Audience::User(id) => Some((i, id)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    // One lookup per distinct user, the first element of each kept.
    wanted.sort_by_key(|&(i, id)| (id, i));
    wanted.dedup_by_key(|&mut (_, id)| id);
    let absent: std::collections::HashSet<u64> = state
        .db
        .missing_users(wanted.iter().map(|&(_, id)| id).collect())
        .await?
        .into_iter()
        .collect();
    let missing = wanted.into_iter().filter(|(_, id)| absent.contains(id));
    match missing.min() {
        None => Ok(()),
        Some((index, id)) => {
            let error = ApiError::invalid("unknown_user", format!("no user with id {id}"));
            Err(if batch { at_index(index, error) } else { error })
        }
    }
}

/// Checks an emit request against the contract and turns it into an event.
pub fn validate(body: EmitRequest) -> Result<NewEvent, ApiError> {
    let kind = EventType::parse(&body.kind).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::invalid(
            "unknown_type",
            format!("unknown type {:?}; one of {}", body.kind, known.join(", ")),
        )
    })?;
    let audience = match body.to {
        Target::User(id) => Audience::User(id),
        Target::Room(room) if room == ADMIN_ROOM => Audience::Admins,
        Target::Room(room) => {
            return Err(ApiError::invalid(
                "unknown_room",
                format!("no room {room:?}; only \"admin\""),
            ));
        }
        Target::All(true) => Audience::All,
        Target::All(false) => {
            return Err(ApiError::invalid("invalid_field", "to.all must be true"));
        }
    };
    let title = body.title.trim();
    if title.is_empty() {
        return Err(ApiError::invalid(
            "missing_title",
            "title must not be empty",
        ));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(ApiError::invalid(
            "title_too_long",
            format!("title is longer than {MAX_TITLE} characters"),
        ));
    }
    if body.message.chars().count() > MAX_MESSAGE {
        return Err(ApiError::invalid(
            "message_too_long",
            format!("message is longer than {MAX_MESSAGE} characters"),
        ));
    }
    if let Some(url) = &body.url {
        let ok = url.len() <= MAX_URL
            && (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(char::is_control);
        if !ok {
            return Err(ApiError::invalid(
                "invalid_url",
                "url must be an http(s) URL",
            ));
        }
    }
    let data = match body.data {
        None | Some(serde_json::Value::Null) => serde_json::json!({}),
        Some(data @ serde_json::Value::Object(_)) => data,
        Some(_) => return Err(ApiError::invalid("invalid_field", "data must be an object")),
    };
    Ok(NewEvent {
        audience,
        kind: kind.as_str().to_owned(),
        title: title.to_owned(),
        message: body.message,
        url: body.url,
        severity: Some(body.severity.unwrap_or(Severity::default_for(kind))),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, title: &str) -> EmitRequest {
        EmitRequest {
            to: Target::User(1),
            kind: kind.into(),
            title: title.into(),
            message: "m".into(),
            url: None,
            severity: None,
            data: None,
        }
    }

    #[test]
    fn unknown_types_and_empty_titles_are_refused() {
        assert!(matches!(
            validate(request("hack", "t")),
            Err(ApiError::Invalid {
                code: "unknown_type",
                ..
            })
        ));
        assert!(matches!(
            validate(request("order_update", "  ")),
            Err(ApiError::Invalid {
                code: "missing_title",
                ..
            })
        ));
        let long = "x".repeat(MAX_TITLE + 1);
        assert!(matches!(
            validate(request("order_update", &long)),
            Err(ApiError::Invalid {
                code: "title_too_long",
                ..
            })
        ));
    }

    #[test]
    fn only_http_urls_and_object_data_pass() {
        let mut r = request("notification", "t");
        r.url = Some("javascript:alert(1)".into());
        assert!(matches!(
            validate(r),
            Err(ApiError::Invalid {
                code: "invalid_url",
                ..
            })
        ));
        let mut r = request("notification", "t");
        r.data = Some(serde_json::json!([1, 2]));
        assert!(validate(r).is_err());
        let mut r = request("notification", "t");
        r.url = Some("https://example.com/orders/1".into());
        let event = validate(r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event.severity, Some(Severity::Info));
        assert_eq!(event.data, serde_json::json!({}));
    }
}
