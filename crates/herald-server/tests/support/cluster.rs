//! Two nodes of one cluster in this process: one Postgres, one Redis, two
//! herald-server nodes on port 0 that share the database and the secret.

use herald_server::Config;

use super::postgres::TestPostgres;
use super::redis::RedisServer;
use super::{TestServer, WAIT};

pub struct Pair {
    pub postgres: TestPostgres,
    pub redis: RedisServer,
    pub a: TestServer,
    pub b: TestServer,
}

impl Pair {
    /// Two WebSocket-only nodes, both subscribed to Redis.
    pub async fn start() -> Pair {
        Pair::start_with(|config| config.websocket_only = true).await
    }

    pub async fn start_with(tune: impl Fn(&mut Config)) -> Pair {
        let postgres = TestPostgres::start();
        let redis = RedisServer::start().await;
        let database_url = postgres.create_database("herald");
        let node = |config: &mut Config| {
            config.database_url = Some(database_url.clone());
            config.redis_url = Some(redis.url.clone());
            tune(config);
        };
        let a = TestServer::start_with(node).await;
        let b = TestServer::join(&a, node).await;
        for server in [&a, &b] {
            wait_subscribed(server).await;
        }
        Pair {
            postgres,
            redis,
            a,
            b,
        }
    }
}

/// Waits until `server`'s `/healthz` says it hears the other nodes.
pub async fn wait_subscribed(server: &TestServer) {
    let subscribed = tokio::time::timeout(WAIT, async {
        while server.health().await["cluster"]["redisOk"] != true {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        subscribed.is_ok(),
        "not subscribed to Redis: {}",
        server.health().await
    );
}
