//! The seed's own stack: a Node Express + socket.io v4 server (tests/compat).

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{WAIT, free_port};

pub struct SeedServer {
    pub url: String,
    _child: Child,
    http: reqwest::Client,
}

impl SeedServer {
    /// Starts `node tests/compat/seed-server.mjs`; `token_life` as jsonwebtoken's expiresIn.
    pub async fn start(token_life: &str) -> SeedServer {
        let compat = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat");
        assert!(
            compat.join("node_modules/socket.io").is_dir(),
            "the Node peers are not installed: run `npm ci --prefix tests/compat`"
        );
        let port = free_port();
        let mut child = Command::new("node")
            .arg(compat.join("seed-server.mjs"))
            .arg(port.to_string())
            .env("SEED_TOKEN_LIFE", token_life)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("seed server ready")
            .expect("read");
        assert_eq!(ready.as_deref(), Some(format!("listening {port}").as_str()));
        SeedServer {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
            http: reqwest::Client::new(),
        }
    }

    /// Emits `event` with `payload` to a room, as the seed's backend would.
    pub async fn emit(&self, room: &str, event: &str, payload: Value) {
        let status = self
            .http
            .post(format!("{}/test/emit", self.url))
            .json(&json!({"to": room, "event": event, "payload": payload}))
            .send()
            .await
            .expect("emit")
            .status();
        assert!(status.is_success());
    }
}
