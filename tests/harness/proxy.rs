//! A small HTTP CONNECT proxy on loopback that counts the tunnels it opens,
//! so a test can tell that Herald's traffic went through it.
//!
//! Self-contained (std and tokio), so herald-core's tests include this same
//! file (`#[path]`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest request head the proxy reads: 8 KiB.
const MAX_HEAD: usize = 8 * 1024;

pub struct ConnectProxy {
    pub addr: SocketAddr,
    connects: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectProxy {
    /// A proxy that opens each tunnel to the address it is asked for.
    pub async fn start() -> ConnectProxy {
        ConnectProxy::serve(None).await
    }

    /// A proxy that opens every tunnel to `upstream`, whatever name it is
    /// asked for, as a proxy that alone can resolve a private name does.
    pub async fn start_to(upstream: SocketAddr) -> ConnectProxy {
        ConnectProxy::serve(Some(upstream)).await
    }

    async fn serve(upstream: Option<SocketAddr>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let connects = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let (counted, asked) = (connects.clone(), targets.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, upstream, counted.clone(), asked.clone()));
            }
        });
        ConnectProxy {
            addr,
            connects,
            targets,
            task,
        }
    }

    /// The `CONNECT` targets asked for so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().expect("the targets").clone()
    }

    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Tunnels opened so far.
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client: `CONNECT host:port`, then bytes both ways; anything else 405.
async fn tunnel(
    mut client: TcpStream,
    upstream: Option<SocketAddr>,
    connects: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    targets.lock().expect("the targets").push(target.to_owned());
    let connected = match upstream {
        Some(addr) => TcpStream::connect(addr).await,
        None => TcpStream::connect(target).await,
    };
    let Ok(mut upstream) = connected else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    connects.fetch_add(1, Ordering::SeqCst);
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
