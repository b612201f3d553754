//! The two servers of the server scenarios, as processes: herald-server
//! (release) and the seed's Node stack (`tests/compat/seed-server.mjs`:
//! Express + socket.io v4). Each gets the same population, users with one
//! socket each, a tenth of them admins, and the same operator's emit.
//!
//! herald-server runs as `server_load` runs it (SQLite, one process) or as
//! the cluster scenario sets it up ([`Setup`]: Postgres, and N nodes on
//! Redis).
//!
//! Tokens are minted, not obtained by logging in: 10,000 Argon2 logins
//! would take minutes. For herald-server the users and their sessions are
//! written into its database through its own storage interface before it starts,
//! and the tokens signed with its configured secret; the seed server only
//! checks a JWT signed with its fixed secret.

use std::time::Duration;

use anyhow::bail;
use futures_util::StreamExt;
use herald_proto::api::Role;
use herald_server::store::Db;
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

/// Where herald-server keeps its data, and on how many nodes it runs.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// `None`: SQLite in the data directory (`--data-dir` alone).
    pub database_url: Option<String>,
    /// Set for a cluster: every node subscribes to it and serves WebSocket only.
    pub redis_url: Option<String>,
    /// How many processes (at least one); socket `n` connects to node `n % nodes`.
    pub nodes: usize,
}

/// One server process and where it listens.
#[derive(Debug)]
pub struct Node {
    pub proc: Proc,
    pub addr: String,
}

/// A running server (one process, or the nodes of a cluster) with its
/// population's tokens.
#[derive(Debug)]
pub struct Peer {
    pub kind: Kind,
    /// The operator posts to the first; sockets are spread over all.
    pub nodes: Vec<Node>,
    /// One token per socket; the first `admins` are admins.
    pub tokens: Vec<String>,
    user_ids: Vec<String>,
    /// herald-server: a user with no socket, whom the ingest rows post to.
    ingest_user: Option<u64>,
    operator: String,
    http: reqwest::Client,
    dir: Option<std::path::PathBuf>,
}

/// The users of a herald-server run, written into its database.
struct Population {
    tokens: Vec<String>,
    user_ids: Vec<String>,
    operator: String,
    ingest: u64,
}

/// Database round trips in flight while the population is written.
const SEEDING: usize = 16;

const HERALD_SECRET: &str = "herald-bench-server-secret-0123456789abcdef";
const SEED_SECRET: &str = "seed-secret";

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `sockets` users (the first `admins` of them admins), an operator and an
/// ingest user, each with one session as a login would create, and their
/// tokens; through the store's own interface, whichever the backend.
async fn populate(db: &Db, sockets: usize, admins: usize) -> anyhow::Result<Population> {
    let keys = TokenKeys::new(HERALD_SECRET.as_bytes());
    // Nobody logs in with it; one real hash keeps the rows well-formed.
    let hash = herald_server::password::hash("bench password, never used")?;
    let ttl = Duration::from_secs(3600);
    let (keys, hash) = (&keys, hash.as_str());
    let issue = |email: String, role: Role| async move {
        let u = db.insert_user(&email, "bench", role, hash).await?;
        let sid = format!("bench-{}", u.id);
        db.create_session(&sid, u.id, &sid).await?;
        let (token, _) = keys.issue(&u, &sid, ttl)?;
        anyhow::Ok((u.id, token))
    };
    let mut users = futures_util::stream::iter(0..sockets)
        .map(|n| {
            let role = if n < admins { Role::Admin } else { Role::User };
            issue(format!("s{n}@bench.invalid"), role)
        })
        .buffered(SEEDING);
    let (mut tokens, mut user_ids) = (Vec::with_capacity(sockets), Vec::with_capacity(sockets));
    while let Some(user) = users.next().await {
        let (id, token) = user?;
        user_ids.push(id.to_string());
        tokens.push(token);
    }
    let (_, operator) = issue("operator@bench.invalid".into(), Role::Admin).await?;
    let (ingest, _) = issue("ingest@bench.invalid".into(), Role::User).await?;
    Ok(Population {
        tokens,
        user_ids,
        operator,
        ingest,
    })
}

impl Peer {
    /// herald-server as `server_load` runs it (SQLite, one process), or the seed server.
    pub async fn start(kind: Kind, sockets: usize, admins: usize) -> anyhow::Result<Peer> {
        match kind {
            Kind::Herald => Peer::herald(&Setup::default(), sockets, admins).await,
            Kind::Seed => Peer::seed(sockets, admins).await,
        }
    }

    pub async fn herald(setup: &Setup, sockets: usize, admins: usize) -> anyhow::Result<Peer> {
        let dir = temp_dir("server")?;
        let db = match &setup.database_url {
            None => Db::open(&dir)?,
            Some(url) => Db::connect_postgres(url).await?,
        };
        let population = populate(&db, sockets, admins).await?;
        drop(db);
        let mut peer = Peer {
            kind: Kind::Herald,
            nodes: Vec::new(),
            tokens: population.tokens,
            user_ids: population.user_ids,
            ingest_user: Some(population.ingest),
            operator: population.operator,
            http: reqwest::Client::new(),
            dir: Some(dir.clone()),
        };
        // One after the other: the first node makes the data directory's
        // keys, which the others (sharing the directory) then read.
        for _ in 0..setup.nodes.max(1) {
            let port = free_port()?;
            let mut command = Command::new(node::sibling("herald-server", "herald-server")?);
            command
                .args(["--bind", &format!("127.0.0.1:{port}")])
                .arg("--data-dir")
                .arg(&dir)
                .env("HERALD_JWT_SECRET", HERALD_SECRET)
                .env("RUST_LOG", "warn");
            if let Some(url) = &setup.database_url {
                command.args(["--database-url", url]);
            }
            if let Some(url) = &setup.redis_url {
                command.args(["--redis-url", url, "--websocket-only"]);
            }
            let proc = Proc::spawn("herald-server", command)?;
            let addr = format!("127.0.0.1:{port}");
            peer.nodes.push(Node { proc, addr });
            peer.wait_healthy(peer.nodes.len() - 1, setup.redis_url.is_some())
                .await?;
        }
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
            nodes: vec![Node {
                proc,
                addr: format!("127.0.0.1:{port}"),
            }],
            tokens,
            user_ids,
            ingest_user: None,
            operator: String::new(),
            http: reqwest::Client::new(),
            dir: None,
        })
    }

    /// Waits until node `i` answers `/healthz`, and (`subscribed`) hears
    /// the other nodes through Redis.
    async fn wait_healthy(&self, i: usize, subscribed: bool) -> anyhow::Result<()> {
        let url = format!("http://{}/healthz", self.nodes[i].addr);
        for _ in 0..300 {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
                && let Ok(health) = r.json::<Value>().await
                && (!subscribed || health["cluster"]["redisOk"] == true)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("herald-server did not answer /healthz (or hear Redis) in 15 s")
    }

    /// The node socket `n` connects to.
    pub fn addr_for(&self, n: usize) -> &str {
        &self.nodes[n % self.nodes.len()].addr
    }

    /// Memory and CPU summed over the nodes.
    pub fn sample(&self) -> anyhow::Result<crate::proc::Sample> {
        let mut sum = crate::proc::Sample::default();
        for node in &self.nodes {
            let s = node.proc.sample()?;
            sum.rss_kb += s.rss_kb;
            sum.pss_kb += s.pss_kb;
            sum.threads += s.threads;
            sum.ctx_switches += s.ctx_switches;
            sum.cpu_secs += s.cpu_secs;
        }
        Ok(sum)
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
                    .post(format!("http://{}/api/events", self.nodes[0].addr))
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
                    .post(format!("http://{}/test/emit", self.nodes[0].addr))
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
        // A cluster's ingest is spread over its nodes, request by request.
        let urls: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("http://{}", node.addr))
            .collect();
        let (http, urls, admin) = (&self.http, &urls, &self.operator);
        let mut requests = futures_util::stream::iter((0..n).step_by(per_request as usize))
            .map(|k| async move {
                let url = &urls[(k / per_request) as usize % urls.len()];
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
        for node in self.nodes {
            node.proc.stop().await;
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
