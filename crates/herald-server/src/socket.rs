//! The Socket.IO endpoint: handshake authentication and rooms.
//!
//! A connection must carry `auth: { token }`, an access token. The middleware
//! refuses it before it joins anything; the refusal's message starts with a
//! [`ConnectErrorCode`]. An accepted socket joins `user_{id}`, `admin` when the
//! user is an admin, and a private room of its session so that signing out
//! closes the sockets of that login.

use herald_proto::api::Role;
use herald_proto::socket::{ConnectErrorCode, HandshakeAuth, names};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;

use crate::store::event::{ADMIN_ROOM, user_room};
use crate::store::{Db, session};
use crate::token::{TokenError, TokenKeys};

/// What the handshake middleware needs.
#[derive(Debug, Clone)]
pub struct SocketState {
    pub keys: TokenKeys,
    pub db: Db,
}

/// The authenticated user of a socket, kept in its extensions.
#[derive(Debug, Clone)]
struct SocketUser {
    id: u64,
    role: Role,
    sid: String,
}

/// The room of every socket opened under one login session.
pub fn session_room(sid: &str) -> String {
    format!("session_{sid}")
}

/// A refused handshake. Displayed as `CODE: reason`, which is all
/// socketioxide can put in a `connect_error` packet.
#[derive(Debug)]
struct Refusal {
    code: ConnectErrorCode,
    reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl Refusal {
    fn new(code: ConnectErrorCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason: reason.into(),
        }
    }
}

/// Builds the Socket.IO layer and its handle.
pub fn layer(state: SocketState, buffer: usize) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(buffer)
        .with_state(state)
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    (layer, io)
}

async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<HandshakeAuth>,
    State(state): State<SocketState>,
) -> Result<(), Refusal> {
    let token = auth
        .ok()
        .and_then(|a| a.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Refusal::new(ConnectErrorCode::NoToken, "send auth: { token }"))?;
    let claims = state.keys.verify(&token).map_err(|e| match e {
        TokenError::Expired => Refusal::new(ConnectErrorCode::Expired, "access token expired"),
        TokenError::Invalid(why) => Refusal::new(ConnectErrorCode::BadToken, why),
    })?;
    let id = claims
        .user_id()
        .map_err(|e| Refusal::new(ConnectErrorCode::BadToken, e.to_string()))?;
    let sid = claims.sid.clone();
    let active = state
        .db
        .call(move |conn| session::is_active(conn, &sid))
        .await
        .map_err(|e| {
            Refusal::new(
                ConnectErrorCode::BadToken,
                format!("cannot check session: {e}"),
            )
        })?;
    if !active {
        return Err(Refusal::new(
            ConnectErrorCode::BadToken,
            "session signed out",
        ));
    }
    socket.extensions.insert(SocketUser {
        id,
        role: claims.role,
        sid: claims.sid,
    });
    Ok(())
}

async fn on_connect(socket: SocketRef, Extension(user): Extension<SocketUser>) {
    socket.join(user_room(user.id));
    socket.join(session_room(&user.sid));
    if user.role == Role::Admin {
        socket.join(ADMIN_ROOM);
    }
    tracing::debug!(sid = %socket.id, user = user.id, "socket connected");
    // The socket is in its rooms now: every event stored from here on reaches
    // it live. Tell the client, so that its catch-up starts after this point
    // and covers everything stored before it (socketioxide sends CONNECT
    // before this handler runs, so CONNECT alone is too early).
    let _ = socket.emit(names::READY, &serde_json::json!({}));
    // The client's liveness probe: an emit with an acknowledgement.
    socket.on(names::PING, async |ack: AckSender| {
        let _ = ack.send(&serde_json::json!({ "time": chrono::Utc::now().to_rfc3339() }));
    });
}
