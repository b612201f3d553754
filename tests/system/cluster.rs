//! herald-server as two nodes on one Postgres and one Redis, with the real
//! `herald` CLI as the client: a node killed, or Redis restarted, in the
//! middle of a burst loses nothing, measured as the client's history equal
//! to the ids the cluster stored.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use herald_system_tests::balancer::Balancer;
use herald_system_tests::client::Herald;
use herald_system_tests::inbox::server_ids;
use herald_system_tests::postgres::TestPostgres;
use herald_system_tests::redis::RedisServer;
use herald_system_tests::server::{ServerProcess, order_update};
use herald_system_tests::{WAIT, wait_for};
use tokio::sync::RwLock;

const N: usize = 4000;

struct Cluster {
    _postgres: TestPostgres,
    redis: RedisServer,
    nodes: Vec<Arc<RwLock<ServerProcess>>>,
}

impl Cluster {
    async fn start() -> Cluster {
        let postgres = TestPostgres::start();
        let database_url = postgres.create_database("herald");
        let redis = RedisServer::start().await;
        let mut nodes = Vec::new();
        for _ in 0..2 {
            let node = ServerProcess::start_node(&database_url, &redis.url).await;
            nodes.push(Arc::new(RwLock::new(node)));
        }
        let cluster = Cluster {
            _postgres: postgres,
            redis,
            nodes,
        };
        for i in 0..2 {
            cluster.wait_subscribed(i).await;
        }
        cluster
    }

    async fn wait_subscribed(&self, i: usize) {
        let node = self.nodes[i].clone();
        wait_for("the node to hear the others", WAIT, || {
            let node = node.clone();
            async move {
                let url = format!("{}/healthz", node.read().await.url);
                let health: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
                (health["cluster"]["redisOk"] == true).then_some(())
            }
        })
        .await;
    }

    async fn addr(&self, i: usize) -> std::net::SocketAddr {
        let port = self.nodes[i].read().await.port;
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// Posts `N` orders for `user` from 16 senders, each to the node `pick`
/// names for its lane, or to the other one when that node does not answer;
/// counts what is stored in `done`.
fn burst(
    cluster: &Cluster,
    admin: &str,
    user: u64,
    pick: fn(usize) -> usize,
    done: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..16)
        .map(|lane| {
            let nodes = cluster.nodes.clone();
            let (admin, done) = (admin.to_owned(), done.clone());
            tokio::spawn(async move {
                for n in (lane..N).step_by(16) {
                    let body = order_update(user, n as u64);
                    let mut node = pick(lane);
                    loop {
                        if nodes[node]
                            .read()
                            .await
                            .try_emit(&admin, &body)
                            .await
                            .is_some()
                        {
                            break;
                        }
                        node = 1 - node;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

/// Waits until `herald`'s history holds every order the cluster stored for
/// it, and checks it holds exactly those, each once.
async fn history_matches(herald: &Herald, account_url: &str, stored: &BTreeSet<u64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let inbox = loop {
        let ids = server_ids(herald, account_url, "order_update");
        if ids.len() >= stored.len() {
            break ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the history holds {} of {} stored orders",
            ids.len(),
            stored.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ids: BTreeSet<u64> = inbox.keys().copied().collect();
    assert_eq!(&ids, stored, "the history holds exactly the stored ids");
    assert!(inbox.values().all(|&n| n == 1), "no id twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_burst_loses_nothing_for_a_client_that_moves_to_the_other() {
    let cluster = Cluster::start().await;
    let (admin, alice_pw, alice) = {
        let a = cluster.nodes[0].read().await;
        let (admin_pw, _) = a.add_user("admin@example.com", "admin");
        let (alice_pw, alice) = a.add_user("alice@example.com", "user");
        (
            a.token("admin@example.com", &admin_pw).await,
            alice_pw,
            alice,
        )
    };
    // The balancer sends every connection to node a while it is up.
    let balancer = Balancer::start(vec![cluster.addr(0).await, cluster.addr(1).await]).await;
    let herald = Herald::new("cluster-kill");
    herald
        .login_ok(&balancer.url, "alice@example.com", &alice_pw)
        .await;
    let mut listen = herald.listen(&["--json", "--no-desktop"]);
    listen.wait_status("Connected").await;
    assert_eq!(
        balancer.forwarded(1),
        0,
        "node b took a connection while a was up"
    );

    let done = Arc::new(AtomicUsize::new(0));
    let senders = burst(&cluster, &admin, alice, |lane| lane % 2, done.clone());
    wait_for("1500 events stored", Duration::from_secs(120), || async {
        (done.load(Ordering::Relaxed) >= 1500).then_some(())
    })
    .await;
    cluster.nodes[0].write().await.kill9();
    for sender in senders {
        sender.await.expect("sender");
    }

    let b = cluster.nodes[1].read().await;
    let stored = b
        .stored_ids(
            &b.token("alice@example.com", &alice_pw).await,
            "order_update",
        )
        .await;
    assert!(stored.len() >= N, "{} stored", stored.len());
    history_matches(&herald, &balancer.url, &stored).await;
    assert!(balancer.forwarded(1) > 0, "the client never reached node b");
    let (status, _) = listen.stop().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_burst_loses_nothing_for_a_client_of_the_other_node() {
    let mut cluster = Cluster::start().await;
    let (admin, alice_pw, alice, a_url) = {
        let a = cluster.nodes[0].read().await;
        let (admin_pw, _) = a.add_user("admin@example.com", "admin");
        let (alice_pw, alice) = a.add_user("alice@example.com", "user");
        (
            a.token("admin@example.com", &admin_pw).await,
            alice_pw,
            alice,
            a.url.clone(),
        )
    };
    // The client is on node a; every event is stored by node b.
    let herald = Herald::new("cluster-redis");
    herald
        .login_ok(&a_url, "alice@example.com", &alice_pw)
        .await;
    let mut listen = herald.listen(&["--json", "--no-desktop"]);
    listen.wait_status("Connected").await;

    let done = Arc::new(AtomicUsize::new(0));
    let senders = burst(&cluster, &admin, alice, |_| 1, done.clone());
    wait_for("1500 events stored", Duration::from_secs(120), || async {
        (done.load(Ordering::Relaxed) >= 1500).then_some(())
    })
    .await;
    cluster.redis.restart().await;
    for sender in senders {
        sender.await.expect("sender");
    }

    let stored = {
        let a = cluster.nodes[0].read().await;
        a.stored_ids(
            &a.token("alice@example.com", &alice_pw).await,
            "order_update",
        )
        .await
    };
    assert!(stored.len() >= N, "{} stored", stored.len());
    history_matches(&herald, &a_url, &stored).await;
    cluster.wait_subscribed(0).await;
    let (status, _) = listen.stop().await;
    assert!(status.success());
}
