//! Errors: what the HTTP API answers, and what stops the server.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_proto::api::{ErrorBody, ErrorDetail};

use crate::hub::HubError;
use crate::store::StoreError;

/// The error code of a request that needed the database when it could not
/// be reached.
pub const DATABASE_UNAVAILABLE: &str = "database_unavailable";
/// What a 503 `database_unavailable` asks to wait: 5 s, the pool's wait.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

/// An error answer of the HTTP API: a status and `{"error": {"code", "message"}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    BadRequest(String),
    /// A 400 with its own code, e.g. `email_too_long`.
    #[error("{message}")]
    BadInput { code: &'static str, message: String },
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// A 413 with its own code and limit, e.g. `too_many_events`.
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("this needs an admin account")]
    Forbidden,
    #[error("no such route")]
    NotFound,
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A 409: the request clashes with what is stored.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many failed logins; retry in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    /// A 429 `too_many_requests` for something other than logins.
    #[error("{what}; retry in {retry_after} s")]
    Throttled { what: String, retry_after: u64 },
    #[error("the server is busy; retry in {retry_after} s")]
    Busy { retry_after: u64 },
    /// A 503 `database_unavailable`: nothing was stored or read.
    #[error("the database cannot be reached; retry in {DATABASE_RETRY_AFTER_SECS} s")]
    DatabaseUnavailable,
    #[error("the request took too long to arrive or to answer")]
    RequestTimeout,
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// Any other error status a layer produced without a JSON body.
    #[error("the request failed ({0})")]
    Status(StatusCode),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn bad_input(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadInput {
            code,
            message: message.into(),
        }
    }

    /// The JSON form of an error status some layer answered in another form.
    pub fn from_status(status: StatusCode) -> ApiError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            other => ApiError::Status(other),
        }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::BadInput { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::TooLarge { code, .. } => (StatusCode::PAYLOAD_TOO_LARGE, code),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::TooManyRequests { .. } | ApiError::Throttled { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::DatabaseUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE)
            }
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Status(status) => (*status, "http_error"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "the database is unavailable");
                ApiError::DatabaseUnavailable
            }
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> ApiError {
        match e {
            HubError::Store(store) if matches!(*store, StoreError::Unavailable(_)) => {
                tracing::warn!(detail = %store, "the database is unavailable");
                ApiError::DatabaseUnavailable
            }
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            // The detail is for the operator, not the caller.
            tracing::error!(%detail, "internal error answering a request");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.to_string(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests { retry_after }
            | ApiError::Throttled { retry_after, .. }
            | ApiError::Busy { retry_after } => Some(retry_after),
            ApiError::DatabaseUnavailable => Some(DATABASE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(retry_after) = retry_after
            && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] crate::token::SecretError),
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error(transparent)]
    GeoIp(#[from] crate::login_info::GeoIpError),
    #[error("invalid input: {0}")]
    Input(String),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}
