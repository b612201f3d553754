//! The socket's two ends in one process, over a real Unix socket (a named
//! pipe on Windows, where scripts/cross.sh runs this under wine): the server
//! on a herald-core `Controller` that nobody signed in to (an in-memory
//! keyring, no notifier), and the client every front-end uses.
//!
//! What a front-end relies on, checked here without a server or a desktop:
//! the answers carry the controller's state and error kinds, a subscription
//! hears changes, and when the agent stops every client learns it, including
//! the calls still waiting for an answer.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use herald_core::autostart::Autostart;
use herald_core::config::Paths;
use herald_core::controller::{Controller, ControllerParts};
use herald_core::link::LinkConfig;
use herald_core::secret::MemoryStore;
use herald_ipc::transport::Listener;
use herald_ipc::wire::kind;
use herald_ipc::{Call, Client, Endpoint, Push, Server, Service};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(10);

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("herald-ipc-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A served controller, and the switch that shuts the server down.
struct Agent {
    dir: PathBuf,
    endpoint: Endpoint,
    controller: Arc<Controller>,
    shutdown: Option<oneshot::Sender<()>>,
    serving: JoinHandle<()>,
}

impl Agent {
    fn start(tag: &str) -> Agent {
        let dir = temp_dir(tag);
        let paths = Paths {
            config_dir: dir.join("config"),
            data_dir: dir.join("data"),
        };
        // Windows names the pipe after the data directory; elsewhere the
        // socket goes in a directory of the test's own.
        #[cfg(windows)]
        let socket = Endpoint::of(&paths).socket;
        #[cfg(not(windows))]
        let socket = dir.join("run").join("agent.sock");
        let parts = ControllerParts {
            paths,
            store: Arc::new(MemoryStore::new()),
            notifier: None,
            link: LinkConfig::default(),
            markup: false,
        };
        let (_clicks, action_rx) = mpsc::unbounded_channel();
        let controller = Arc::new(Controller::new(parts, action_rx));
        let endpoint = Endpoint {
            socket,
            lock: dir.join("data").join("engine.lock"),
        };
        let server = Server::new(Service {
            controller: controller.clone(),
            autostart: Autostart::new(dir.join("no-such-agent"), &[]),
            on_autostart: None,
        });
        let listener = Listener::bind(&endpoint).unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            server
                .run(listener, async {
                    let _ = stop.await;
                })
                .await;
        });
        Agent {
            dir,
            endpoint,
            controller,
            shutdown: Some(shutdown),
            serving,
        }
    }

    fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.shut_down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The next push, whatever it is.
async fn next_push(pushes: &mut mpsc::Receiver<Push>) -> Push {
    tokio::time::timeout(WAIT, pushes.recv())
        .await
        .unwrap_or_else(|_| panic!("no push within {WAIT:?}"))
        .expect("the subscription is open")
}

#[tokio::test]
async fn a_signed_out_controller_answers_and_a_subscription_hears_the_sign_out() {
    let agent = Agent::start("status");
    let client = Client::connect(&agent.endpoint).await.unwrap();

    let hello: Value = client.call(Call::Hello, Value::Null).await.unwrap();
    assert_eq!(hello["pid"], json!(std::process::id()));
    assert_eq!(hello["version"], json!(herald_ipc::wire::VERSION));

    let status: Value = client.call(Call::Status, json!({})).await.unwrap();
    assert_eq!(status["state"]["kind"], "signedOut", "{status}");
    assert_eq!(status["state"]["reason"], "notSignedIn", "{status}");
    assert!(
        status["label"]
            .as_str()
            .is_some_and(|l| l.starts_with("Signed out")),
        "{status}"
    );

    // The controller's error kinds reach the client as they are.
    let e = client
        .call::<Value>(Call::MarkRead, json!({"ids": [1], "read": true}))
        .await
        .expect_err("nothing to mark without an engine");
    assert_eq!(e.kind, "notSignedIn", "{e:?}");
    let e = client
        .call::<Value>(Call::MarkRead, json!({"ids": "one"}))
        .await
        .expect_err("wrong arguments");
    assert_eq!(e.kind, kind::INVALID, "{e:?}");
    let e = client
        .call_named("no_such_call", Value::Null)
        .await
        .expect_err("an unknown call");
    assert_eq!(e.kind, kind::UNKNOWN_CALL, "{e:?}");

    let (now, mut pushes) = client.subscribe(false).await.unwrap();
    assert_eq!(now["state"]["kind"], "signedOut", "{now}");
    // Signing out publishes the status again, and tells the history to reload.
    let _ = agent.controller.sign_out().await;
    // The two come from two channels, so in either order.
    let (mut status, mut reset) = (None, None);
    while status.is_none() || reset.is_none() {
        let push = next_push(&mut pushes).await;
        match push.name.as_str() {
            "status" => status = Some(push),
            "inbox" => reset = Some(push),
            other => panic!("an unexpected push {other}: {push:?}"),
        }
    }
    let (status, reset) = (status.unwrap(), reset.unwrap());
    assert_eq!(status.data["state"]["kind"], "signedOut", "{status:?}");
    assert!(status.data["label"].is_string(), "{status:?}");
    assert_eq!(reset.data, json!({"kind": "reset"}));

    // The connection is still usable after all of that.
    let status: Value = client.call(Call::Status, Value::Null).await.unwrap();
    assert_eq!(status["state"]["kind"], "signedOut");
    assert!(!client.is_closed());
}

#[tokio::test]
async fn a_shutdown_closes_every_client_and_fails_the_calls_under_way() {
    let mut agent = Agent::start("shutdown");
    // A "server" that takes the connection and never answers: a sign-in to
    // it stays under way until someone gives up.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();

    let client = Client::connect(&agent.endpoint).await.unwrap();
    let watcher = Client::connect(&agent.endpoint).await.unwrap();
    let (_, mut pushes) = watcher.subscribe(false).await.unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call::<Value>(
                    Call::SignIn,
                    json!({
                        "server": format!("http://{address}"),
                        "email": "a@example.com",
                        "password": "a password",
                    }),
                )
                .await
        }
    });
    // The sign-in reached the "server": the call is under way in the agent.
    let (_held, _) = tokio::time::timeout(WAIT, silent.accept())
        .await
        .expect("the sign-in connects to the server")
        .unwrap();
    assert!(!pending.is_finished());

    agent.shut_down();
    tokio::time::timeout(WAIT, client.closed())
        .await
        .expect("the client learns that the agent stopped");
    tokio::time::timeout(WAIT, watcher.closed())
        .await
        .expect("so does a subscriber");
    assert!(client.is_closed() && watcher.is_closed());
    let answer = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the pending call ends")
        .unwrap();
    let e = answer.expect_err("no answer from a stopped agent");
    assert_eq!(e.kind, kind::AGENT_UNAVAILABLE, "{e:?}");
    // The subscription ends too, once what was already pushed is taken.
    tokio::time::timeout(WAIT, async { while pushes.recv().await.is_some() {} })
        .await
        .expect("the subscription ends");

    // The server has returned, and nobody answers on the socket any more.
    tokio::time::timeout(WAIT, &mut agent.serving)
        .await
        .expect("the server stops")
        .unwrap();
    let e = client
        .call::<Value>(Call::Status, Value::Null)
        .await
        .expect_err("a closed client");
    assert_eq!(e.kind, kind::AGENT_UNAVAILABLE);
    let e = Client::connect(&agent.endpoint)
        .await
        .expect_err("no agent listens");
    assert_eq!(e.kind, kind::AGENT_UNAVAILABLE);
}
