//! The two servers of the server scenarios, as processes: herald-server
//! (release) and the seed's Node stack (`tests/compat/seed-server.mjs`:
//! Express + socket.io v4). Each gets the same population, users with one
//! socket each, a tenth of them admins, and the same operator's emit.
//!
//! Tokens are minted, not obtained by logging in: 10,000 Argon2 logins
//! would take minutes. For herald-server the users and their sessions are
//! written into its database with its own store functions before it starts,
//! and the tokens signed with its configured secret; the seed server only
//! checks a JWT signed with its fixed secret.

use std::time::Duration;

use anyhow::bail;
use futures_util::StreamExt;
use herald_proto::api::Role;
use herald_server::store::sqlite::SqliteDb;
use herald_server::store::{StoreError, session, user};
use herald_server::token::TokenKeys;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::hub::temp_dir;
use crate::node;
use crate::proc::Proc;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Herald,
    Seed,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Herald => "herald-server",
            Kind::Seed => "Node seed server",
        }
    }
}

/// Whom an event goes to.
#[derive(Debug, Clone, Copy)]
pub enum To {
    /// The user of socket `n` (one socket: that user's room).
    User(usize),
    Admins,
}

/// A running server with its population's tokens.
#[derive(Debug)]
pub struct Peer {
    pub kind: Kind,
    pub proc: Proc,
    pub addr: String,
    /// One token per socket; the first `admins` are admins.
    pub tokens: Vec<String>,
    user_ids: Vec<String>,
    /// herald-server: a user with no socket, whom the ingest rows post to.
    ingest_user: Option<u64>,
    operator: String,
    http: reqwest::Client,
    dir: Option<std::path::PathBuf>,
}

const HERALD_SECRET: &str = "herald-bench-server-secret-0123456789abcdef";
const SEED_SECRET: &str = "seed-secret";

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Peer {
    pub async fn start(kind: Kind, sockets: usize, admins: usize) -> anyhow::Result<Peer> {
        match kind {
            Kind::Herald => Peer::herald(sockets, admins).await,
            Kind::Seed => Peer::seed(sockets, admins).await,
        }
    }

    async fn herald(sockets: usize, admins: usize) -> anyhow::Result<Peer> {
        let dir = temp_dir("server")?;
        let keys = TokenKeys::new(HERALD_SECRET.as_bytes());
        // Nobody logs in with it; one real hash keeps the rows well-formed.
        let hash = herald_server::password::hash("bench password, never used")?;
        let db = SqliteDb::open(&dir)?;
        let ttl = Duration::from_secs(3600);
        let (tokens, user_ids, operator, ingest) = db.call_blocking(|conn| {
            let tx = conn.transaction()?;
            // One session per user, as a login would create, and its token.
            let issue = |email: &str, role: Role| -> Result<(String, String), StoreError> {
                let u = user::insert(&tx, email, "bench", role, &hash)?;
                let sid = format!("bench-{}", u.id);
                session::create(&tx, &sid, u.id, &sid)?;
                let (token, _) = keys
                    .issue(&u, &sid, ttl)
                    .map_err(|e| StoreError::Task(e.to_string()))?;
                Ok((u.id.to_string(), token))
            };
            let mut tokens = Vec::with_capacity(sockets);
            let mut ids = Vec::with_capacity(sockets);
            for n in 0..sockets {
                let role = if n < admins { Role::Admin } else { Role::User };
                let (id, token) = issue(&format!("s{n}@bench.invalid"), role)?;
                ids.push(id);
                tokens.push(token);
            }
            let (_, operator) = issue("operator@bench.invalid", Role::Admin)?;
            let (ingest, _) = issue("ingest@bench.invalid", Role::User)?;
            tx.commit()?;
            Ok((tokens, ids, operator, ingest))
        })?;
        drop(db);
        let port = free_port()?;
        let mut command = Command::new(node::sibling("herald-server", "herald-server")?);
        command
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&dir)
            .env("HERALD_JWT_SECRET", HERALD_SECRET)
            .env("RUST_LOG", "warn");
        let proc = Proc::spawn("herald-server", command)?;
        let peer = Peer {
            kind: Kind::Herald,
            proc,
            addr: format!("127.0.0.1:{port}"),
            tokens,
            user_ids,
            ingest_user: ingest.parse().ok(),
            operator,
            http: reqwest::Client::new(),
            dir: Some(dir),
        };
        peer.wait_healthy().await?;
        Ok(peer)
    }

    async fn seed(sockets: usize, admins: usize) -> anyhow::Result<Peer> {
        let key = jsonwebtoken::EncodingKey::from_secret(SEED_SECRET.as_bytes());
        let exp = chrono::Utc::now().timestamp() + 3600;
        let mut tokens = Vec::with_capacity(sockets);
        let mut user_ids = Vec::with_capacity(sockets);
        for n in 0..sockets {
            let id = format!("s{n}");
            let role = if n < admins { "admin" } else { "user" };
            let claims =
                json!({"id": id, "email": format!("s{n}@bench.invalid"), "role": role, "exp": exp});
            tokens.push(jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &claims,
                &key,
            )?);
            user_ids.push(id);
        }
        let port = free_port()?;
        let mut proc = Proc::spawn(
            "seed server",
            node::script("tests/compat/seed-server.mjs", &[port.to_string()]),
        )?;
        let line = proc.line(Duration::from_secs(30)).await?;
        if !line.starts_with("listening") {
            bail!("the seed server said {line:?}");
        }
        Ok(Peer {
            kind: Kind::Seed,
            proc,
            addr: format!("127.0.0.1:{port}"),
            tokens,
            user_ids,
            ingest_user: None,
            operator: String::new(),
            http: reqwest::Client::new(),
            dir: None,
        })
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let url = format!("http://{}/healthz", self.addr);
        for _ in 0..300 {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("herald-server did not answer /healthz in 15 s")
    }

    /// Sends one event carrying `seq`, the way each server's operator
    /// does: herald-server's admin API (stored, then emitted) or the seed's
    /// emit hook. Returns when the server answered.
    pub async fn emit(&self, to: To, seq: u64) -> anyhow::Result<()> {
        let (title, message) = ("Order update", format!("Order ord_{seq} shipped"));
        let data = json!({"orderId": format!("ord_{seq}"), "status": "shipped", "seq": seq});
        let response = match self.kind {
            Kind::Herald => {
                let target = match to {
                    To::User(n) => json!({"user": self.user_ids[n].parse::<u64>()?}),
                    To::Admins => json!({"room": "admin"}),
                };
                self.http
                    .post(format!("http://{}/api/events", self.addr))
                    .bearer_auth(&self.operator)
                    .json(
                        &json!({"to": target, "type": "order_update", "title": title,
                                  "message": message, "data": data}),
                    )
                    .send()
                    .await?
            }
            Kind::Seed => {
                let room = match to {
                    To::User(n) => format!("user_{}", self.user_ids[n]),
                    To::Admins => "admin".to_owned(),
                };
                // The envelope herald-server would send, so both carry the same bytes.
                let payload: Value = json!({"id": seq, "type": "order_update", "title": title,
                    "message": message, "createdAt": chrono::Utc::now().to_rfc3339(), "data": data});
                self.http
                    .post(format!("http://{}/test/emit", self.addr))
                    .json(&json!({"to": room, "event": "order_update", "payload": payload}))
                    .send()
                    .await?
            }
        };
        if !response.status().is_success() {
            bail!("{} answered {}", self.kind.name(), response.status());
        }
        Ok(())
    }

    /// herald-server only: stores `n` events for a user with no socket,
    /// `per_request` to a request (1: the single-object body, more: arrays),
    /// `in_flight` requests at once. Returns the stored ids.
    pub async fn ingest(
        &self,
        n: u64,
        per_request: u64,
        in_flight: usize,
    ) -> anyhow::Result<Vec<u64>> {
        let Some(user) = self.ingest_user else {
            bail!("{} stores no events", self.kind.name());
        };
        let url = format!("http://{}", self.addr);
        let (http, url, admin) = (&self.http, &url, &self.operator);
        let mut requests = futures_util::stream::iter((0..n).step_by(per_request as usize))
            .map(|k| async move {
                if per_request == 1 {
                    Ok(vec![crate::hub::emit(http, url, admin, user, k).await?])
                } else {
                    let end = (k + per_request).min(n);
                    crate::hub::emit_batch(http, url, admin, user, k..end).await
                }
            })
            .buffer_unordered(in_flight);
        let mut ids = Vec::with_capacity(n as usize);
        while let Some(stored) = requests.next().await {
            ids.extend(stored?);
        }
        Ok(ids)
    }

    pub async fn stop(self) {
        self.proc.stop().await;
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
