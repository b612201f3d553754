//! `POST /api/events`: an admin emits an event to a user, the admin room, or everyone.

use axum::extract::State;
use axum::http::StatusCode;
use herald_proto::api::{EmitRequest, EmitResponse, Target};
use herald_proto::{EventType, Severity};

use super::extract::{AdminUser, Json};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::event::{ADMIN_ROOM, Audience, NewEvent};

pub const MAX_TITLE: usize = 200;
pub const MAX_MESSAGE: usize = 4000;
pub const MAX_URL: usize = 2048;

pub async fn emit(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Json(body): Json<EmitRequest>,
) -> Result<(StatusCode, Json<EmitResponse>), ApiError> {
    let event = validate(body)?;
    if let Audience::User(id) = event.audience
        && state.db.find_user_by_id(id).await?.is_none()
    {
        return Err(ApiError::invalid(
            "unknown_user",
            format!("no user with id {id}"),
        ));
    }
    let stored = state.hub.publish(event).await.map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(EmitResponse { id: stored.id })))
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
