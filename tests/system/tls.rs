//! The real `herald` against a real `herald-server --tls-cert --tls-key`
//! whose certificate a test CA signed: refused as a certificate error
//! without `--ca-file`, storing nothing; signed in with it, events arrive
//! over `wss://`, after the CA file is gone too; and through a CONNECT
//! proxy, from `HTTPS_PROXY` (which `NO_PROXY` bypasses) or from
//! `config.toml` alone, for the sign-in and `herald listen`'s socket.

use herald_server::test_ca::{Leaf, TestCa};
use herald_system_tests::client::{Herald, Line};
use herald_system_tests::desktop::secret_tool_search;
use herald_system_tests::proxy::ConnectProxy;
use herald_system_tests::server::{ServerProcess, order_update};

/// No proxy from the test's own environment.
const DIRECT: &[(&str, &str)] = &[
    ("HTTPS_PROXY", ""),
    ("https_proxy", ""),
    ("HTTP_PROXY", ""),
    ("http_proxy", ""),
    ("NO_PROXY", ""),
    ("no_proxy", ""),
];

/// `herald login`, with `--ca-file` when given.
async fn login(
    herald: &Herald,
    server: &str,
    email: &str,
    password: &str,
    ca_file: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> herald_system_tests::client::Output {
    let ca = ca_file.map(|p| p.display().to_string());
    let more: Vec<&str> = ca
        .iter()
        .flat_map(|ca| ["--ca-file", ca.as_str()])
        .collect();
    herald.login_with(server, email, password, &more, env).await
}

/// `herald listen` with `env`, connected; an event from `admin` to `user`
/// arrives, and the proxy opened tunnels for it: REST (catch-up) and the
/// socket are separate clients, so at least two.
async fn listen_through(
    herald: &Herald,
    server: &ServerProcess,
    proxy: &ConnectProxy,
    env: &[(&str, &str)],
    (admin, user): (&str, u64),
) -> herald_system_tests::client::Listen {
    let before = proxy.connects();
    let mut listen = herald.listen_with_env(&["--json", "--no-desktop"], env);
    listen.wait_status("Connected").await;
    let id = server.emit(admin, &order_update(user, 1)).await;
    listen
        .item_where("the event through the proxy", |v| {
            v["serverId"].as_u64() == Some(id)
        })
        .await;
    let tunnels = proxy.connects() - before;
    assert!(tunnels >= 2, "{tunnels} tunnels for REST and the socket");
    listen
}

#[tokio::test]
async fn login_without_the_ca_is_a_certificate_error_and_with_it_events_arrive_over_wss() {
    let ca = TestCa::new(Leaf::Good);
    let server = ServerProcess::start_tls(&ca).await;
    let (password, alice) = server.add_user("tls-alice@example.com", "user");
    let (admin_password, _) = server.add_user("tls-admin@example.com", "admin");
    let herald = Herald::new("tls");
    let keyring_user = format!("tls-alice@example.com @ {}", server.url);

    let refused = login(
        &herald,
        &server.url,
        "tls-alice@example.com",
        &password,
        None,
        DIRECT,
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    for words in [
        "certificate error",
        &format!("the certificate of {}", server.url),
        "signed by an unknown authority",
        "herald login --ca-file",
    ] {
        assert!(
            refused.stderr.contains(words),
            "{words:?} not in: {}",
            refused.stderr
        );
    }
    let found = secret_tool_search("username", &keyring_user);
    assert!(!found.contains("secret = "), "a secret was stored: {found}");
    let config = std::fs::read_to_string(herald.config_dir.join("config.toml")).unwrap_or_default();
    assert!(
        !config.contains("account"),
        "an account was saved: {config}"
    );

    let ca_file = herald.home().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write the CA file");
    let signed_in = login(
        &herald,
        &server.url,
        "tls-alice@example.com",
        &password,
        Some(&ca_file),
        DIRECT,
    )
    .await;
    assert!(signed_in.status.success(), "{}", signed_in.stderr);
    // Kept with the account: the file is no longer needed.
    std::fs::remove_file(&ca_file).expect("delete the CA file");
    let config = std::fs::read_to_string(herald.config_dir.join("config.toml")).expect("config");
    assert!(config.contains("BEGIN CERTIFICATE"), "{config}");

    let mut listen = herald.listen_with_env(&["--json", "--no-desktop"], DIRECT);
    listen.wait_status("Connected").await;
    let admin = server.token("tls-admin@example.com", &admin_password).await;
    let id = server.emit(&admin, &order_update(alice, 1)).await;
    let item = listen
        .item_where("the event over wss", |v| v["serverId"].as_u64() == Some(id))
        .await;
    assert_eq!(item["kind"], "order_update", "{item}");
    listen.stop().await;
}

#[tokio::test]
async fn https_proxy_carries_sign_in_and_the_socket_and_no_proxy_bypasses_it() {
    let ca = TestCa::new(Leaf::Good);
    let server = ServerProcess::start_tls(&ca).await;
    let (password, alice) = server.add_user("proxy-alice@example.com", "user");
    let (admin_password, _) = server.add_user("proxy-admin@example.com", "admin");
    let proxy = ConnectProxy::start().await;
    let herald = Herald::new("proxy");
    let ca_file = herald.home().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write the CA file");
    let url = proxy.url();
    let through: Vec<(&str, &str)> = DIRECT
        .iter()
        .copied()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("https_proxy"))
        .chain([("HTTPS_PROXY", url.as_str())])
        .collect();

    let signed_in = login(
        &herald,
        &server.url,
        "proxy-alice@example.com",
        &password,
        Some(&ca_file),
        &through,
    )
    .await;
    assert!(signed_in.status.success(), "{}", signed_in.stderr);
    let after_login = proxy.connects();
    assert!(after_login >= 1, "sign-in did not go through the proxy");

    let admin = server
        .token("proxy-admin@example.com", &admin_password)
        .await;
    let listen = listen_through(&herald, &server, &proxy, &through, (&admin, alice)).await;
    let (_, lines) = listen.stop().await;
    assert!(
        !lines
            .iter()
            .any(|l| matches!(l, Line::Err(e) if e.contains("certificate error")))
    );

    // NO_PROXY names the server: nothing goes through the proxy.
    let before = proxy.connects();
    let bypass: Vec<(&str, &str)> = through
        .iter()
        .copied()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("no_proxy"))
        .chain([("NO_PROXY", "127.0.0.1")])
        .collect();
    let direct = login(
        &herald,
        &server.url,
        "proxy-alice@example.com",
        &password,
        Some(&ca_file),
        &bypass,
    )
    .await;
    assert!(direct.status.success(), "{}", direct.stderr);
    assert_eq!(proxy.connects(), before, "NO_PROXY was not honoured");
}

#[tokio::test]
async fn the_proxy_in_config_toml_carries_sign_in_and_the_socket_without_any_variable() {
    let ca = TestCa::new(Leaf::Good);
    let server = ServerProcess::start_tls(&ca).await;
    let (password, alice) = server.add_user("cfg-alice@example.com", "user");
    let (admin_password, _) = server.add_user("cfg-admin@example.com", "admin");
    let proxy = ConnectProxy::start().await;
    let herald = Herald::new("cfgproxy");
    std::fs::create_dir_all(&herald.config_dir).expect("config dir");
    std::fs::write(
        herald.config_dir.join("config.toml"),
        format!("proxy = \"{}\"\n", proxy.url()),
    )
    .expect("write config.toml");
    let ca_file = herald.home().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write the CA file");
    let signed_in = login(
        &herald,
        &server.url,
        "cfg-alice@example.com",
        &password,
        Some(&ca_file),
        DIRECT,
    )
    .await;
    assert!(signed_in.status.success(), "{}", signed_in.stderr);
    assert!(proxy.connects() >= 1, "the configured proxy was not used");
    let config = std::fs::read_to_string(herald.config_dir.join("config.toml")).expect("config");
    assert!(
        config.contains(&proxy.url()),
        "the proxy setting was kept: {config}"
    );

    // The socket too: `herald listen`, no variable, the config's proxy.
    let admin = server.token("cfg-admin@example.com", &admin_password).await;
    let listen = listen_through(&herald, &server, &proxy, DIRECT, (&admin, alice)).await;
    listen.stop().await;
}
