//! `/api/auth/*` and the VAPID key: login, refresh, logout, push subscriptions.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use herald_proto::api::{
    LoginRequest, PushSubscription, PushUnsubscribe, RefreshRequest, TokenResponse, User,
    VapidPublicKey,
};
use herald_proto::{EventType, Severity};

use super::extract::{AuthUser, Json, RawBody, bearer};
use crate::config::MAX_PUSH_SUBSCRIPTIONS;
use crate::error::ApiError;
use crate::fanout::LoginAlert;
use crate::login_info::login_info;
use crate::push::EndpointRefused;
use crate::socket::disconnect_session;
use crate::state::AppState;
use crate::store::event::{Audience, NewEvent};
use crate::store::subscription::Saved;
use crate::store::{now_unix, session};
use crate::token::{INVALID_TOKEN, random_token};
use crate::{password, push};

/// Longest email accepted: 254 bytes (RFC 5321's practical limit). A longer
/// one is answered 400 before the limiter or a hash sees it.
pub const MAX_EMAIL: usize = 254;
/// Longest password looked at: 1024 bytes; a longer one is a failed login
/// without a hash.
pub const MAX_PASSWORD: usize = 1024;
/// `Retry-After` of a login refused because every hash slot is taken: 1 s.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let ip = peer.ip();
    let email = login_email(&body)?.to_owned();
    // Reserved before anything is checked: concurrent guesses count at once.
    let attempt = state
        .limiter
        .reserve(ip, &email)
        .await
        .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    if email.is_empty() || body.password.len() > MAX_PASSWORD {
        return Err(ApiError::InvalidCredentials);
    }

    let record = match state.db.find_user_by_email(&email).await {
        Ok(record) => record,
        Err(e) => {
            attempt.not_judged().await;
            return Err(e.into());
        }
    };
    let password = body.password;
    // An unknown email costs a hash too (timing), under the same bound.
    let verified = state
        .hashes
        .run(move || match record {
            Some(record) if password::verify(&password, &record.password_hash) => Some(record.user),
            Some(_) => None,
            None => {
                password::verify_nobody(&password);
                None
            }
        })
        .await;
    let verified = match verified {
        Ok(verified) => verified,
        Err(crate::hash_gate::Busy) => {
            attempt.not_judged().await;
            return Err(ApiError::Busy {
                retry_after: BUSY_RETRY_AFTER_SECS,
            });
        }
    };
    let Some(user) = verified else {
        // The reservation stays: it is this failure.
        drop(attempt);
        return Err(ApiError::InvalidCredentials);
    };
    attempt.succeeded().await;

    let sid = random_token(16);
    let login_id = random_token(12);
    let mut response = start_session(&state, &user, &sid, &login_id).await?;
    response.login_id = Some(login_id.clone());

    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let info = login_info(ip, user_agent, state.geoip.as_deref(), chrono::Utc::now());
    announce_login(&state, &user, &login_id, info).await;
    Ok(Json(response))
}

/// The email a login is judged by: trimmed, and refused (400
/// `email_too_long`) past [`MAX_EMAIL`] bytes before the limiter or a hash
/// sees it. Pure, so it can be fuzzed.
pub fn login_email(body: &LoginRequest) -> Result<&str, ApiError> {
    let email = body.email.trim();
    if email.len() > MAX_EMAIL {
        return Err(ApiError::bad_input(
            "email_too_long",
            format!("an email address has at most {MAX_EMAIL} bytes"),
        ));
    }
    Ok(email)
}

/// Creates the session and its first token pair.
async fn start_session(
    state: &AppState,
    user: &User,
    sid: &str,
    login_id: &str,
) -> Result<TokenResponse, ApiError> {
    let refresh = random_token(32);
    let refresh_expires = now_unix() + state.config.refresh_ttl.as_secs() as i64;
    state.db.create_session(sid, user.id, login_id).await?;
    state
        .db
        .add_refresh_token(sid, &refresh, refresh_expires)
        .await?;
    token_pair(state, user, sid, refresh)
}

fn token_pair(
    state: &AppState,
    user: &User,
    sid: &str,
    refresh: String,
) -> Result<TokenResponse, ApiError> {
    let (token, exp) = state
        .keys
        .issue(user, sid, state.config.access_ttl)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let expires_at = chrono::DateTime::from_timestamp(exp, 0).map(|t| t.to_rfc3339());
    Ok(TokenResponse {
        token,
        refresh_token: Some(refresh),
        expires_at,
        login_id: None,
        user: Some(user.clone()),
    })
}

/// Stores and emits the `login_notification`, then queues push and email.
/// A failure here is logged, never turned into a failed login.
async fn announce_login(
    state: &AppState,
    user: &User,
    login_id: &str,
    info: herald_proto::LoginInfo,
) {
    let event = NewEvent {
        audience: Audience::User(user.id),
        kind: EventType::LoginNotification.as_str().to_owned(),
        title: "New login detected".to_owned(),
        message: format!("Login from {} ({})", info.location, info.device),
        url: None,
        severity: Some(Severity::Critical),
        data: serde_json::json!({ "loginInfo": info, "loginId": login_id }),
    };
    match state.hub.publish(event).await {
        Ok(envelope) => state.fanout.queue(LoginAlert {
            user: user.clone(),
            info,
            envelope,
        }),
        Err(e) => tracing::error!(error = %e, user = user.id, "cannot store the login alert"),
    }
}

pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let token = body.refresh_token;
    let redeemed = state.db.redeem_refresh_token(&token).await?;
    let (sid, user_id) = match redeemed {
        session::Redeemed::Ok {
            session_id,
            user_id,
        } => (session_id, user_id),
        session::Redeemed::Invalid => {
            return Err(ApiError::unauthorized(
                "invalid_refresh_token",
                "the refresh token is not valid; sign in again",
            ));
        }
        session::Redeemed::Reused { session_id } => {
            tracing::warn!("a used refresh token was presented again; its session is revoked");
            // Revoked in the store already; its sockets go too, as on logout.
            close_sockets(&state, &session_id);
            return Err(ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the session is signed out",
            ));
        }
    };
    let record = state.db.find_user_by_id(user_id).await?;
    let user = record
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_refresh_token", "the account no longer exists")
        })?
        .user;
    let refresh = random_token(32);
    let expires = now_unix() + state.config.refresh_ttl.as_secs() as i64;
    state.db.add_refresh_token(&sid, &refresh, expires).await?;
    Ok(Json(token_pair(&state, &user, &sid, refresh)?))
}

/// Disconnects every socket opened under session `sid`, on every node.
fn close_sockets(state: &AppState, sid: &str) {
    let closed = disconnect_session(&state.io, sid);
    tracing::debug!(closed, "disconnected the sockets of a revoked session");
    if let Some(cluster) = &state.cluster {
        cluster.session_ended(sid);
    }
}

/// The refresh token a logout body names, if any. The body is optional:
/// `{}` or nothing signs out by the bearer token alone; anything else that
/// is not `{"refreshToken": "..."}` is 400 `malformed_json`. Pure, so it can
/// be fuzzed.
///
/// Read as an object by hand: a derived struct would also take the array
/// `["token"]` as `{"refreshToken": "token"}` (found by fuzzing).
pub fn logout_refresh_token(body: &[u8]) -> Result<Option<String>, ApiError> {
    let malformed = || ApiError::MalformedJson("expected {\"refreshToken\": \"...\"}".into());
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| malformed())?;
    match object.get("refreshToken") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(token)) => Ok(Some(token.clone())),
        Some(_) => Err(malformed()),
    }
}

/// Signs a session out: by its access token, its refresh token, or both.
///
/// An expired access token still names its session (its signature is
/// checked, not its expiry): a client whose token ran out can sign out.
/// A bearer that is not valid at all is ignored when a refresh token comes
/// with it, so a broken header never keeps a session alive.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let refresh_token = logout_refresh_token(&body)?;
    let mut sessions = Vec::new();
    if let Some(token) = bearer(&headers) {
        match state.keys.verify_ignoring_expiry(token) {
            Ok(claims) => sessions.push(claims.sid),
            Err(_) if refresh_token.is_some() => {}
            Err(_) => return Err(ApiError::unauthorized("invalid_token", INVALID_TOKEN)),
        }
    }
    if let Some(token) = refresh_token {
        match state.db.session_of(&token).await? {
            Some(sid) => sessions.push(sid),
            None => {
                return Err(ApiError::unauthorized(
                    "invalid_refresh_token",
                    "unknown refresh token",
                ));
            }
        }
    }
    if sessions.is_empty() {
        return Err(ApiError::unauthorized(
            "missing_token",
            "send a bearer token or a refreshToken",
        ));
    }
    sessions.dedup();
    for sid in sessions {
        state.db.revoke_session(&sid).await?;
        close_sockets(&state, &sid);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Saves a push subscription, once its endpoint is known to be on the public
/// internet, to belong to nobody else, and to fit the user's cap.
pub async fn subscribe_push(
    State(state): State<AppState>,
    user: AuthUser,
    Json(sub): Json<PushSubscription>,
) -> Result<StatusCode, ApiError> {
    push::validate_subscription(&sub)
        .map_err(|e| ApiError::invalid("invalid_subscription", e.to_string()))?;
    let url = push::parse_endpoint(&sub.endpoint)
        .map_err(|e| ApiError::invalid("invalid_subscription", e.to_string()))?;
    state.push_guard.check(&url).await.map_err(|e| {
        let code = match e {
            EndpointRefused::NotPublic { .. } => "push_endpoint_not_public",
            EndpointRefused::Unresolvable { .. } => "push_endpoint_unresolvable",
        };
        tracing::info!(user = user.id, error = %e, "refused a push subscription");
        ApiError::bad_input(code, e.to_string())
    })?;
    let saved = state
        .db
        .save_subscription(user.id, sub, MAX_PUSH_SUBSCRIPTIONS)
        .await?;
    match saved {
        Saved::Added | Saved::Refreshed => Ok(StatusCode::CREATED),
        Saved::OwnedByAnother => Err(ApiError::conflict(
            "push_endpoint_taken",
            "this push endpoint belongs to another account; unsubscribe it in the browser and subscribe again to get a new one",
        )),
        Saved::LimitReached => Err(ApiError::conflict(
            "too_many_push_subscriptions",
            format!(
                "an account has at most {MAX_PUSH_SUBSCRIPTIONS} push subscriptions; remove one with DELETE /api/auth/push-subscription first"
            ),
        )),
    }
}

pub async fn unsubscribe_push(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<PushUnsubscribe>,
) -> Result<StatusCode, ApiError> {
    let deleted = state
        .db
        .delete_subscription(user.id, &body.endpoint)
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

pub async fn vapid_public_key(State(state): State<AppState>) -> Json<VapidPublicKey> {
    Json(VapidPublicKey {
        public_key: state.vapid.public_key_b64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_email_is_trimmed_and_capped_in_bytes() {
        let body = |email: &str| LoginRequest {
            email: email.into(),
            password: "p".into(),
        };
        let at_cap = format!("{}@x", "a".repeat(MAX_EMAIL - 2));
        let padded = body(&format!("  {at_cap}\n"));
        assert_eq!(login_email(&padded).ok(), Some(at_cap.as_str()));
        // 127 two-byte characters are 254 bytes; one more is over.
        let wide = body(&"é".repeat(MAX_EMAIL / 2 + 1));
        assert!(matches!(
            login_email(&wide),
            Err(ApiError::BadInput {
                code: "email_too_long",
                ..
            })
        ));
    }

    #[test]
    fn a_logout_body_is_optional_but_never_guessed() {
        for empty in [&b""[..], b" \n", b"{}"] {
            assert_eq!(logout_refresh_token(empty).ok(), Some(None));
        }
        assert_eq!(
            logout_refresh_token(br#"{"refreshToken": "r"}"#).ok(),
            Some(Some("r".to_owned()))
        );
        // An array is not an object, though serde's derive would read
        // `["r"]` as one.
        for bad in [
            &b"null"[..],
            b"[]",
            b"[\"r\"]",
            b"[\"\"]",
            b"{\"refreshToken\": 1}",
            b"\xff",
        ] {
            assert!(matches!(
                logout_refresh_token(bad),
                Err(ApiError::MalformedJson(_))
            ));
        }
    }
}
