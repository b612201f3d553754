//! Logins under attack, sent the way an attacker sends them: all at once.
//! The failure limit holds under concurrency, hashing is bounded in memory,
//! and oversized or numerous emails cannot grow the server.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use herald_proto::api::Role;
use herald_server::LoginLimit;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestServer;
use support::process::ServerProcess;

/// One answer: its status, its `Retry-After` and its JSON body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

async fn login(http: &reqwest::Client, url: &str, email: &str, password: &str) -> Answer {
    let response = http
        .post(url)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login request");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn health(server: &TestServer) -> Value {
    server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_wrong_passwords_get_at_most_the_limit_and_then_the_right_one_waits() {
    const LIMIT: u32 = 5;
    const N: usize = 40;
    let server = TestServer::start_with(|c| {
        c.login_limit = LoginLimit {
            max_failures: LIMIT,
            window: Duration::from_secs(600),
            ..LoginLimit::default()
        }
    })
    .await;
    let alice = server.add_user("alice@example.com", Role::User);
    let url = server.url("/api/auth/login");
    let mut wrong: FuturesUnordered<_> = (0..N)
        .map(|n| {
            let (http, url) = (server.http.clone(), url.clone());
            async move { login(&http, &url, "alice@example.com", &format!("guess-{n}")).await }
        })
        .collect();
    let mut answers = Vec::new();
    let mut right = None;
    while let Some(answer) = wrong.next().await {
        // Once the limit is hit, the right password joins the attack's
        // requests still in flight: it must wait as they do.
        if answer.status == StatusCode::TOO_MANY_REQUESTS && right.is_none() {
            let (http, url, password) = (server.http.clone(), url.clone(), alice.password.clone());
            right = Some(tokio::spawn(async move {
                login(&http, &url, "alice@example.com", &password).await
            }));
        }
        answers.push(answer);
    }
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let throttled: Vec<_> = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    eprintln!(
        "{N} concurrent wrong passwords: {refused} × 401, {} × 429",
        throttled.len()
    );
    assert!(refused <= LIMIT as usize, "{refused} guesses were checked");
    assert_eq!(refused + throttled.len(), N, "{answers:?}");
    for answer in &throttled {
        assert_eq!(answer.body["error"]["code"], "too_many_requests");
        assert!(answer.retry_after.is_some_and(|s| (1..=600).contains(&s)));
    }
    let right = right.expect("the limit was hit").await.expect("task");
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "{right:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_logins_keep_the_servers_memory_bounded() {
    /// Growth of the server's peak RSS allowed: 200 MiB (64 unbounded
    /// Argon2 checks took 1.2 GiB).
    const MAX_GROWTH_KIB: u64 = 200 * 1024;
    const N: usize = 64;
    let server = ServerProcess::start();
    let http = reqwest::Client::new();
    let url = server.url("/api/auth/login");
    // One login first, so the baseline has paid for its first hash.
    let warm = login(&http, &url, "warm@example.com", "wrong password").await;
    assert_eq!(warm.status, StatusCode::UNAUTHORIZED);
    let before = server.status_kib("VmRSS");
    let answers = futures_util::future::join_all((0..N).map(|n| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            login(
                &http,
                &url,
                &format!("nobody{n}@example.com"),
                "wrong password",
            )
            .await
        }
    }))
    .await;
    let peak = server.status_kib("VmHWM");
    let count = |status| answers.iter().filter(|a| a.status == status).count();
    eprintln!(
        "{N} concurrent logins: RSS {} MiB before, peak {} MiB; {} × 401, {} × 503",
        before / 1024,
        peak / 1024,
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::SERVICE_UNAVAILABLE)
    );
    for answer in &answers {
        match answer.status {
            StatusCode::UNAUTHORIZED => {
                assert_eq!(answer.body["error"]["code"], "invalid_credentials")
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(answer.body["error"]["code"], "too_many_requests")
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.body["error"]["code"], "busy");
                assert!(answer.retry_after.is_some(), "503 without Retry-After");
            }
            other => panic!("unexpected {other}: {answer:?}"),
        }
    }
    assert!(
        count(StatusCode::UNAUTHORIZED) >= herald_server::config::HASH_SLOTS,
        "the logins that got a slot were checked"
    );
    assert!(
        peak.saturating_sub(before) < MAX_GROWTH_KIB,
        "peak RSS grew by {} MiB",
        peak.saturating_sub(before) / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_emails_get_400_before_the_limiter_and_its_keys_stay_capped() {
    const MAX_KEYS: usize = 8;
    let server = TestServer::start_with(|c| {
        c.login_limit = LoginLimit {
            max_keys: MAX_KEYS,
            ..LoginLimit::default()
        };
        // Slow hashes on a busy test machine must not turn into 503s here.
        c.hashing.wait = support::WAIT;
    })
    .await;
    let url = server.url("/api/auth/login");
    let huge = format!("{}@example.com", "a".repeat(60_000));
    let just_over = format!("{}@example.com", "b".repeat(243));
    assert_eq!(just_over.len(), 255);
    let answers = futures_util::future::join_all((0..50).map(|n| {
        let (http, url) = (server.http.clone(), url.clone());
        let email = if n % 2 == 0 {
            format!("{n}{huge}")
        } else {
            just_over.clone()
        };
        async move { login(&http, &url, &email, "wrong password").await }
    }))
    .await;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
        assert_eq!(answer.body["error"]["code"], "email_too_long");
    }
    assert_eq!(health(&server).await["loginThrottleKeys"], 0);

    // 254 bytes is still an email; and many distinct ones keep the cap.
    let longest = format!("{}@example.com", "c".repeat(242));
    assert_eq!(longest.len(), 254);
    assert_eq!(
        login(&server.http, &url, &longest, "wrong password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let answers = futures_util::future::join_all((0..12).map(|n| {
        let (http, url) = (server.http.clone(), url.clone());
        async move {
            login(
                &http,
                &url,
                &format!("user{n}@example.com"),
                "wrong password",
            )
            .await
        }
    }))
    .await;
    assert!(
        answers.iter().all(|a| a.status == StatusCode::UNAUTHORIZED),
        "{answers:?}"
    );
    let keys = health(&server).await["loginThrottleKeys"]
        .as_u64()
        .expect("loginThrottleKeys");
    assert!(keys <= MAX_KEYS as u64, "{keys} keys tracked");
}
