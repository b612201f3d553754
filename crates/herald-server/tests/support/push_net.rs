//! The network around a push: a DNS the test controls, and TCP listeners on
//! loopback that count who connects (and can hold connections unanswered).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_server::push::guard::Lookup;
use herald_server::push::{PushResolver, SystemResolver};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Names the test decides the addresses of; others go to the system resolver
/// (`localhost`, say).
#[derive(Debug, Default)]
pub struct TestDns {
    names: Mutex<HashMap<String, Vec<IpAddr>>>,
    lookups: Mutex<HashMap<String, usize>>,
}

impl TestDns {
    pub fn new() -> Arc<TestDns> {
        Arc::new(TestDns::default())
    }

    /// From now on `name` resolves to `addrs`.
    pub fn set(&self, name: &str, addrs: &[&str]) {
        let addrs = addrs
            .iter()
            .map(|a| a.parse().expect("an IP address"))
            .collect();
        lock(&self.names).insert(name.to_string(), addrs);
    }

    /// How often `name` was looked up.
    pub fn lookups(&self, name: &str) -> usize {
        lock(&self.lookups).get(name).copied().unwrap_or(0)
    }
}

impl PushResolver for TestDns {
    fn lookup(&self, host: String) -> Lookup {
        *lock(&self.lookups).entry(host.clone()).or_default() += 1;
        match lock(&self.names).get(&host).cloned() {
            Some(addrs) => Box::pin(async move { Ok(addrs) }),
            None => SystemResolver.lookup(host),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP listener on 127.0.0.1 that records every connection, in order.
pub struct Listener {
    pub addr: SocketAddr,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Accepts and closes at once.
    pub async fn closing() -> Listener {
        Listener::start(false).await
    }

    /// Accepts, reads, and never answers: a push service that hangs.
    pub async fn silent() -> Listener {
        Listener::start(true).await
    }

    async fn start(hold: bool) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a listener");
        let addr = listener.local_addr().expect("its address");
        let peers = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (p, a) = (peers.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            // Dropped with the task, which closes every held connection.
            let mut held = JoinSet::new();
            while let Ok((mut stream, peer)) = listener.accept().await {
                lock(&p).push(peer);
                a.fetch_add(1, Ordering::SeqCst);
                if hold {
                    held.spawn(async move {
                        let mut sink = [0u8; 1024];
                        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                    });
                }
            }
        });
        Listener {
            addr,
            peers,
            accepted,
            task,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connects once itself and returns how many connections were accepted
    /// before that one. Connections are accepted in the order they arrived,
    /// so one the server made before this call is always counted, even if
    /// the accept loop had not got to it yet.
    pub async fn connections_before_probe(&self, timeout: Duration) -> usize {
        let probe = TcpStream::connect(self.addr).await.expect("probe connect");
        let me = probe.local_addr().expect("probe address");
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(at) = lock(&self.peers).iter().position(|p| *p == me) {
                    return at;
                }
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the probe connection should be accepted")
    }

    /// Waits until at least `n` connections were accepted.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) {
        tokio::time::timeout(timeout, async {
            while self.accepted() < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} connections, not {n}", self.accepted()));
    }
}
