//! Engine tests: a real herald-server in process, on a port that survives restarts.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_core::config::{Paths, Settings};
use herald_core::engine::{Engine, EngineParts};
use herald_core::link::LinkConfig;
use herald_core::notify::{Notifier, NotifyError, Toast};
use herald_core::secret::{MemoryStore, SecretStore};
use herald_core::status::Status;
use herald_proto::api::Role;
use herald_server::{Config, Server};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

pub const WAIT: Duration = Duration::from_secs(20);
pub const PASSWORD: &str = "correct horse battery";

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "herald-core-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// herald-server in this process, stoppable and restartable on one address.
pub struct Hub {
    pub config: Config,
    pub addr: SocketAddr,
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    http: reqwest::Client,
}

impl Hub {
    pub async fn start(tune: impl FnOnce(&mut Config)) -> Hub {
        let mut config = Config::new(temp_dir("hub"));
        config.jwt_secret = Some("engine-test-secret-engine-test-secret-0123".into());
        tune(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let mut hub = Hub {
            config,
            addr,
            url: format!("{scheme}://{addr}"),
            stop: None,
            task: None,
            http: reqwest::Client::new(),
        };
        hub.serve(listener).await;
        hub
    }

    /// A hub serving HTTPS with a certificate `ca` signed, which its own
    /// client trusts.
    pub async fn start_tls(ca: &herald_server::test_ca::TestCa) -> Hub {
        let identity = ca.identity();
        let mut hub = Hub::start(|c| c.tls = Some(identity)).await;
        hub.http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        hub
    }

    /// Opens the database (migrating it) before it returns, so that a test's
    /// next step (adding a user through a second handle) never races the
    /// migration; then serves in a task.
    async fn serve(&mut self, listener: tokio::net::TcpListener) {
        let server = Server::open(self.config.clone()).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let _ = server
                .run(listener, async {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Graceful stop: every socket is closed by the server.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener).await;
    }

    /// Adds an account through a second handle on the database, on a
    /// thread with its own runtime, so that synchronous test code can call it.
    pub fn add_user(&self, email: &str, role: Role) -> u64 {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        Server::open(self.config.clone())
                            .await
                            .unwrap()
                            .add_user(email, email, role, PASSWORD)
                            .await
                            .unwrap()
                            .id
                    })
                })
                .join()
                .unwrap()
        })
    }

    pub async fn token(&self, email: &str) -> String {
        let body: Value = self
            .http
            .post(format!("{}/api/auth/login", self.url))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn emit(&self, admin: &str, body: Value) -> u64 {
        let response = self
            .http
            .post(format!("{}/api/events", self.url))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"]
            .as_u64()
            .unwrap()
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Value {
        self.http
            .get(format!("{}/healthz", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Socket.IO connect attempts this server (since its last start) has seen.
    pub async fn handshakes(&self) -> u64 {
        self.health().await["socketHandshakes"].as_u64().unwrap()
    }

    /// The status of `GET path` with `token`.
    pub async fn get(&self, path: &str, token: &str) -> u16 {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The status of trading `refresh_token` for a new pair.
    pub async fn refresh_status(&self, refresh_token: &str) -> u16 {
        self.http
            .post(format!("{}/api/auth/refresh", self.url))
            .json(&json!({ "refreshToken": refresh_token }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> u16 {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A hub with an admin and alice, the admin's token, and alice's device.
pub async fn alice_and_admin(tune: impl FnOnce(&mut Config)) -> (Hub, u64, String, Device) {
    let hub = Hub::start(tune).await;
    hub.add_user("admin@example.com", Role::Admin);
    let alice = hub.add_user("alice@example.com", Role::User);
    let admin = hub.token("admin@example.com").await;
    let device = Device::sign_in(&hub, "alice@example.com").await;
    (hub, alice, admin, device)
}

pub fn order(user: u64, n: u64) -> Value {
    json!({"to": {"user": user}, "type": "order_update", "title": "Order update",
           "message": format!("Order ord_{n} shipped"), "data": {"orderId": format!("ord_{n}"), "status": "shipped"}})
}

/// Records toasts: the engine's policy and plumbing are under test here, the
/// real D-Bus notifier has its own tests.
#[derive(Debug, Default, Clone)]
pub struct Recorder(pub Arc<Mutex<Vec<Toast>>>);

impl Notifier for Recorder {
    fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
        self.0.lock().unwrap().push(toast.clone());
        Ok(())
    }
}

impl Recorder {
    pub fn toasts(&self) -> Vec<Toast> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until at least `n` toasts were shown.
    pub async fn wait_for(&self, n: usize) -> Vec<Toast> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let toasts = self.toasts();
            if toasts.len() >= n {
                return toasts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {n} toasts; got {toasts:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One Herald device: its directories and its keyring (in memory here).
pub struct Device {
    pub paths: Paths,
    pub store: Arc<MemoryStore>,
    pub recorder: Recorder,
}

impl Device {
    pub async fn sign_in(hub: &Hub, email: &str) -> Device {
        Device::sign_in_at(&hub.url, email).await
    }

    /// Signs in at `url` (e.g. through a proxy in front of the hub).
    pub async fn sign_in_at(url: &str, email: &str) -> Device {
        let device = Device::new();
        device.sign_in_to(url, email, None).await.unwrap();
        device
    }

    /// A device that has not signed in yet.
    pub fn new() -> Device {
        // HERALD_TEST_LOG=debug shows the engine's logs when a test fails.
        if let Ok(filter) = std::env::var("HERALD_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let root = temp_dir("device");
        Device {
            paths: Paths {
                config_dir: root.join("config"),
                data_dir: root.join("data"),
            },
            store: Arc::new(MemoryStore::new()),
            recorder: Recorder::default(),
        }
    }

    /// Signs in at `url`, trusting `ca_pem` for it.
    pub async fn sign_in_to(
        &self,
        url: &str,
        email: &str,
        ca_pem: Option<String>,
    ) -> Result<(), herald_core::session::SessionError> {
        herald_core::session::sign_in(
            &self.paths,
            self.store.clone(),
            url,
            email,
            PASSWORD,
            herald_core::session::Transport::Secure,
            ca_pem,
        )
        .await
        .map(|_| ())
    }

    pub fn parts(&self, link: LinkConfig) -> EngineParts {
        EngineParts {
            paths: self.paths.clone(),
            settings: Settings::load(&self.paths).unwrap(),
            store: self.store.clone() as Arc<dyn SecretStore>,
            notifier: Some(Arc::new(self.recorder.clone())),
            link,
            markup: false,
        }
    }

    pub async fn start(&self, link: LinkConfig) -> Engine {
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Engine::start(self.parts(link), rx).await.unwrap()
    }
}

/// The server ids in `engine`'s history (its newest 1,000).
pub fn server_ids(engine: &Engine) -> std::collections::BTreeSet<u64> {
    let inbox = engine.inbox();
    let inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
    inbox
        .list(&herald_core::inbox::ListQuery {
            limit: 1000,
            ..herald_core::inbox::ListQuery::default()
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.server_id)
        .collect()
}

/// The engine of `device` gets `user`'s events both ways: one stored
/// before it starts (caught up over REST) and one live (over the socket).
/// Returns the running engine.
pub async fn caught_up_then_live(hub: &Hub, admin: &str, user: u64, device: &Device) -> Engine {
    hub.emit(admin, order(user, 1)).await;
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    until(&mut status, "connected", |s| {
        s.state == herald_core::status::ConnectionState::Connected
    })
    .await;
    let first = device.recorder.wait_for(1).await;
    assert!(first[0].body.contains("ord_1"), "{first:?}");
    hub.emit(admin, order(user, 2)).await;
    let toasts = device.recorder.wait_for(2).await;
    assert!(toasts[1].body.contains("ord_2"), "{toasts:?}");
    engine
}

/// Keeps another test CA with the account, as if the server's CA changed
/// since the sign-in.
pub fn keep_another_ca(paths: &Paths) {
    let mut settings = Settings::load(paths).unwrap();
    settings.ca_pem =
        Some(herald_server::test_ca::TestCa::new(herald_server::test_ca::Leaf::Good).ca_pem);
    settings.save(paths).unwrap();
}

/// The server ids of every `kind` event in `engine`'s history, page by page.
pub fn history_ids(engine: &Engine, kind: &str) -> std::collections::BTreeSet<u64> {
    let inbox = engine.inbox();
    let inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
    let mut ids = std::collections::BTreeSet::new();
    let mut before_id = None;
    loop {
        let page = inbox
            .list(&herald_core::inbox::ListQuery {
                kind: Some(kind.into()),
                before_id,
                limit: 1000,
                ..herald_core::inbox::ListQuery::default()
            })
            .expect("list the history");
        let Some(last) = page.last() else { break };
        before_id = Some(last.id);
        ids.extend(page.iter().filter_map(|i| i.server_id));
    }
    ids
}

pub fn fast_link() -> LinkConfig {
    LinkConfig {
        connect_timeout: Duration::from_secs(2),
        probe_interval: Duration::from_millis(300),
        probe_timeout: Duration::from_secs(1),
        ..LinkConfig::default()
    }
}

/// Waits until the status satisfies `pred`.
pub async fn until(
    status: &mut watch::Receiver<Status>,
    what: &str,
    pred: impl Fn(&Status) -> bool,
) -> Status {
    let result = tokio::time::timeout(WAIT, status.wait_for(|s| pred(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match result {
        Ok(Ok(s)) => s,
        _ => panic!(
            "timed out waiting for {what}; status is {:?}",
            *status.borrow()
        ),
    }
}

/// A TCP proxy that can go silent: it keeps both connections open but stops
/// forwarding, as a dead NAT or a suspended peer does. No FIN, no RST.
pub struct Blackhole {
    pub addr: SocketAddr,
    silent: Arc<std::sync::atomic::AtomicBool>,
}

impl Blackhole {
    pub async fn start(target: SocketAddr) -> Blackhole {
        use std::sync::atomic::AtomicBool;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = Arc::new(AtomicBool::new(false));
        let flag = silent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, flag.clone()));
                tokio::spawn(pump(sr, cw, flag.clone()));
            }
        });
        Blackhole { addr, silent }
    }

    /// From now on nothing passes, in either direction, and nothing closes.
    pub fn go_silent(&self) {
        self.silent
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until `silent`; then swallows what comes and keeps
/// `to` open, because a silent peer sends no FIN either.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if silent.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    std::future::pending::<()>().await;
}
