//! No token reaches the log of the real binary, even at `RUST_LOG=trace`:
//! socketioxide logs the handshake's `auth: { token }` at DEBUG and TRACE.

mod support;

use herald_proto::api::TokenResponse;
use serde_json::json;
use support::SocketClient;
use support::process::{ServerProcess, add_user, data_dir};
use support::server::PASSWORD;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_rust_log_trace_a_socket_connect_and_a_refresh_log_no_token() {
    let dir = data_dir();
    add_user(&dir, "alice@example.com", PASSWORD);
    let server = ServerProcess::start_in(dir, "trace");
    let http = reqwest::Client::new();
    let login: TokenResponse = http
        .post(server.url("/api/auth/login"))
        .json(&json!({ "email": "alice@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let refresh = login.refresh_token.clone().expect("a refresh token");

    let socket = SocketClient::connect(&server.url, Some(&login.token))
        .await
        .expect("the socket is accepted");
    // herald-server's own line, at DEBUG: the connection happened and the
    // log is on at that level. The handshake was logged before it, if at all.
    server.wait_for_log("socket connected").await;
    assert_absent(
        &server.log(),
        &[
            ("access token", login.token.as_str()),
            ("password", PASSWORD),
        ],
    );

    let renewed: TokenResponse = http
        .post(server.url("/api/auth/refresh"))
        .json(&json!({ "refreshToken": refresh }))
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("refresh body");
    socket.disconnect().await;
    // The server saw the close (and any packet logging it does on the way).
    server.wait_for_log("socket disconnected").await;
    let renewed_refresh = renewed.refresh_token.clone().expect("a new refresh token");
    let log = server.log();
    assert_absent(
        &log,
        &[
            ("access token", login.token.as_str()),
            ("refresh token", refresh.as_str()),
            ("renewed access token", renewed.token.as_str()),
            ("renewed refresh token", renewed_refresh.as_str()),
            ("password", PASSWORD),
        ],
    );
    // TRACE is on for everything else: the hub's emit line is there.
    assert!(log.contains("TRACE herald_server::hub::emit"), "{log}");
}

fn assert_absent(log: &str, secrets: &[(&str, &str)]) {
    let lines = log.lines().count();
    for (what, secret) in secrets {
        let times = log.matches(secret).count();
        eprintln!("{what}: {times} times in {lines} lines of log");
        for line in log.lines().filter(|l| l.contains(secret)) {
            eprintln!("  {}", line.replace(secret, "<SECRET>"));
        }
        assert_eq!(times, 0, "the {what} is in the log");
    }
}
