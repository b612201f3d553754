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
