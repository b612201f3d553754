//! Test doubles for the engine's unit tests (and the controller's): a signed-in
//! account in a temporary folder, a local HTTP server, and a bare worker.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::EngineParts;
use super::worker::Worker;
use crate::api::Api;
use crate::config::{Paths, Settings};
use crate::inbox::Inbox;
use crate::link::{Link, LinkConfig};
use crate::notify::policy::{Policy, PolicyConfig};
use crate::secret::{MemoryStore, SecretKey, SecretStore, Tokens};
use crate::status::{SignOutReason, Status};

/// How long a test waits for something that should happen at once.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

const ACCOUNT: &str = "alice@example.com";

fn tokens() -> Tokens {
    // Not a JWT: it never expires, so nothing renews it during a test.
    Tokens {
        access: "test-token".into(),
        refresh: None,
    }
}

/// An account signed in to `server`: settings in a temporary folder (removed
/// on drop) and tokens in a memory store.
pub(crate) struct SignedIn {
    pub(crate) paths: Paths,
    pub(crate) settings: Settings,
    pub(crate) store: Arc<MemoryStore>,
    dir: PathBuf,
}

impl SignedIn {
    pub(crate) fn new(server: &str) -> SignedIn {
        let dir = std::env::temp_dir().join(format!(
            "herald-engine-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let paths = Paths {
            config_dir: dir.join("config"),
            data_dir: dir.join("data"),
        };
        let settings = Settings {
            server: Some(server.to_owned()),
            account: Some(ACCOUNT.to_owned()),
            ..Settings::default()
        };
        settings
            .save(&paths)
            .unwrap_or_else(|e| panic!("cannot save the settings: {e}"));
        let origin = Api::new(server).unwrap_or_else(|e| panic!("{e}")).origin();
        let store = Arc::new(MemoryStore::new());
        store
            .save(&SecretKey::new(origin, ACCOUNT), &tokens())
            .unwrap_or_else(|e| panic!("{e}"));
        SignedIn {
            paths,
            settings,
            store,
            dir,
        }
    }

    pub(crate) fn parts(&self) -> EngineParts {
        EngineParts {
            paths: self.paths.clone(),
            settings: self.settings.clone(),
            store: self.store.clone(),
            notifier: None,
            link: LinkConfig::default(),
            markup: false,
        }
    }
}

impl Drop for SignedIn {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A local HTTP server that records the first line of each request
/// ("GET /api/notifications?after=5&limit=500 HTTP/1.1") and answers it with
/// `answer(line)`: `Some(json)` as a 200, `None` never (the socket stays
/// open), like a server that hangs.
pub(crate) struct FakeServer {
    pub(crate) url: String,
    requests: mpsc::UnboundedReceiver<String>,
    task: JoinHandle<()>,
}

impl FakeServer {
    pub(crate) async fn start(answer: fn(&str) -> Option<String>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let (tx, requests) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            // Dropped with the task: every connection ends with the server.
            let mut connections = JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.spawn(serve(socket, answer, tx.clone()));
            }
        });
        FakeServer {
            url,
            requests,
            task,
        }
    }

    /// The next request's first line.
    pub(crate) async fn next_request(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.requests.recv())
            .await
            .unwrap_or_else(|_| panic!("no request came in {PATIENCE:?}"))
            .unwrap_or_else(|| panic!("the fake server ended"))
    }

    /// The next request for `path`, skipping others (the link's, say).
    pub(crate) async fn next_request_to(&mut self, path: &str) -> String {
        loop {
            let line = self.next_request().await;
            if line.contains(path) {
                return line;
            }
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut socket: TcpStream,
    answer: fn(&str) -> Option<String>,
    requests: mpsc::UnboundedSender<String>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let _ = requests.send(line.clone());
    let Some(body) = answer(&line) else {
        // Hold the socket open, answering nothing.
        return std::future::pending().await;
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// A worker for `server` with an in-memory inbox, no notifier, and a link
/// that stops at once (it has no token).
pub(super) fn worker(server: &str) -> Worker {
    let api = Api::new(server).unwrap_or_else(|e| panic!("{e}"));
    let inbox = Inbox::open_in_memory(&api.origin()).unwrap_or_else(|e| panic!("{e}"));
    let (token_tx, _) = watch::channel(Some(tokens().access));
    let (_, no_token) = watch::channel(None);
    let (link_events, _) = mpsc::channel(1);
    let (_, online) = watch::channel(true);
    let link = Link::start(
        api.net().clone(),
        no_token,
        online,
        LinkConfig::default(),
        link_events,
    );
    Worker {
        settings: Settings::default(),
        key: SecretKey::new(api.origin(), ACCOUNT),
        api,
        store: Arc::new(MemoryStore::new()),
        tokens: tokens(),
        token_tx,
        inbox: Arc::new(Mutex::new(inbox)),
        status: watch::channel(Status::signed_out(SignOutReason::NotSignedIn)).0,
        updates: broadcast::channel(16).0,
        notifier: None,
        policy: Policy::new(PolicyConfig::default()),
        link,
        connected_once: false,
        catching_up: None,
        catch_up_again: false,
        caught_up: Vec::new(),
        connection_base: 0,
        refresh_at: tokio::time::Instant::now(),
        markup: false,
    }
}
