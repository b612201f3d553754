//! REST request and response bodies. JSON field names are camelCase.

use serde::{Deserialize, Serialize};

use crate::event::{Envelope, Severity};

/// A user as the server describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(role: &str) -> Option<Role> {
        match role {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// `POST /api/auth/login`.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The answer to a login or a refresh. The seed's server sends only `token`
/// and `user`, so everything else is optional for a client to read.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 3339 expiry of `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Identifies this login in the `login_notification` it fans out, so the
    /// device that logged in can recognise its own login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("login_id", &self.login_id)
            .field("user", &self.user)
            .finish()
    }
}

/// `POST /api/auth/refresh` and `POST /api/auth/logout`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest { refresh_token: <redacted> }")
    }
}

/// A browser push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    pub endpoint: String,
    pub keys: PushKeys,
}

/// Base64url (unpadded) keys of a push subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// `DELETE /api/auth/push-subscription`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushUnsubscribe {
    pub endpoint: String,
}

/// `GET /api/push/vapid-public-key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VapidPublicKey {
    /// Base64url (unpadded) uncompressed P-256 point: the browser's
    /// `applicationServerKey`.
    pub public_key: String,
}

/// Query of `GET /api/notifications`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct CatchUpQuery {
    #[serde(default)]
    pub after: u64,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One page of catch-up, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatchUpPage {
    pub items: Vec<CatchUpItem>,
    pub has_more: bool,
}

/// An event as catch-up returns it: the envelope plus this user's read state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatchUpItem {
    #[serde(flatten)]
    pub event: Envelope,
    #[serde(default)]
    pub read: bool,
}

/// `POST /api/notifications/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadRequest {
    pub ids: Vec<u64>,
    /// `false` marks them unread again.
    #[serde(default = "yes")]
    pub read: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadResponse {
    pub updated: u64,
}

/// Who an event is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `{"user": 42}`: the room `user_42`.
    User(u64),
    /// `{"room": "admin"}`: a named room. Only `admin` exists.
    Room(String),
    /// `{"all": true}`: everyone.
    All(bool),
}

/// `POST /api/events` (admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmitRequest {
    pub to: Target,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmitResponse {
    pub id: u64,
}

/// `POST /api/events` with an array of [`EmitRequest`]: the stored ids, in
/// the order of the array (and increasing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmitBatchResponse {
    pub ids: Vec<u64>,
}

/// `POST /api/notifications/test`: the ids of the events sent to the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfTestResponse {
    pub ids: Vec<u64>,
}

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_use_the_documented_shapes() {
        let cases = [
            (json!({"user": 42}), Target::User(42)),
            (json!({"room": "admin"}), Target::Room("admin".into())),
            (json!({"all": true}), Target::All(true)),
        ];
        for (value, target) in cases {
            let parsed: Target =
                serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed, target);
            assert_eq!(serde_json::to_value(&target).unwrap_or_default(), value);
        }
    }

    #[test]
    fn seed_login_response_is_accepted() {
        let seed =
            json!({"token": "t", "user": {"id": 1, "email": "a@b", "name": "A", "role": "user"}});
        let parsed: TokenResponse = serde_json::from_value(seed).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.refresh_token.is_none());
        assert!(!format!("{parsed:?}").contains("\"t\""));
    }

    #[test]
    fn catch_up_item_flattens_the_envelope() {
        let item = json!({"id": 3, "type": "notification", "title": "T", "message": "M",
            "createdAt": "2026-01-01T00:00:00Z", "data": {}, "read": true});
        let parsed: CatchUpItem = serde_json::from_value(item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.event.id, 3);
        assert!(parsed.read);
    }
}
