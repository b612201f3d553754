//! The server's REST API, as a client: login, refresh, logout, catch-up,
//! read state and the self-test.
//!
//! Herald speaks to herald-server and to the seed's smaller Node stack alike,
//! so everything beyond `POST /api/auth/login` answering `{token}` is treated
//! as optional: a 404 means "this server has no such feature", not an error.

use std::sync::Arc;

use herald_proto::api::{ErrorBody, ReadRequest};
use serde_json::Value;
use url::Url;

use crate::net::{CertError, CertProblem, Net, NetError, NetOptions};
use crate::secret::Tokens;

pub mod page;
pub use page::{Page, parse_page};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "{0:?} is not a server URL: use http:// or https:// and a host, e.g. https://notify.example.com"
    )]
    BadServerUrl(String),
    #[error("wrong email or password")]
    BadCredentials,
    #[error("too many sign-in attempts; try again in {retry_after} s")]
    TooManyAttempts { retry_after: u64 },
    #[error("the session has expired; sign in again")]
    SessionExpired,
    #[error("the server does not support {0}")]
    Unsupported(&'static str),
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// The server's certificate was not accepted.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// The CA or the proxy in the settings cannot be used.
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("the server sent an answer Herald does not understand: {0}")]
    BadAnswer(String),
}

/// A signed-in session, as the login or refresh answer gives it.
#[derive(Clone, PartialEq)]
pub struct Session {
    pub tokens: Tokens,
    /// When `tokens.access` expires: from `expiresAt`, else the JWT's `exp`.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub user: Option<UserInfo>,
    pub login_id: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("tokens", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .field("login_id", &self.login_id)
            .finish()
    }
}

/// Who is signed in. The seed's servers may use string ids, so the id is text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Option<String>,
}

/// A client of one server. Clones share one [`Net`]: one TLS connector and
/// one HTTP client, built on the first request.
#[derive(Debug, Clone)]
pub struct Api {
    net: Arc<Net>,
    origin: Url,
}

impl Api {
    /// A client with the platform's trust store and the environment's proxy.
    pub fn new(server: &str) -> Result<Api, ApiError> {
        Api::with_options(server, NetOptions::default())
    }

    /// A client that also trusts `options.ca_pem`, through `options.proxy`.
    pub fn with_options(server: &str, options: NetOptions) -> Result<Api, ApiError> {
        let origin = normalize_server(server)?;
        let net = Net::new(origin.clone(), options);
        Ok(Api { net, origin })
    }

    /// The connector and client this API shares with the socket.
    pub fn net(&self) -> &Arc<Net> {
        &self.net
    }

    fn http(&self) -> Result<reqwest::Client, ApiError> {
        Ok(self.net.http()?)
    }

    /// The server's origin, `scheme://host[:port]`, without a trailing slash.
    pub fn origin(&self) -> String {
        self.origin.as_str().trim_end_matches('/').to_owned()
    }

    /// The server's origin as a URL.
    pub fn origin_url(&self) -> &Url {
        &self.origin
    }

    fn url(&self, path: &str) -> Url {
        // `path` is always one of our constants, so joining cannot fail.
        self.origin
            .join(path)
            .unwrap_or_else(|_| self.origin.clone())
    }

    /// Sends a request; a transport failure is [`ApiError::Unreachable`].
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        request.send().await.map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, e: reqwest::Error) -> ApiError {
        if let Some(problem) = CertProblem::of_error(&e) {
            return ApiError::Certificate(CertError {
                server: self.origin(),
                problem,
            });
        }
        ApiError::Unreachable {
            server: self.origin(),
            reason: e.without_url().to_string(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Session, ApiError> {
        let body = serde_json::json!({ "email": email, "password": password });
        let response = self
            .send(self.http()?.post(self.url("/api/auth/login")).json(&body))
            .await?;
        match response.status().as_u16() {
            200 | 201 => session_from(json_body(response).await?),
            400 | 401 | 403 => Err(ApiError::BadCredentials),
            429 => Err(ApiError::TooManyAttempts {
                retry_after: retry_after(&response),
            }),
            _ => Err(server_error(response).await),
        }
    }

    /// Trades a refresh token for a new pair. A seed server has no refresh
    /// endpoint ([`ApiError::Unsupported`]); a refused token is [`ApiError::SessionExpired`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, ApiError> {
        let body = serde_json::json!({ "refreshToken": refresh_token });
        let response = self
            .send(self.http()?.post(self.url("/api/auth/refresh")).json(&body))
            .await?;
        match response.status().as_u16() {
            200 | 201 => session_from(json_body(response).await?),
            404 | 405 => Err(ApiError::Unsupported("token refresh")),
            400 | 401 | 403 => Err(ApiError::SessionExpired),
            _ => Err(server_error(response).await),
        }
    }

    /// Revokes the session on the server; a server without logout is fine.
    pub async fn logout(&self, tokens: &Tokens) -> Result<(), ApiError> {
        let mut request = self
            .http()?
            .post(self.url("/api/auth/logout"))
            .bearer_auth(&tokens.access);
        if let Some(refresh) = &tokens.refresh {
            request = request.json(&serde_json::json!({ "refreshToken": refresh }));
        }
        let response = self.send(request).await?;
        match response.status().as_u16() {
            200..=299 | 401 | 404 | 405 => Ok(()),
            _ => Err(server_error(response).await),
        }
    }

    /// `GET /api/notifications?after=&limit=`; [`ApiError::Unsupported`] on a
    /// server without catch-up. The page holds at most `limit` items ([`parse_page`]).
    pub async fn catch_up(&self, token: &str, after: u64, limit: u32) -> Result<Page, ApiError> {
        let mut url = self.url("/api/notifications");
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("limit", &limit.to_string());
        let response = self.send(self.http()?.get(url).bearer_auth(token)).await?;
        match response.status().as_u16() {
            200 => parse_page(&capped_body(response, MAX_ANSWER_BYTES).await?, limit),
            401 => Err(ApiError::SessionExpired),
            404 | 405 => Err(ApiError::Unsupported("catch-up")),
            _ => Err(server_error(response).await),
        }
    }

    /// Pushes read state; [`ApiError::Unsupported`] on a server without it.
    pub async fn mark_read(
        &self,
        token: &str,
        server_ids: &[u64],
        read: bool,
    ) -> Result<(), ApiError> {
        let body = ReadRequest {
            ids: server_ids.to_vec(),
            read,
        };
        let response = self
            .send(
                self.http()?
                    .post(self.url("/api/notifications/read"))
                    .bearer_auth(token)
                    .json(&body),
            )
            .await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 => Err(ApiError::SessionExpired),
            404 | 405 => Err(ApiError::Unsupported("read-state sync")),
            _ => Err(server_error(response).await),
        }
    }

    /// Asks the server for one test event of each type.
    pub async fn self_test(&self, token: &str) -> Result<(), ApiError> {
        let response = self
            .send(
                self.http()?
                    .post(self.url("/api/notifications/test"))
                    .bearer_auth(token),
            )
            .await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 => Err(ApiError::SessionExpired),
            404 | 405 => Err(ApiError::Unsupported("test notifications")),
            _ => Err(server_error(response).await),
        }
    }

    /// Whether the server answers at all (any HTTP status counts).
    pub async fn reachable(&self) -> Result<(), ApiError> {
        self.http()?
            .get(self.url("/"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.unreachable(e))
    }
}

/// `https://Example.com:443/x/` → `https://example.com`: servers are compared
/// and stored by origin.
pub fn normalize_server(server: &str) -> Result<Url, ApiError> {
    let bad = || ApiError::BadServerUrl(server.to_owned());
    let url = Url::parse(server.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Url::parse(&url.origin().ascii_serialization()).map_err(|_| bad())
}

/// The most of an answer Herald reads: twice a catch-up page of 500 events
/// at herald-server's 64 KiB cap on an event's body (32 MiB), so a real page
/// always fits; a server that sends more (or never stops) gets a clear
/// error, not the client's memory.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// The most of an error answer read for its message.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The body, read a chunk at a time and refused past `cap` bytes (the
/// `Content-Length` is not trusted either way).
async fn capped_body(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::BadAnswer(format!("the answer is over {cap} bytes"));
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiError::BadAnswer(e.to_string()))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn json_body(response: reqwest::Response) -> Result<Value, ApiError> {
    let body = capped_body(response, MAX_ANSWER_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::BadAnswer(e.to_string()))
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

async fn server_error(response: reqwest::Response) -> ApiError {
    let status = response.status().as_u16();
    let text = capped_body(response, MAX_ERROR_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| text.chars().take(200).collect());
    ApiError::Server { status, message }
}

/// Reads a login or refresh answer, the full one or the seed's `{token, user}`.
fn session_from(body: Value) -> Result<Session, ApiError> {
    let access = body
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::BadAnswer("no token in the answer".into()))?
        .to_owned();
    let refresh = body
        .get("refreshToken")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let expires_at = body
        .get("expiresAt")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|| crate::auth::token_expiry(&access));
    let user = body.get("user").and_then(|u| {
        let id = match u.get("id").or_else(|| u.get("_id"))? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(UserInfo {
            id,
            email: u
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            name: u.get("name").and_then(Value::as_str).map(str::to_owned),
            role: u.get("role").and_then(Value::as_str).map(str::to_owned),
        })
    });
    Ok(Session {
        tokens: Tokens { access, refresh },
        expires_at,
        user,
        login_id: body
            .get("loginId")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A server that answers 200 and then sends JSON without end, chunked
    /// (no length to refuse up front), or says it will send too much.
    async fn endless_server(chunked: bool) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut request = [0_u8; 4096];
            let _ = conn.read(&mut request).await;
            let head = if chunked {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                    .to_owned()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    MAX_ANSWER_BYTES * 4
                )
            };
            if conn.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let piece = format!("{:x}\r\n{}\r\n", 65536, " ".repeat(65536));
            let raw = " ".repeat(65536);
            // Until the client hangs up; a client without a cap never would.
            loop {
                let bytes = if chunked {
                    piece.as_bytes()
                } else {
                    raw.as_bytes()
                };
                if conn.write_all(bytes).await.is_err() {
                    return;
                }
            }
        });
        url
    }

    #[tokio::test]
    async fn an_endless_or_oversized_answer_is_refused_at_the_cap() {
        for chunked in [true, false] {
            let api = Api::new(&endless_server(chunked).await).expect("api");
            let result = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                api.catch_up("token", 0, 100),
            )
            .await
            .expect("the client gave up by itself");
            match result {
                Err(ApiError::BadAnswer(message)) => {
                    assert!(message.contains(&MAX_ANSWER_BYTES.to_string()), "{message}");
                }
                other => panic!("expected the cap's error, got {other:?}"),
            }
        }
    }

    #[test]
    fn server_urls_normalize_to_their_origin() {
        let origin = |s| normalize_server(s).map(|u| u.as_str().trim_end_matches('/').to_owned());
        assert_eq!(
            origin("https://Example.com:443/app/").ok().as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            origin(" http://127.0.0.1:3000 ").ok().as_deref(),
            Some("http://127.0.0.1:3000")
        );
        for bad in [
            "ftp://x",
            "example.com",
            "javascript:alert(1)",
            "http://user:pw@x",
            "",
        ] {
            assert!(
                matches!(normalize_server(bad), Err(ApiError::BadServerUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn seed_and_full_login_answers_both_read() {
        let seed = session_from(
            json!({"token": "abc", "user": {"_id": "65f0", "email": "a@b", "name": "A"}}),
        );
        let seed = seed.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seed.tokens.refresh, None);
        assert_eq!(seed.user.map(|u| u.id).as_deref(), Some("65f0"));

        let full = session_from(
            json!({"token": "abc", "refreshToken": "r", "expiresAt": "2030-01-01T00:00:00Z",
            "loginId": "L1", "user": {"id": 3, "email": "a@b", "name": "A", "role": "admin"}}),
        );
        let full = full.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !format!("{full:?}").contains("abc"),
            "Debug hides the token"
        );
        assert_eq!(full.tokens.refresh.as_deref(), Some("r"));
        assert_eq!(full.login_id.as_deref(), Some("L1"));
        assert_eq!(full.user.map(|u| u.id).as_deref(), Some("3"));
        assert!(matches!(
            session_from(json!({"user": {}})),
            Err(ApiError::BadAnswer(_))
        ));
    }
}
