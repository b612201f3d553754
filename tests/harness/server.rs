//! A real `herald-server` process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::{WAIT, bin, free_port, temp_dir, wait_for};

pub struct ServerProcess {
    pub url: String,
    pub port: u16,
    /// The address it binds: 127.0.0.1, or 0.0.0.0 ([`ServerProcess::start_on_all`]).
    bind: &'static str,
    pub data_dir: PathBuf,
    args: Vec<String>,
    /// `--database-url` of a cluster node, which `user add` needs too.
    database_url: Option<String>,
    child: Option<Child>,
    http: reqwest::Client,
}

impl ServerProcess {
    /// Starts herald-server with `args` on a free port and waits until it answers.
    pub async fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::start_bound("127.0.0.1", args).await
    }

    /// Like [`ServerProcess::start`], listening on every interface, so that
    /// [`ServerProcess::lan_url`] reaches it too.
    pub async fn start_on_all(args: &[&str]) -> ServerProcess {
        ServerProcess::start_bound("0.0.0.0", args).await
    }

    async fn start_bound(bind: &'static str, args: &[&str]) -> ServerProcess {
        let mut server = ServerProcess::unstarted(bind, args);
        server.spawn().await;
        server
    }

    fn unstarted(bind: &'static str, args: &[&str]) -> ServerProcess {
        let port = free_port();
        ServerProcess {
            url: format!("http://127.0.0.1:{port}"),
            port,
            bind,
            data_dir: private_dir("server"),
            args: args.iter().map(|a| a.to_string()).collect(),
            database_url: None,
            child: None,
            http: reqwest::Client::new(),
        }
    }

    /// A node of a cluster: Postgres at `database_url`, Redis at
    /// `redis_url`, WebSocket only, and the secret every node of the tests
    /// shares (so a token one node issued is good on the others).
    pub async fn start_node(database_url: &str, redis_url: &str) -> ServerProcess {
        let mut server =
            ServerProcess::unstarted("127.0.0.1", &["--redis-url", redis_url, "--websocket-only"]);
        server.database_url = Some(database_url.to_owned());
        server.spawn().await;
        server
    }

    /// Starts herald-server over HTTPS (`--tls-cert`, `--tls-key`) with the
    /// certificate `ca` signed; the harness's own client trusts `ca`.
    pub async fn start_tls(ca: &herald_server::test_ca::TestCa) -> ServerProcess {
        let mut server = ServerProcess::unstarted("127.0.0.1", &[]);
        let tls = private_dir("server-tls");
        let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
        std::fs::write(&cert, &ca.cert_pem).expect("write the certificate");
        std::fs::write(&key, &ca.key_pem).expect("write the key");
        server.args = vec![
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ];
        server.url = format!("https://127.0.0.1:{}", server.port);
        server.http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).expect("the test CA"),
            )
            .no_proxy()
            .build()
            .expect("a client trusting the test CA");
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let mut command = Command::new(bin("herald-server"));
        command
            .arg("--bind")
            .arg(format!("{}:{}", self.bind, self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.args);
        self.cluster_args(&mut command);
        let child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start herald-server");
        self.child = Some(child);
        let health = format!("{}/healthz", self.url);
        let http = self.http.clone();
        wait_for("herald-server to answer", WAIT, || {
            let (http, health) = (http.clone(), health.clone());
            async move {
                http.get(&health)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
    }

    /// The plain-HTTP URL another machine would use (see [`crate::lan_ip`]);
    /// only a server from [`ServerProcess::start_on_all`] answers on it.
    pub fn lan_url(&self) -> String {
        format!("http://{}:{}", crate::lan_ip(), self.port)
    }

    /// What every command of a cluster node takes: the database and the secret.
    fn cluster_args(&self, command: &mut Command) {
        if let Some(url) = &self.database_url {
            command
                .arg("--database-url")
                .arg(url)
                .env("HERALD_JWT_SECRET", CLUSTER_SECRET);
        }
    }

    /// Adds an account with the CLI; returns its password and id.
    pub fn add_user(&self, email: &str, role: &str) -> (String, u64) {
        use std::io::Write;
        let password = format!("pw-{}-secret", email.replace(['@', '.'], "-"));
        let mut command = Command::new(bin("herald-server"));
        command.arg("--data-dir").arg(&self.data_dir);
        self.cluster_args(&mut command);
        let mut child = command
            .args([
                "user",
                "add",
                "--email",
                email,
                "--name",
                email,
                "--role",
                role,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run herald-server user add");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(password.as_bytes())
            .expect("write the password");
        let output = child.wait_with_output().expect("user add");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "user add {email}: {said}");
        let id = said
            .rsplit("with id ")
            .next()
            .and_then(|id| id.trim().parse().ok())
            .expect("the new user's id");
        (password, id)
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let response = self
            .http
            .post(format!("{}/api/auth/login", self.url))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200, "login {email}");
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Admin `POST /api/events`; returns the id.
    pub async fn emit(&self, admin_token: &str, body: &Value) -> u64 {
        let response = self
            .http
            .post(format!("{}/api/events", self.url))
            .bearer_auth(admin_token)
            .json(body)
            .send()
            .await
            .expect("emit");
        assert_eq!(response.status(), 201, "emit {body}");
        response.json::<Value>().await.expect("json")["id"]
            .as_u64()
            .expect("id")
    }

    /// Emits, tolerating a server that is going away; `None` when not stored.
    pub async fn try_emit(&self, admin_token: &str, body: &Value) -> Option<u64> {
        let response = self
            .http
            .post(format!("{}/api/events", self.url))
            .bearer_auth(admin_token)
            .json(body)
            .send()
            .await
            .ok()?;
        if response.status() != 201 {
            return None;
        }
        response.json::<Value>().await.ok()?["id"].as_u64()
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::StatusCode {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
            .status()
    }

    /// Every id of `kind` the server holds for the token's user, by catch-up.
    pub async fn stored_ids(&self, token: &str, kind: &str) -> std::collections::BTreeSet<u64> {
        let mut ids = std::collections::BTreeSet::new();
        let mut after = 0;
        loop {
            let page: Value = self
                .http
                .get(format!(
                    "{}/api/notifications?after={after}&limit=1000",
                    self.url
                ))
                .bearer_auth(token)
                .send()
                .await
                .expect("catch-up")
                .json()
                .await
                .expect("json");
            for item in page["items"].as_array().expect("items") {
                after = item["id"].as_u64().expect("id");
                if item["type"] == kind {
                    ids.insert(after);
                }
            }
            if page["hasMore"] != true {
                return ids;
            }
        }
    }

    /// SIGKILL: no goodbye to anyone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The JWT secret of the cluster nodes the tests start.
const CLUSTER_SECRET: &str = "cluster-test-secret-cluster-test-secret-42";

pub fn order_update(user_id: u64, n: u64) -> Value {
    json!({
        "to": {"user": user_id},
        "type": "order_update",
        "title": "Order update",
        "message": format!("Order ord_{n} shipped"),
        "data": {"orderId": format!("ord_{n}"), "status": "shipped"},
    })
}

/// A temporary directory only its owner can enter, as herald-server wants
/// its data directory (it warns about any other).
fn private_dir(tag: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir(tag);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .expect("make the data directory private");
    dir
}
