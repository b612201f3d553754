//! The official Node `socket.io-client` v4 against herald-server: what a seed
//! frontend does. Needs `npm ci --prefix tests/compat` (the test script runs it).

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use herald_proto::api::Role;
use serde_json::Value;
use support::TestServer;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct NodeClient {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeClient {
    fn spawn(args: &[&str]) -> NodeClient {
        let compat = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat");
        assert!(
            compat.join("node_modules/socket.io-client").is_dir(),
            "socket.io-client is not installed: run `npm ci --prefix tests/compat`"
        );
        let mut child = Command::new("node")
            .arg(compat.join("watch.mjs"))
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed");
        let stdout = child.stdout.take().expect("stdout");
        NodeClient {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(support::WAIT, self.lines.next_line())
            .await
            .expect("node printed a line in time")
            .expect("read")
            .expect("node is still running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
    }
}

#[tokio::test]
async fn the_node_client_signs_in_connects_and_receives_events() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let mut node = NodeClient::spawn(&[&server.url, &alice.user.email, &alice.password]);
    let connected = node.next().await;
    assert!(connected["connected"].is_string(), "{connected}");
    let ready = node.next().await;
    assert_eq!(ready["event"], "herald_ready", "{ready}");

    let id = server
        .emit(&admin, support::server::order_update(alice.user.id, 7))
        .await;
    let got = node.next().await;
    assert_eq!(got["event"], "order_update", "{got}");
    assert_eq!(got["payload"]["id"].as_u64(), Some(id));
    assert_eq!(got["payload"]["data"]["orderId"], "ord_7");
    let _ = node.child.kill().await;
}

#[tokio::test]
async fn the_node_client_sees_the_refusal_code() {
    let server = TestServer::start().await;
    let mut node = NodeClient::spawn(&[&server.url, "--token", "not-a-token"]);
    let refused = node.next().await;
    let message = refused["connect_error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.starts_with("BAD_TOKEN: "), "{refused}");
    let _ = node.child.kill().await;
}

/// Signs `node` in as alice, waits for herald_ready, and returns what the
/// client received for an order posted by `admin` on `poster`.
async fn order_reaches(node: &mut NodeClient, poster: &TestServer, admin: &str, alice: u64) {
    let connected = node.next().await;
    assert!(connected["connected"].is_string(), "{connected}");
    let ready = node.next().await;
    assert_eq!(ready["event"], "herald_ready", "{ready}");
    let id = poster
        .emit(admin, support::server::order_update(alice, 9))
        .await;
    let got = node.next().await;
    assert_eq!(got["event"], "order_update", "{got}");
    assert_eq!(got["payload"]["id"].as_u64(), Some(id));
}

#[tokio::test]
async fn the_node_client_on_one_cluster_node_receives_what_another_node_stored() {
    let pair = support::cluster::Pair::start().await;
    let admin = pair.b.login(&pair.b.admin).await.token;
    let alice = pair.a.add_user("alice@example.com", Role::User);
    let mut node = NodeClient::spawn(&[&pair.a.url, &alice.user.email, &alice.password]);
    order_reaches(&mut node, &pair.b, &admin, alice.user.id).await;
    let _ = node.child.kill().await;
}

#[tokio::test]
async fn a_seed_style_polling_client_works_unless_the_node_is_websocket_only() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let mut node =
        NodeClient::spawn(&[&server.url, &alice.user.email, &alice.password, "--polling"]);
    order_reaches(&mut node, &server, &admin, alice.user.id).await;
    let _ = node.child.kill().await;

    let websocket_only = TestServer::start_with(|c| c.websocket_only = true).await;
    let bob = websocket_only.add_user("bob@example.com", Role::User);
    let mut node = NodeClient::spawn(&[
        &websocket_only.url,
        &bob.user.email,
        &bob.password,
        "--polling",
    ]);
    let refused = node.next().await;
    assert!(
        refused["connect_error"].is_object(),
        "polling was not refused: {refused}"
    );
    let _ = node.child.kill().await;
}
