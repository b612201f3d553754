//! Slow and numerous clients: unfinished headers and bodies are cut off in
//! time, connections past the cap are closed at once, and shutdown still
//! ends with sockets and idle connections open.

mod support;

use std::time::{Duration, Instant};

use herald_proto::api::Role;
use reqwest::StatusCode;
use serde_json::Value;
use support::{SocketClient, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the server's side of a connection did: everything it sent until it
/// closed, and when it closed; `None` if it was still open at `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<(Vec<u8>, Instant)> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return (received, Instant::now()),
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
}

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

async fn healthz(server: &TestServer) -> StatusCode {
    reqwest::Client::new()
        .get(server.url("/healthz"))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

#[tokio::test]
async fn unfinished_headers_are_closed_within_the_header_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_secs(3);
    let server = TestServer::start_with(|c| c.http.header_read_timeout = TIMEOUT).await;
    let mut lorises = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr(&server)).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        lorises.push(stream);
    }
    let sent = Instant::now();
    // Meanwhile the server answers others.
    assert_eq!(healthz(&server).await, StatusCode::OK);
    for stream in &mut lorises {
        let (_, closed) = read_until_closed(stream, TIMEOUT + MARGIN)
            .await
            .expect("the server closes a connection whose headers never end");
        assert!(closed - sent <= TIMEOUT + MARGIN);
    }
    assert_eq!(healthz(&server).await, StatusCode::OK);
}

#[tokio::test]
async fn an_unfinished_body_gets_a_json_408_within_the_request_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    let server = TestServer::start_with(|c| c.http.request_timeout = TIMEOUT).await;
    let mut stream = TcpStream::connect(addr(&server)).await.expect("connect");
    stream
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\nConnection: close\r\n\r\n{\"email\": ",
        )
        .await
        .expect("write");
    let (answer, _) = read_until_closed(&mut stream, TIMEOUT + Duration::from_secs(5))
        .await
        .expect("answered and closed in time");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or(""))
        .unwrap_or_else(|e| panic!("a JSON body: {e}: {answer}"));
    assert_eq!(body["error"]["code"], "request_timeout");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once_and_a_freed_slot_serves_again() {
    const CAP: usize = 3;
    let server = TestServer::start_with(|c| {
        c.http.max_connections = CAP;
        // Idle connections must stay open for the length of this test.
        c.http.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(TcpStream::connect(addr(&server)).await.expect("connect"));
    }
    // Accepted in order: the next one is over the cap.
    let mut extra = TcpStream::connect(addr(&server)).await.expect("connect");
    let (received, _) = read_until_closed(&mut extra, support::WAIT)
        .await
        .expect("closed at once");
    assert!(received.is_empty());
    // The held ones are still open and served.
    let mut first = held.remove(0);
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (answer, _) = read_until_closed(&mut first, support::WAIT)
        .await
        .expect("answered");
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    // Its slot is free again once the server has seen it close.
    drop(first);
    let deadline = Instant::now() + support::WAIT;
    while healthz(&server).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "the freed slot never served");
    }
}

#[tokio::test]
async fn shutdown_ends_with_a_socket_and_idle_connections_open() {
    let mut server =
        TestServer::start_with(|c| c.http.header_read_timeout = Duration::from_secs(2)).await;
    let alice = server.add_user("alice@example.com", Role::User);
    let token = server.login(&alice).await.token;
    let _socket = SocketClient::connect(&server.url, Some(&token))
        .await
        .expect("accepted");
    let _idle = TcpStream::connect(addr(&server)).await.expect("connect");
    let mut half = TcpStream::connect(addr(&server)).await.expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
    tokio::time::timeout(support::WAIT, server.stop())
        .await
        .expect("the server stops in time");
}
