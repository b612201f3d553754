//! The Socket.IO endpoint: handshake authentication and rooms.
//!
//! A connection must carry `auth: { token }`, an access token. The middleware
//! refuses it before it joins anything; the refusal's message starts with a
//! [`ConnectErrorCode`]. An accepted socket joins `user_{id}` and `admin` when
//! the user is an admin. Its session id is kept in its extensions, so that
//! signing out (or a refresh token's reuse) closes the sockets of that login
//! ([`disconnect_session`]); a room per session would cost every socket a
//! room of its own, for an action as rare as a logout.
//!
//! An account holds at most [`crate::socket_cap::SOCKETS_PER_USER`] sockets
//! and a login [`crate::socket_cap::SOCKETS_PER_SESSION`]; one more is
//! refused with `TOO_MANY_SOCKETS`, after the token and the session were
//! checked (a stranger's handshake never counts against anyone).
//!
//! A socket lives no longer than the access token it connected with: a timer
//! set at connect disconnects it when the token's `exp` passes (within
//! [`EXPIRY_SLACK`]), and the client reconnects with a fresh token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_proto::api::Role;
use herald_proto::socket::{ConnectErrorCode, HandshakeAuth, names};
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SocketIo, TransportType};

use crate::socket_cap::{SocketCap, SocketSlot};
use crate::store::Db;
use crate::store::event::{ADMIN_ROOM, user_room};
use crate::token::{INVALID_TOKEN, TokenError, TokenKeys};

/// How late after its token's expiry a socket may be disconnected at most:
/// 1 s (the `exp` claim counts whole seconds).
pub const EXPIRY_SLACK: Duration = Duration::from_secs(1);

/// Each WebSocket's read buffer: 1 KiB (socketioxide's default is 4 KiB).
/// Every message a client sends (a pong, the `herald_ping` probe and its
/// acknowledgement) is well under 100 bytes, and a larger frame still gets
/// room for its whole length; the buffer is held by every idle socket.
pub const WS_READ_BUFFER: usize = 1024;

/// What the handshake middleware needs.
#[derive(Debug, Clone)]
pub struct SocketState {
    pub keys: TokenKeys,
    pub db: Db,
    pub cap: SocketCap,
    /// Socket.IO connect attempts so far, accepted or refused (`/healthz`
    /// `socketHandshakes`): how a client's reconnects are counted from here.
    pub handshakes: Arc<AtomicU64>,
}

/// The authenticated user of a socket, kept in its extensions.
#[derive(Debug, Clone)]
struct SocketUser {
    id: u64,
    role: Role,
    /// Shared, so that reading it off every socket copies no string.
    sid: Arc<str>,
    /// The access token's `exp`, in Unix seconds.
    exp: i64,
    /// The socket's place under the caps: the socket's extensions hold it,
    /// so it is given back when socketioxide drops the socket.
    _slot: Arc<SocketSlot>,
}

/// Disconnects every socket opened under login session `session_id`;
/// returns how many there were. It reads each socket's session off its
/// extensions: O(sockets), which at 10,000 sockets is well under a
/// millisecond, for a logout.
pub fn disconnect_session(io: &SocketIo, session_id: &str) -> usize {
    let mut closed = 0;
    for socket in io.sockets() {
        let ours = socket
            .extensions
            .get::<SocketUser>()
            .is_some_and(|user| &*user.sid == session_id);
        if ours {
            closed += 1;
            if let Err(e) = socket.disconnect() {
                tracing::debug!(error = %e, "disconnecting a socket of a revoked session");
            }
        }
    }
    closed
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
pub fn layer(state: SocketState, buffer: usize, websocket_only: bool) -> (SocketIoLayer, SocketIo) {
    let mut builder = SocketIo::builder()
        .max_buffer_size(buffer)
        .ws_read_buffer_size(WS_READ_BUFFER);
    if websocket_only {
        // Any node behind a plain load balancer can then take any client:
        // a polling session's requests need not all reach one node.
        builder = builder.transports([TransportType::Websocket]);
    }
    let (layer, io) = builder.with_state(state).build_layer();
    io.ns("/", on_connect.with(authenticate));
    (layer, io)
}

async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<HandshakeAuth>,
    State(state): State<SocketState>,
) -> Result<(), Refusal> {
    state.handshakes.fetch_add(1, Ordering::Relaxed);
    let token = auth
        .ok()
        .and_then(|a| a.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Refusal::new(ConnectErrorCode::NoToken, "send auth: { token }"))?;
    let claims = state.keys.verify(&token).map_err(|e| match e {
        TokenError::Expired => Refusal::new(ConnectErrorCode::Expired, "access token expired"),
        TokenError::Invalid(_) => Refusal::new(ConnectErrorCode::BadToken, INVALID_TOKEN),
    })?;
    let id = claims
        .user_id()
        .map_err(|_| Refusal::new(ConnectErrorCode::BadToken, INVALID_TOKEN))?;
    let active = state.db.session_is_active(&claims.sid).await.map_err(|e| {
        tracing::error!(error = %e, "cannot check a socket's session");
        Refusal::new(ConnectErrorCode::BadToken, "cannot check the session")
    })?;
    if !active {
        return Err(Refusal::new(
            ConnectErrorCode::BadToken,
            "session signed out",
        ));
    }
    let slot = state
        .cap
        .acquire(id, &claims.sid)
        .map_err(|e| Refusal::new(ConnectErrorCode::TooManySockets, e.to_string()))?;
    socket.extensions.insert(SocketUser {
        id,
        role: claims.role,
        sid: Arc::from(claims.sid),
        exp: claims.exp,
        _slot: Arc::new(slot),
    });
    Ok(())
}

/// Disconnects `socket` when its token expires, unless it goes first.
fn end_at_expiry(socket: &SocketRef, exp: i64) {
    let left_ms = exp
        .saturating_mul(1000)
        .saturating_sub(chrono::Utc::now().timestamp_millis())
        .max(0);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(left_ms.unsigned_abs());
    let gone = Arc::new(tokio::sync::Notify::new());
    let notify = gone.clone();
    socket.on_disconnect(move |socket: SocketRef, reason: DisconnectReason| {
        tracing::debug!(sid = %socket.id, ?reason, "socket disconnected");
        // notify_one keeps the wake-up even if the timer is not waiting yet.
        notify.notify_one();
        async {}
    });
    let socket = socket.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                tracing::debug!(sid = %socket.id, "access token expired: closing its socket");
                let _ = socket.disconnect();
            }
            () = gone.notified() => {}
        }
    });
}

async fn on_connect(socket: SocketRef, Extension(user): Extension<SocketUser>) {
    socket.join(user_room(user.id));
    if user.role == Role::Admin {
        socket.join(ADMIN_ROOM);
    }
    end_at_expiry(&socket, user.exp);
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
