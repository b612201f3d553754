//! The accept loop: HTTP/1.1 with a header read timeout, a connection cap,
//! and graceful shutdown.
//!
//! `axum::serve` has neither a header timeout nor a connection cap, so a
//! client that opens connections and never finishes its headers (slow loris)
//! held them forever. Here every connection
//!
//! - must send each request's headers within
//!   [`HttpLimits::header_read_timeout`], or it is closed (an idle keep-alive
//!   connection too: hyper's timer runs while it waits for the next request);
//! - counts against [`HttpLimits::max_connections`] for as long as its socket
//!   is open, WebSocket upgrades included (the slot travels with the socket
//!   into the upgrade); one past the cap is closed as soon as it is accepted.
//!
//! Bodies and answers are bounded by the API router's request timeout
//! (`api::router`).
//!
//! With a [`TlsIdentity`] each connection is TLS (rustls). The handshake
//! runs under the same header timeout, so a client that connects and never
//! finishes a handshake is dropped like one that never sends its headers, and
//! the slot under the cap is held from the accept, through the handshake,
//! into the TLS stream.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::HttpLimits;
use crate::tls::TlsIdentity;

/// How long the loop pauses after an accept error that is not one
/// connection's fault (out of file descriptors): 1 s, as `axum::serve` does.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, lets each connection finish its request (idle ones close at
/// once), and returns when all have, or after [`HttpLimits::shutdown_grace`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<TlsIdentity>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let tls = tls.map(|identity| tokio_rustls::TlsAcceptor::from(identity.0));
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        tracing::error!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached: closing a new connection");
            drop(stream);
            continue;
        };
        connections.spawn(connection(
            stream,
            peer,
            slot,
            app.clone(),
            limits,
            tls.clone(),
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!("requests still running at the end of the shutdown grace are dropped");
    }
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it ends, or gracefully once `stop` is set;
/// over TLS when `tls` is given, the handshake within the header timeout.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    app: Router,
    limits: HttpLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let held = Held {
        stream,
        _slot: slot,
    };
    let Some(acceptor) = tls else {
        return serve_http(held, peer, app, limits, stop).await;
    };
    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(held)).await {
        Ok(Ok(stream)) => serve_http(stream, peer, app, limits, stop).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "no TLS handshake within the header timeout"),
    }
}

/// HTTP/1.1 (with upgrades) on one connection's stream, plain or TLS.
async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let app =
        tower::ServiceExt::map_request(app, move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder
        .serve_connection(io, TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(conn);
    let stopping = async move {
        // The guard `wait_for` returns must not live across an await.
        let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// A connection's socket with its slot under the cap, released when the
/// socket is dropped, after an upgrade too.
struct Held {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
