//! The socket's way through a proxy.
//!
//! rust_socketio 0.6 dials its WebSocket itself and takes neither a proxy
//! nor a stream. So when a proxy applies ([`super::proxy::select`]: the
//! config's, or the environment's), the socket is pointed at a loopback port
//! of this process instead, and each connection to it is carried on:
//! `CONNECT` through the proxy to the server, TLS to the server's own name
//! over that tunnel (the [`Net`](super::Net)'s connector: the platform's
//! store and the account's CA), the WebSocket upgrade's `Host` put back to
//! the server's, then bytes both ways. The socket is then a WebSocket
//! through any proxy, as REST is, by one rule.
//!
//! What crosses loopback in the clear is this process's own Socket.IO
//! traffic, which only root can read there. The port leads to this one
//! server only, so another local user who finds it reaches nothing they
//! could not reach directly.
//!
//! # Layout
//! [`Tunnel::start`] binds the port and spawns the accept loop, which ends
//! when the `Tunnel` is dropped; each connection is a task of its own that
//! ends when either side closes. A connection that fails records why
//! ([`Tunnel::take_failure`]), so the link can say "the proxy …" rather than
//! what the closed loopback connection looks like.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use super::NetError;

/// The longest request head taken from the socket, and the longest answer
/// head taken from the proxy: 16 KiB each.
const MAX_HEAD: usize = 16 * 1024;

/// How long each step of a connection's setup may take: its request head
/// arriving, the proxy's answer to `CONNECT`, and the TLS handshake. A
/// connection is so never stuck before its bytes flow, holding a place.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections carried at once. The socket needs one (two while a
/// reconnect overlaps the old one's end); past this a new one is closed at
/// once, so no local process can make the port hold tasks without bound.
pub const MAX_CONNECTIONS: usize = 8;

/// Why one connection through the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("the proxy {proxy} cannot be reached: {source}")]
    Unreachable {
        proxy: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the proxy {proxy} did not answer in time")]
    Timeout { proxy: String },
    #[error("the proxy {proxy} refused the tunnel to {target}: {answer}")]
    Refused {
        proxy: String,
        target: String,
        answer: String,
    },
    #[error("TLS to {host} through the proxy failed: {source}")]
    Tls {
        host: String,
        #[source]
        source: native_tls::Error,
    },
    #[error("TLS to {host} through the proxy did not finish in time")]
    TlsTimeout { host: String },
    #[error("the tunnel broke: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the server is, as the tunnel dials it.
#[derive(Debug, Clone)]
struct Target {
    /// `host:port`, for `CONNECT` and for `Host`.
    authority: String,
    host: String,
    tls: Option<native_tls::TlsConnector>,
}

/// A loopback port that carries connections to one server through one proxy.
#[derive(Debug)]
pub struct Tunnel {
    addr: SocketAddr,
    proxy: Url,
    failure: Arc<Mutex<Option<Arc<TunnelError>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Tunnel {
    /// Binds 127.0.0.1:0 and serves it on the current Tokio runtime.
    /// `tls` is the connector for an `https://` origin.
    pub fn start(
        origin: &Url,
        proxy: Url,
        tls: Option<native_tls::TlsConnector>,
    ) -> Result<Tunnel, NetError> {
        let host = origin
            .host_str()
            .ok_or_else(|| NetError::Tunnel(format!("{origin} names no host")))?
            .to_owned();
        let port = origin
            .port_or_known_default()
            .ok_or_else(|| NetError::Tunnel(format!("{origin} names no port")))?;
        let target = Target {
            authority: format!("{host}:{port}"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            tls,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
            .map_err(|e| NetError::Tunnel(format!("cannot open a loopback port: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| NetError::Tunnel(e.to_string()))?;
        let failure = Arc::new(Mutex::new(None));
        let recorded = failure.clone();
        let places = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let via = proxy.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let Ok(place) = places.clone().try_acquire_owned() else {
                    tracing::warn!(
                        "more connections to the proxy tunnel than it carries; one closed"
                    );
                    continue;
                };
                let (proxy, target, recorded) = (via.clone(), target.clone(), recorded.clone());
                tokio::spawn(async move {
                    let _place = place;
                    if let Err(e) = carry(&mut socket, &proxy, &target).await {
                        tracing::debug!(error = %e, "a connection through the proxy failed");
                        // Recorded while the socket's end is still open: the
                        // link reads it when it sees that end close.
                        *recorded.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(e));
                    }
                    drop(socket);
                });
            }
        });
        Ok(Tunnel {
            addr,
            proxy,
            failure,
            accept,
        })
    }

    /// Whether this tunnel still serves, and through `proxy`: its accept
    /// loop ends with the runtime it was started on, and the proxy that
    /// applies can change (the config, the environment).
    pub fn serves(&self, proxy: &Url) -> bool {
        self.proxy == *proxy && !self.accept.is_finished()
    }

    /// The loopback address the socket connects to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Why the last failed connection failed, once; `None` if none did since.
    pub fn take_failure(&self) -> Option<Arc<TunnelError>> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One connection of the socket: the request head, the tunnel, TLS, then
/// the head (with the server's `Host`) and bytes both ways.
async fn carry(local: &mut TcpStream, proxy: &Url, target: &Target) -> Result<(), TunnelError> {
    let (head, rest) = tokio::time::timeout(STEP_TIMEOUT, read_head(local))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let head = with_host(&head, &target.authority);
    let tunnel = open(proxy, &target.authority).await?;
    match &target.tls {
        Some(connector) => {
            let connector = tokio_native_tls::TlsConnector::from(connector.clone());
            let handshake = connector.connect(&target.host, tunnel);
            let tls = tokio::time::timeout(STEP_TIMEOUT, handshake)
                .await
                .map_err(|_| TunnelError::TlsTimeout {
                    host: target.host.clone(),
                })?
                .map_err(|source| TunnelError::Tls {
                    host: target.host.clone(),
                    source,
                })?;
            pipe(local, &head, &rest, tls).await
        }
        None => pipe(local, &head, &rest, tunnel).await,
    }
}

async fn pipe<S: AsyncRead + AsyncWrite + Unpin>(
    local: &mut TcpStream,
    head: &[u8],
    rest: &[u8],
    mut remote: S,
) -> Result<(), TunnelError> {
    remote.write_all(head).await?;
    remote.write_all(rest).await?;
    tokio::io::copy_bidirectional(local, &mut remote).await?;
    Ok(())
}

/// Reads up to the end of an HTTP head (at most [`MAX_HEAD`]); returns the
/// head and whatever came after it.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "an HTTP head over 16 KiB",
            ));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The head with its `Host` line (any case) set to `authority`.
fn with_host(head: &[u8], authority: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(text.len() + authority.len());
    for line in text.split_inclusive("\r\n") {
        let is_host = line
            .split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("host"));
        if is_host {
            out.push_str("Host: ");
            out.push_str(authority);
            out.push_str("\r\n");
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// A TCP stream to `authority` through `proxy`, after its `200` to `CONNECT`.
async fn open(proxy: &Url, authority: &str) -> Result<TcpStream, TunnelError> {
    let name = proxy_name(proxy);
    let answer = tokio::time::timeout(STEP_TIMEOUT, async {
        let host = proxy.host_str().unwrap_or_default();
        let port = proxy.port_or_known_default().unwrap_or(80);
        let mut stream =
            TcpStream::connect((host, port))
                .await
                .map_err(|source| TunnelError::Unreachable {
                    proxy: name.clone(),
                    source,
                })?;
        stream
            .write_all(connect_request(proxy, authority).as_bytes())
            .await?;
        let (head, _) = read_head(&mut stream).await?;
        Ok::<_, TunnelError>((stream, head))
    })
    .await
    .map_err(|_| TunnelError::Timeout {
        proxy: name.clone(),
    })??;
    let (stream, head) = answer;
    let status = String::from_utf8_lossy(&head);
    let status = status.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(stream)
    } else {
        Err(TunnelError::Refused {
            proxy: name,
            target: authority.to_owned(),
            answer: status.chars().take(200).collect(),
        })
    }
}

/// `CONNECT authority`, with the proxy URL's user and password as Basic
/// credentials when it has a user.
fn connect_request(proxy: &Url, authority: &str) -> String {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if !proxy.username().is_empty() {
        let user = percent_decode(proxy.username());
        let password = percent_decode(proxy.password().unwrap_or_default());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// The proxy as a person knows it: `host:port`, never its password.
fn proxy_name(proxy: &Url) -> String {
    format!(
        "{}:{}",
        proxy.host_str().unwrap_or_default(),
        proxy.port_or_known_default().unwrap_or(80)
    )
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_line_is_the_servers_whatever_its_case() {
        let head = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nhost: 127.0.0.1:5555\r\nUpgrade: websocket\r\n\r\n";
        let out = String::from_utf8(with_host(head, "herald.example:443")).unwrap_or_default();
        assert_eq!(
            out,
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: herald.example:443\r\nUpgrade: websocket\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_head_is_split_from_what_follows_and_an_endless_one_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nnext")
            .await
            .unwrap_or_default();
        let (head, rest) = read_head(&mut b).await.unwrap_or_default();
        assert!(head.ends_with(b"\r\n\r\n"));
        assert_eq!(rest, b"next");
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        a.write_all(&[b'x'; MAX_HEAD + 2048])
            .await
            .unwrap_or_default();
        let error = read_head(&mut b).await.err();
        assert_eq!(
            error.map(|e| e.kind()),
            Some(std::io::ErrorKind::InvalidData)
        );
    }

    #[tokio::test]
    async fn past_its_connections_the_port_closes_a_new_one_at_once() {
        let origin = Url::parse("http://herald.example:80").unwrap_or_else(|e| panic!("{e}"));
        let proxy = Url::parse("http://127.0.0.1:9").unwrap_or_else(|e| panic!("{e}"));
        let tunnel = Tunnel::start(&origin, proxy, None).unwrap_or_else(|e| panic!("{e}"));
        // Connections that never send their head hold every place.
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(
                TcpStream::connect(tunnel.addr())
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let mut extra = TcpStream::connect(tunnel.addr())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "the extra one is closed at once: {read:?}"
        );
        // A held one is still open: nothing to read, no end.
        let still = tokio::time::timeout(Duration::from_millis(200), held[0].read(&mut byte)).await;
        assert!(still.is_err(), "a held connection is kept: {still:?}");
    }

    #[tokio::test]
    async fn a_connection_that_never_sends_its_head_is_closed_after_the_step_timeout() {
        let origin = Url::parse("http://herald.example:80").unwrap_or_else(|e| panic!("{e}"));
        let proxy = Url::parse("http://127.0.0.1:9").unwrap_or_else(|e| panic!("{e}"));
        let tunnel = Tunnel::start(&origin, proxy, None).unwrap_or_else(|e| panic!("{e}"));
        let mut silent = TcpStream::connect(tunnel.addr())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let started = tokio::time::Instant::now();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(STEP_TIMEOUT * 2, silent.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "closed: {read:?}");
        assert!(started.elapsed() >= STEP_TIMEOUT - Duration::from_millis(500));
        let failure = tunnel.take_failure().map(|f| f.to_string());
        assert!(
            failure.as_deref().is_some_and(|f| f.contains("timed out")),
            "{failure:?}"
        );
    }

    #[test]
    fn the_proxy_is_named_without_its_password_and_its_user_is_decoded() {
        let proxy = Url::parse("http://me%40corp:s%3Acret+1@proxy.example:3128")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(proxy_name(&proxy), "proxy.example:3128");
        assert_eq!(percent_decode(proxy.username()), "me@corp");
        assert_eq!(
            percent_decode(proxy.password().unwrap_or_default()),
            "s:cret+1"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("me@corp:s:cret+1");
        assert_eq!(
            connect_request(&proxy, "herald.example:443"),
            format!(
                "CONNECT herald.example:443 HTTP/1.1\r\nHost: herald.example:443\r\nProxy-Authorization: Basic {basic}\r\n\r\n"
            )
        );
        let anonymous = Url::parse("http://proxy.example:3128").unwrap_or_else(|e| panic!("{e}"));
        assert!(!connect_request(&anonymous, "h:1").contains("Proxy-Authorization"));
    }
}
