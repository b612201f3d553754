//! A proxy set only in `config.toml` carries everything: the sign-in, the
//! catch-up and the socket (a WebSocket through the engine's own tunnel,
//! `net/tunnel.rs`). Dialled directly the server's address refuses, so
//! nothing can have gone around the proxy; and when the tunnel fails, the
//! status says it was the proxy, or the certificate.

mod support;

#[path = "../../../tests/harness/proxy.rs"]
#[allow(dead_code)]
mod proxy;

use herald_core::config::Settings;
use herald_core::link::Cause;
use herald_core::status::ConnectionState;
use herald_core::status::Status;
use herald_proto::api::Role;
use proxy::ConnectProxy;
use support::{Device, Hub, fast_link, until};

/// A port on loopback where nothing listens: dialled directly, it refuses.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Alice, signed in directly, then `proxy` set in her `config.toml`: the
/// engine's status once its socket's attempt backs off naming a proxy.
async fn backoff_behind(proxy: &str) -> Status {
    let hub = Hub::start(|_| {}).await;
    hub.add_user("alice@example.com", Role::User);
    let device = Device::sign_in(&hub, "alice@example.com").await;
    let mut settings = Settings::load(&device.paths).unwrap_or_else(|e| panic!("{e}"));
    settings.proxy = Some(proxy.to_owned());
    settings
        .save(&device.paths)
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = device.start(fast_link()).await;
    let mut status = engine.status();
    let s = until(
        &mut status,
        "backoff naming the proxy",
        |s| matches!(&s.state, ConnectionState::Backoff { reason } if reason.contains("proxy")),
    )
    .await;
    engine.shutdown().await;
    s
}

fn reason(s: &Status) -> &str {
    match &s.state {
        ConnectionState::Backoff { reason } => reason,
        other => panic!("not backing off: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_cannot_be_reached_is_named_in_the_status() {
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let s = backoff_behind(&dead).await;
    let name = dead.trim_start_matches("http://");
    assert!(
        reason(&s).contains(&format!("the proxy {name} cannot be reached")),
        "{s:?}"
    );
    assert_eq!(s.cause, Some(Cause::Refused), "{s:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_refuses_the_tunnel_is_named_with_its_answer() {
    // It answers CONNECT, but cannot reach where it sends every tunnel.
    let proxy =
        ConnectProxy::start_to(std::net::SocketAddr::from(([127, 0, 0, 1], closed_port()))).await;
    let s = backoff_behind(&proxy.url()).await;
    let name = proxy.url();
    let name = name.trim_start_matches("http://");
    assert!(
        reason(&s).contains(&format!("the proxy {name} refused the tunnel")),
        "{s:?}"
    );
    assert!(reason(&s).contains("502"), "its answer is shown: {s:?}");
}

// Through the tunnel the server is https:// with the test CA. Not on
// Windows: schannel fails the test CA's revocation check (see tests/tls.rs).
#[cfg(not(windows))]
mod tls {
    use super::*;
    use herald_core::net::CertProblem;
    use herald_server::test_ca::{Leaf, TestCa};

    /// A device whose `config.toml` names `proxy`, before it signs in.
    fn device_behind(proxy: &str) -> Device {
        let device = Device::new();
        let settings = Settings {
            proxy: Some(proxy.to_owned()),
            ..Settings::default()
        };
        settings
            .save(&device.paths)
            .unwrap_or_else(|e| panic!("{e}"));
        device
    }

    /// Alice, signed in (trusting `ca`) to `hub` by the certificate's name
    /// on a port that refuses when dialled directly, through a proxy set in
    /// `config.toml` that alone reaches the hub; and that port.
    async fn signed_in_behind_a_proxy(hub: &Hub, ca: &TestCa) -> (Device, ConnectProxy, u16) {
        let port = closed_port();
        let proxy = ConnectProxy::start_to(hub.addr).await;
        let device = device_behind(&proxy.url());
        device
            .sign_in_to(
                &format!("https://localhost:{port}"),
                "alice@example.com",
                Some(ca.ca_pem.clone()),
            )
            .await
            .unwrap_or_else(|e| panic!("sign-in through the proxy: {e}"));
        (device, proxy, port)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_proxy_set_only_in_the_config_carries_the_sign_in_the_catch_up_and_the_socket() {
        let ca = TestCa::new(Leaf::Good);
        let hub = Hub::start_tls(&ca).await;
        hub.add_user("admin@example.com", Role::Admin);
        let alice = hub.add_user("alice@example.com", Role::User);
        let admin = hub.token("admin@example.com").await;
        let (device, proxy, port) = signed_in_behind_a_proxy(&hub, &ca).await;
        let after_sign_in = proxy.connects();
        assert!(after_sign_in >= 1, "the sign-in did not use the proxy");
        // Caught up over REST, then live over the socket: both through it.
        let engine = support::caught_up_then_live(&hub, &admin, alice, &device).await;
        let targets = proxy.targets();
        assert!(
            targets.iter().all(|t| *t == format!("localhost:{port}")),
            "every tunnel to the server by its name: {targets:?}"
        );
        assert!(
            proxy.connects() > after_sign_in,
            "the engine's socket and catch-up went through the proxy: {targets:?}"
        );
        engine.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_certificate_the_tunnel_refuses_is_shown_as_a_certificate_error() {
        let ca = TestCa::new(Leaf::Good);
        let hub = Hub::start_tls(&ca).await;
        hub.add_user("alice@example.com", Role::User);
        let (device, _proxy, _) = signed_in_behind_a_proxy(&hub, &ca).await;
        support::keep_another_ca(&device.paths);
        let engine = device.start(fast_link()).await;
        let mut status = engine.status();
        let s = until(&mut status, "a certificate cause", |s| {
            matches!(s.cause, Some(Cause::Certificate(_)))
        })
        .await;
        assert_eq!(
            s.cause,
            Some(Cause::Certificate(CertProblem::UnknownIssuer)),
            "{s:?}"
        );
        // The socket's attempt said so, from the tunnel's TLS.
        assert!(
            matches!(&s.state, ConnectionState::Backoff { reason }
                if reason.contains("TLS to localhost through the proxy failed")),
            "{s:?}"
        );
        engine.shutdown().await;
    }
}
