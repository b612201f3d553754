//! herald-server on Postgres while Postgres is stopped: it refuses new work
//! with a clear 503 instead of accepting events it cannot store, `/healthz`
//! says why, and service resumes by itself when Postgres returns.

mod support;

use std::time::Duration;

use herald_proto::api::Role;
use serde_json::Value;
use support::postgres::TestPostgres;
use support::server::order_update;
use support::{TestServer, WAIT};

#[tokio::test]
async fn with_postgres_stopped_posts_get_503_health_says_why_and_service_resumes() {
    let postgres = TestPostgres::start();
    let url = postgres.create_database("herald");
    let server = TestServer::start_with(|c| c.database_url = Some(url.clone())).await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let before = server.emit(&admin, order_update(alice.user.id, 1)).await;

    postgres.stop();
    let started = std::time::Instant::now();
    let refused = server
        .http
        .post(server.url("/api/events"))
        .bearer_auth(&admin)
        .json(&order_update(alice.user.id, 2))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 503);
    assert!(
        started.elapsed() < WAIT,
        "the refusal took {:?}",
        started.elapsed()
    );
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");

    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["database"]["backend"], "postgres", "{health}");
    assert_eq!(health["database"]["reachable"], false, "{health}");
    assert!(
        health["database"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{health}"
    );

    postgres.start_again();
    // The pool connects again by itself: posts succeed within the wait.
    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let response = server
            .http
            .post(server.url("/api/events"))
            .bearer_auth(&admin)
            .json(&order_update(alice.user.id, 3))
            .send()
            .await
            .expect("post");
        if response.status() == 201 {
            break response.json::<Value>().await.expect("json")["id"]
                .as_u64()
                .expect("id");
        }
        assert_eq!(response.status(), 503, "only 503 while the pool reconnects");
        assert!(
            tokio::time::Instant::now() < deadline,
            "service did not resume"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(after > before);
    assert_eq!(server.health().await["database"]["reachable"], true);
    let token = server.login(&alice).await.token;
    let ids: Vec<u64> = server
        .catch_up(&token, 0, 100)
        .await
        .items
        .iter()
        .map(|i| i.event.id)
        .collect();
    assert!(ids.contains(&before) && ids.contains(&after), "{ids:?}");
}
