//! TLS on the listener (`Config::tls`, `--tls-cert`/`--tls-key`): HTTPS with
//! a certificate from a test CA, trusted only by a client that was given the
//! CA; and the header timeout and the connection cap hold over TLS, with
//! the handshake inside the timeout.

mod support;

use std::time::{Duration, Instant};

use herald_server::test_ca::{Leaf, TestCa};
use support::TestServer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).expect("ca"))
        .build()
        .expect("client")
}

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("https://").to_owned()
}

#[tokio::test]
async fn https_is_served_with_the_given_certificate_and_trusted_only_with_its_ca() {
    let ca = TestCa::new(Leaf::Good);
    let identity = ca.identity();
    let server = TestServer::start_with(|c| c.tls = Some(identity)).await;
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let ok = trusting(&ca)
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz over https");
    assert_eq!(ok.status(), 200);
    let by_name = server.url("/healthz").replace("127.0.0.1", "localhost");
    let ok = trusting(&ca).get(by_name).send().await.expect("by name");
    assert_eq!(ok.status(), 200);
    // The platform's trust store does not know the test CA.
    let untrusted = reqwest::Client::new()
        .get(server.url("/healthz"))
        .send()
        .await;
    let error = untrusted.expect_err("an unknown CA is refused");
    assert!(error.is_connect(), "{error:?}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = server.url("/healthz").replace("https://", "http://");
    assert!(reqwest::Client::new().get(plain).send().await.is_err());
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_dropped_within_the_header_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_secs(3);
    let identity = TestCa::new(Leaf::Good).identity();
    let server = TestServer::start_with(|c| {
        c.tls = Some(identity);
        c.http.header_read_timeout = TIMEOUT;
    })
    .await;
    let mut stalled = TcpStream::connect(addr(&server)).await.expect("connect");
    let opened = Instant::now();
    let mut buf = [0u8; 64];
    // No ClientHello is ever sent: the server must close its side.
    let closed = tokio::time::timeout(TIMEOUT + MARGIN, async {
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the stalled connection is closed");
    assert!(closed - opened >= TIMEOUT - Duration::from_millis(100));
}

#[tokio::test]
async fn the_connection_cap_counts_tls_connections_and_their_handshakes() {
    let ca = TestCa::new(Leaf::Good);
    let identity = ca.identity();
    let server = TestServer::start_with(|c| {
        c.tls = Some(identity);
        c.http.max_connections = 2;
    })
    .await;
    // Two connections mid-handshake hold both places.
    let _a = TcpStream::connect(addr(&server)).await.expect("connect a");
    let _b = TcpStream::connect(addr(&server)).await.expect("connect b");
    let client = trusting(&ca);
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        client.get(server.url("/healthz")).send(),
    )
    .await
    .expect("the third connection is closed at once");
    assert!(
        refused.is_err(),
        "a third connection past the cap is closed"
    );
    drop((_a, _b));
    // Places come back when the connections close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(r) = client.get(server.url("/healthz")).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "the places never came back");
        tokio::task::yield_now().await;
    }
}
