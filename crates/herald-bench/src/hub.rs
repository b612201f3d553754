//! herald-server in this process, on a runtime and threads of its own, for
//! the client scenarios: the bench's tracing layer sees its emits, so
//! "emit → client" is measured from the moment the event leaves the hub.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use herald_proto::api::Role;
use herald_server::{Config, Server};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "bench password, not a secret";

/// A private temporary directory for one run's data.
pub fn temp_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "herald-bench-{tag}-{}-{}",
        std::process::id(),
        crate::clock::now_ns()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[derive(Debug)]
pub struct LocalHub {
    pub url: String,
    pub addr: SocketAddr,
    config: Config,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    http: reqwest::Client,
    admin: String,
}

impl LocalHub {
    /// Starts the hub and signs in its admin.
    pub async fn start() -> anyhow::Result<LocalHub> {
        let mut config = Config::new(temp_dir("hub")?);
        config.jwt_secret = Some(format!(
            "herald-bench-hub-secret-{:020}",
            crate::clock::now_ns()
        ));
        let server = Server::open(config.clone()).await?;
        server
            .add_user("admin@bench.invalid", "Admin", Role::Admin, PASSWORD)
            .await?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        // Its own runtime, as if it were its own process: the engine's
        // runtime and the server's do not share worker threads.
        let thread = std::thread::Builder::new()
            .name("herald-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("herald-server-worker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the hub's runtime");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot listen");
                            return;
                        }
                    };
                    let shutdown = async {
                        let _ = stopped.await;
                    };
                    if let Err(e) = server.run(listener, shutdown).await {
                        tracing::error!(error = %e, "the hub failed");
                    }
                });
            })?;
        let mut hub = LocalHub {
            url: format!("http://{addr}"),
            addr,
            config,
            stop: Some(stop),
            thread: Some(thread),
            http: reqwest::Client::new(),
            admin: String::new(),
        };
        hub.admin = hub.login("admin@bench.invalid").await?;
        Ok(hub)
    }

    /// Adds a user (one Argon2 hash) and returns its id.
    pub async fn add_user(&self, email: &str) -> anyhow::Result<u64> {
        Ok(Server::open(self.config.clone())
            .await?
            .add_user(email, email, Role::User, PASSWORD)
            .await?
            .id)
    }

    /// Signs in and returns the access token.
    pub async fn login(&self, email: &str) -> anyhow::Result<String> {
        let body: Value = self
            .http
            .post(format!("{}/api/auth/login", self.url))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["token"].as_str().context("no token")?.to_owned())
    }

    /// Sends one event to `user`; returns its id once stored.
    pub async fn emit(&self, user: u64, n: u64) -> anyhow::Result<u64> {
        emit(&self.http, &self.url, &self.admin, user, n).await
    }

    pub fn client(&self) -> (reqwest::Client, String, String) {
        (self.http.clone(), self.url.clone(), self.admin.clone())
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
    }
}

impl Drop for LocalHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One order update to `user`, as the operator's API takes it.
pub fn order(user: u64, n: u64) -> Value {
    json!({"to": {"user": user}, "type": "order_update", "title": "Order update",
           "message": format!("Order ord_{n} shipped"),
           "data": {"orderId": format!("ord_{n}"), "status": "shipped", "seq": n}})
}

pub async fn emit(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    user: u64,
    n: u64,
) -> anyhow::Result<u64> {
    let response = http
        .post(format!("{url}/api/events"))
        .bearer_auth(admin)
        .json(&order(user, n))
        .send()
        .await?;
    if response.status() != 201 {
        bail!("POST /api/events answered {}", response.status());
    }
    let body: Value = response.json().await?;
    body["id"].as_u64().context("no id in the answer")
}

/// Order updates `ns` to `user` in one `POST /api/events` (an array, at
/// most `herald_server::api::MAX_BATCH`); returns the stored ids in order.
pub async fn emit_batch(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    user: u64,
    ns: std::ops::Range<u64>,
) -> anyhow::Result<Vec<u64>> {
    let events: Vec<Value> = ns.map(|n| order(user, n)).collect();
    let response = http
        .post(format!("{url}/api/events"))
        .bearer_auth(admin)
        .json(&events)
        .send()
        .await?;
    if response.status() != 201 {
        bail!("POST /api/events (a batch) answered {}", response.status());
    }
    let body: herald_proto::api::EmitBatchResponse = response.json().await?;
    if body.ids.len() != events.len() {
        bail!("{} ids for {} events", body.ids.len(), events.len());
    }
    Ok(body.ids)
}
