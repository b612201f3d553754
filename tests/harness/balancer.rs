//! A plain TCP load balancer: each connection goes to the first backend
//! that accepts it, in the order given. No stickiness and no knowledge of
//! HTTP or Socket.IO: what an operator puts in front of herald-server nodes.
//!
//! A node that is down (its port refuses) is skipped, so a client whose node
//! was killed reconnects to the next one through the same address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Balancer {
    pub url: String,
    /// Connections forwarded to each backend, by index.
    counts: Arc<Vec<AtomicUsize>>,
    task: JoinHandle<()>,
}

impl Balancer {
    pub async fn start(backends: Vec<SocketAddr>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let backends = Arc::new(backends);
        let task = {
            let counts = counts.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let (backends, counts) = (backends.clone(), counts.clone());
                    tokio::spawn(async move {
                        for (i, addr) in backends.iter().enumerate() {
                            if let Ok(mut backend) = TcpStream::connect(addr).await {
                                counts[i].fetch_add(1, Ordering::Relaxed);
                                let _ = copy_bidirectional(&mut client, &mut backend).await;
                                return;
                            }
                        }
                        // No backend: the client sees its connection closed.
                    });
                }
            })
        };
        Balancer { url, counts, task }
    }

    /// Connections forwarded to backend `i` so far.
    pub fn forwarded(&self, i: usize) -> usize {
        self.counts[i].load(Ordering::Relaxed)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
