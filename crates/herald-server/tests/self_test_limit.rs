//! `POST /api/notifications/test` runs once per user per period, however
//! many calls arrive at once; the rest get 429 JSON with `Retry-After`.

mod support;

use futures_util::future::join_all;
use herald_proto::api::Role;
use serde_json::Value;
use support::TestServer;

async fn self_test(server: &TestServer, token: &str) -> (u16, Option<String>, Value) {
    let response = server
        .http
        .post(server.url("/api/notifications/test"))
        .bearer_auth(token)
        .send()
        .await
        .expect("self-test request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Events `token`'s user can see, less the sign-in's own login alert.
async fn stored_events(server: &TestServer, token: &str) -> usize {
    server
        .catch_up(token, 0, 1000)
        .await
        .items
        .len()
        .saturating_sub(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_self_tests_run_once_and_the_rest_get_429() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let bob = server.add_user("bob@example.com", Role::User);
    let token = server.login(&alice).await.token;

    let started = std::time::Instant::now();
    let answers = join_all((0..100).map(|_| self_test(&server, &token))).await;
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let limited: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    let stored = stored_events(&server, &token).await;
    eprintln!(
        "100 self-tests in {:?}: {ok} ran, {} got 429, {stored} events stored",
        started.elapsed(),
        limited.len()
    );
    assert_eq!(ok, 1, "one call runs");
    assert_eq!(limited.len(), 99, "every other call is refused");
    for (_, retry_after, body) in &limited {
        assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
        let secs: u64 = retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds");
        assert!((1..=10).contains(&secs), "Retry-After {secs}");
    }
    assert_eq!(
        stored,
        herald_proto::EventType::ALL.len(),
        "one run's events"
    );

    // The limit is per user: bob's first call runs.
    let bob_token = server.login(&bob).await.token;
    let (status, _, body) = self_test(&server, &bob_token).await;
    assert_eq!(status, 200, "{body}");
}
