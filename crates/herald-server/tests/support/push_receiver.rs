//! A stand-in push service on loopback, playing the browser's part too: it
//! hands out subscriptions with fresh keys, checks each push the way a real
//! service does (RFC 8030 headers, RFC 8292 VAPID token), decrypts it with
//! the independent `ece` crate, and hands the plaintext to the test.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_proto::api::{PushKeys, PushSubscription};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// RFC 8292 §2: a token may live at most 24 hours.
const MAX_TOKEN_LIFETIME_SECONDS: i64 = 24 * 60 * 60;

/// A push that passed every check, decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub plaintext: Vec<u8>,
    /// The JWT claims.
    pub aud: String,
    pub sub_claim: String,
    pub exp: i64,
    /// `k=` of the Authorization header: the sender's public key.
    pub vapid_key: String,
    pub ttl: Option<String>,
    pub urgency: Option<String>,
}

/// A push the receiver refused, and why.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub id: String,
    pub status: u16,
    pub reason: String,
}

struct Browser {
    keys: ece::EcKeyComponents,
    auth: [u8; 16],
    /// The `applicationServerKey` the subscription was made with, if any:
    /// real services refuse pushes signed by another key (403).
    server_key: Option<String>,
}

struct Shared {
    origin: String,
    browsers: Mutex<HashMap<String, Browser>>,
    forced: Mutex<HashMap<String, u16>>,
    requests: AtomicUsize,
    delivered: mpsc::UnboundedSender<Received>,
    rejected: mpsc::UnboundedSender<Rejection>,
}

pub struct PushReceiver {
    /// `http://127.0.0.1:PORT`, the `aud` every token must carry.
    pub origin: String,
    shared: Arc<Shared>,
    delivered: mpsc::UnboundedReceiver<Received>,
    rejected: mpsc::UnboundedReceiver<Rejection>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PushReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushReceiver")
            .field("origin", &self.origin)
            .finish()
    }
}

impl Drop for PushReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PushReceiver {
    pub async fn start() -> PushReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the push receiver");
        let addr = listener.local_addr().expect("the push receiver's address");
        let origin = format!("http://{addr}");
        let (delivered_tx, delivered) = mpsc::unbounded_channel();
        let (rejected_tx, rejected) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            origin: origin.clone(),
            browsers: Mutex::new(HashMap::new()),
            forced: Mutex::new(HashMap::new()),
            requests: AtomicUsize::new(0),
            delivered: delivered_tx,
            rejected: rejected_tx,
        });
        let app = Router::new()
            .route("/push/{id}", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the push receiver stopped");
            }
        });
        PushReceiver {
            origin,
            shared,
            delivered,
            rejected,
            task,
        }
    }

    /// A new browser subscription `id`, as `PushSubscription.toJSON()` gives it.
    pub fn subscription(&self, id: &str) -> PushSubscription {
        self.subscribe(id, None)
    }

    /// Like [`PushReceiver::subscription`], made with `applicationServerKey`
    /// `server_key`: pushes signed with another key get 403.
    pub fn subscription_bound_to(&self, id: &str, server_key: &str) -> PushSubscription {
        self.subscribe(id, Some(server_key.to_string()))
    }

    fn subscribe(&self, id: &str, server_key: Option<String>) -> PushSubscription {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().expect("generate browser keys");
        let public = pair.pub_as_raw().expect("export the browser public key");
        let keys = pair.raw_components().expect("export the browser key pair");
        lock(&self.shared.browsers).insert(
            id.to_string(),
            Browser {
                keys,
                auth,
                server_key,
            },
        );
        PushSubscription {
            endpoint: format!("{}/push/{id}", self.origin),
            keys: PushKeys {
                p256dh: URL_SAFE_NO_PAD.encode(public),
                auth: URL_SAFE_NO_PAD.encode(auth),
            },
        }
    }

    /// Answers pushes to `id` with 410 Gone, as for an unsubscribed browser.
    pub fn mark_gone(&self, id: &str) {
        self.respond_with(id, 410);
    }

    /// Answers pushes to `id` with `status`, without looking at them.
    pub fn respond_with(&self, id: &str, status: u16) {
        lock(&self.shared.forced).insert(id.to_string(), status);
    }

    /// The next accepted push, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Received> {
        tokio::time::timeout(timeout, self.delivered.recv())
            .await
            .ok()
            .flatten()
    }

    /// The decrypted JSON payload of the push for the login `login_id`,
    /// skipping pushes for other logins; `None` once `deadline` is reached.
    pub async fn push_for_login(
        &mut self,
        login_id: &str,
        deadline: std::time::Instant,
    ) -> Option<serde_json::Value> {
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let pushed = self.next(left).await?;
            let payload: serde_json::Value = serde_json::from_slice(&pushed.plaintext).ok()?;
            if payload["data"]["loginId"] == login_id {
                return Some(payload);
            }
        }
    }

    /// The next refused push, or `None` after `timeout`.
    pub async fn next_rejection(&mut self, timeout: Duration) -> Option<Rejection> {
        tokio::time::timeout(timeout, self.rejected.recv())
            .await
            .ok()
            .flatten()
    }

    /// Every refusal so far, without waiting.
    pub fn rejections(&mut self) -> Vec<Rejection> {
        std::iter::from_fn(|| self.rejected.try_recv().ok()).collect()
    }

    /// How many requests reached the receiver, whatever their fate.
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(status) = lock(&shared.forced).get(&id).copied() {
        return StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    match shared.check(&id, &headers, &body) {
        Ok(received) => {
            // The test may have dropped its side; the push was still accepted.
            let _ = shared.delivered.send(received);
            StatusCode::CREATED
        }
        Err((status, reason)) => {
            let _ = shared.rejected.send(Rejection {
                id,
                status: status.as_u16(),
                reason,
            });
            status
        }
    }
}

type Refusal = (StatusCode, String);

impl Shared {
    fn check(&self, id: &str, headers: &HeaderMap, body: &[u8]) -> Result<Received, Refusal> {
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let bad = |reason: String| (StatusCode::BAD_REQUEST, reason);
        if text(header::CONTENT_ENCODING).as_deref() != Some("aes128gcm") {
            return Err(bad(format!(
                "Content-Encoding is {:?}, not aes128gcm",
                text(header::CONTENT_ENCODING)
            )));
        }
        // RFC 8030 §5.2: TTL is mandatory.
        let ttl = text(header::HeaderName::from_static("ttl"));
        if ttl.as_deref().and_then(|t| t.parse::<u32>().ok()).is_none() {
            return Err(bad(format!("TTL is {ttl:?}")));
        }
        let authorization = text(header::AUTHORIZATION).ok_or_else(|| {
            (
                StatusCode::UNAUTHORIZED,
                "no Authorization header".to_string(),
            )
        })?;
        let token = verify_vapid(&authorization, &self.origin)
            .map_err(|e| (StatusCode::UNAUTHORIZED, e))?;

        let browsers = lock(&self.browsers);
        let browser = browsers
            .get(id)
            .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no subscription {id}")))?;
        if let Some(expected) = &browser.server_key
            && *expected != token.key
        {
            return Err((
                StatusCode::FORBIDDEN,
                "signed with another applicationServerKey".into(),
            ));
        }
        let plaintext = ece::decrypt(&browser.keys, &browser.auth, body)
            .map_err(|e| bad(format!("cannot decrypt: {e}")))?;
        Ok(Received {
            id: id.to_string(),
            plaintext,
            aud: token.aud,
            sub_claim: token.sub,
            exp: token.exp,
            vapid_key: token.key,
            ttl,
            urgency: text(header::HeaderName::from_static("urgency")),
        })
    }
}

struct Token {
    aud: String,
    sub: String,
    exp: i64,
    key: String,
}

/// Checks `vapid t=<jwt>, k=<key>` (RFC 8292 §3): an ES256 signature by `k`,
/// `aud` naming this service, and an `exp` in the next 24 hours.
fn verify_vapid(authorization: &str, origin: &str) -> Result<Token, String> {
    let (scheme, params) = authorization.split_once(' ').ok_or("no auth scheme")?;
    if !scheme.eq_ignore_ascii_case("vapid") {
        return Err(format!("auth scheme {scheme:?} is not vapid"));
    }
    let mut token = None;
    let mut key = None;
    for param in params.split(',') {
        match param.trim().split_once('=') {
            Some(("t", value)) => token = Some(value.trim()),
            Some(("k", value)) => key = Some(value.trim()),
            _ => return Err(format!("unexpected parameter {param:?}")),
        }
    }
    let (token, key) = token.zip(key).ok_or("t= or k= missing")?;

    let decode = |what: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|e| format!("{what} is not base64url: {e}"))
    };
    let verifying =
        VerifyingKey::from_sec1_bytes(&decode("k", key)?).map_err(|_| "k is not a P-256 key")?;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the JWT does not have three parts".into());
    };
    let header: serde_json::Value = serde_json::from_slice(&decode("JWT header", header)?)
        .map_err(|e| format!("JWT header: {e}"))?;
    if header["alg"] != "ES256" || !(header["typ"].is_null() || header["typ"] == "JWT") {
        return Err(format!("JWT header {header}"));
    }
    let signature = Signature::from_slice(&decode("JWT signature", signature)?)
        .map_err(|_| "signature is not 64 bytes")?;
    let signing_input = &token[..token.rfind('.').unwrap_or_default()];
    verifying
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| "bad JWT signature")?;

    let claims: serde_json::Value = serde_json::from_slice(&decode("JWT claims", claims)?)
        .map_err(|e| format!("JWT claims: {e}"))?;
    let aud = claims["aud"].as_str().unwrap_or_default().to_string();
    if aud != origin {
        return Err(format!("aud {aud:?} is not {origin:?}"));
    }
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    let now = chrono::Utc::now().timestamp();
    if exp <= now || exp > now + MAX_TOKEN_LIFETIME_SECONDS {
        return Err(format!("exp is {} s from now", exp - now));
    }
    let sub = claims["sub"].as_str().unwrap_or_default().to_string();
    Ok(Token {
        aud,
        sub,
        exp,
        key: key.to_string(),
    })
}
