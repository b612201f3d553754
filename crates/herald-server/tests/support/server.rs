//! A real herald-server on 127.0.0.1:0 in a temporary data directory.

use std::path::PathBuf;

use herald_proto::api::{CatchUpPage, PushSubscription, Role, TokenResponse, User};
use herald_server::{Config, Server};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A fixed secret, so tests can forge tokens the server must refuse.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    pub password: String,
}

pub struct TestServer {
    pub url: String,
    pub config: Config,
    pub http: reqwest::Client,
    pub admin: Account,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), herald_server::ServerError>>>,
}

fn temp_dir() -> PathBuf {
    let unique = format!(
        "herald-test-{}-{}",
        std::process::id(),
        herald_server::token::random_token(6)
    );
    std::env::temp_dir().join(unique)
}

/// Opens a second [`Server`] on `config`'s database and adds an account
/// with [`PASSWORD`], on a thread with its own runtime, so that a test's
/// synchronous code (and a runtime's own thread) can call it.
pub fn add_user_blocking(config: &Config, email: &str, role: Role) -> User {
    let name = email.split('@').next().unwrap_or("user");
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    let server = Server::open(config.clone())
                        .await
                        .expect("reopen the database");
                    server
                        .add_user(email, name, role, PASSWORD)
                        .await
                        .expect("add a user")
                })
            })
            .join()
            .expect("the thread adding a user panicked")
    })
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts a server after `tune` has adjusted its config.
    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::new(temp_dir());
        config.jwt_secret = Some(JWT_SECRET.into());
        tune(&mut config);
        let server = Server::open(config.clone()).await.expect("open the server");
        let admin = server
            .add_user("admin@example.com", "Admin", Role::Admin, PASSWORD)
            .await
            .expect("add the admin");
        TestServer::serve(server, config, admin).await
    }

    /// Another node of `first`'s cluster: its config (database, Redis,
    /// secret) after `tune`, in a data directory of its own; its admin is
    /// `first`'s.
    pub async fn join(first: &TestServer, tune: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = first.config.clone();
        config.data_dir = temp_dir();
        tune(&mut config);
        let server = Server::open(config.clone()).await.expect("open the node");
        TestServer::serve(server, config, first.admin.user.clone()).await
    }

    async fn serve(server: Server, config: Config, admin: User) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async {
            let _ = stopped.await;
        }));
        TestServer {
            url,
            config,
            http: reqwest::Client::new(),
            admin: Account {
                user: admin,
                password: PASSWORD.into(),
            },
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Adds an account through a second handle on the same database.
    /// Synchronous, for brevity in tests: it runs on a thread of its own.
    pub fn add_user(&self, email: &str, role: Role) -> Account {
        let user = add_user_blocking(&self.config, email, role);
        Account {
            user,
            password: PASSWORD.into(),
        }
    }

    /// Saves a push subscription as the signed-in user `token`: the status
    /// and the JSON body (null when there is none).
    pub async fn subscribe_push(
        &self,
        token: &str,
        sub: &PushSubscription,
    ) -> (reqwest::StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/api/auth/push-subscription"))
            .bearer_auth(token)
            .json(sub)
            .send()
            .await
            .expect("subscribe request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// `GET /api/notifications?after=&limit=` as `token`; it must answer 200.
    pub async fn catch_up(&self, token: &str, after: u64, limit: u32) -> CatchUpPage {
        let response = self
            .http
            .get(self.url(&format!("/api/notifications?after={after}&limit={limit}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("catch-up");
        assert_eq!(response.status(), 200);
        response.json().await.expect("page")
    }

    pub async fn login(&self, account: &Account) -> TokenResponse {
        let response = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": account.user.email, "password": account.password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), 200, "login of {}", account.user.email);
        response.json().await.expect("login body")
    }

    /// Admin `POST /api/events`; returns the stored id.
    pub async fn emit(&self, admin_token: &str, body: Value) -> u64 {
        let response = self
            .http
            .post(self.url("/api/events"))
            .bearer_auth(admin_token)
            .json(&body)
            .send()
            .await
            .expect("emit request");
        assert_eq!(response.status(), 201, "emit {body}");
        let body: Value = response.json().await.expect("emit body");
        body["id"].as_u64().expect("an id")
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Value {
        self.http
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz request")
            .json()
            .await
            .expect("healthz body")
    }

    /// A counter of the login alert channels, from `/healthz`'s `loginAlerts`.
    pub async fn alert_counter(&self, name: &str) -> u64 {
        self.health().await["loginAlerts"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no loginAlerts.{name} in /healthz"))
    }

    /// Waits (at most `timeout`) until `loginAlerts.{name}` reaches `n`.
    pub async fn wait_for_alert_counter(&self, name: &str, n: u64, timeout: std::time::Duration) {
        let reached = tokio::time::timeout(timeout, async {
            while self.alert_counter(name).await < n {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "loginAlerts.{name} is {}, not {n}, after {timeout:?}",
            self.alert_counter(name).await
        );
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
    }
}

pub fn order_update(user_id: u64, n: u64) -> Value {
    json!({
        "to": {"user": user_id},
        "type": "order_update",
        "title": "Order update",
        "message": format!("Order ord_{n} shipped"),
        "data": {"orderId": format!("ord_{n}"), "status": "shipped"},
    })
}
