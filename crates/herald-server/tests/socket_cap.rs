//! Sockets per account and per login are capped, even against a hundred
//! handshakes sent at once; the refusal is `TOO_MANY_SOCKETS`, and a place
//! comes back when a socket closes.

mod support;

use futures_util::future::join_all;
use herald_proto::api::Role;
use herald_proto::socket::ConnectErrorCode;
use herald_server::socket_cap::{SOCKETS_PER_SESSION, SOCKETS_PER_USER};
use support::socket::connect_error_payload;
use support::{SocketClient, TestServer, WAIT};

/// Connects every token at once; returns the accepted sockets and the
/// refusal texts.
async fn connect_all(url: &str, tokens: &[String]) -> (Vec<SocketClient>, Vec<String>) {
    let attempts = tokens.iter().map(|t| SocketClient::connect(url, Some(t)));
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for outcome in join_all(attempts).await {
        match outcome {
            Ok(socket) => accepted.push(socket),
            Err(error) => refused.push(error),
        }
    }
    (accepted, refused)
}

fn assert_all_too_many(refused: &[String]) {
    for error in refused {
        assert_eq!(
            ConnectErrorCode::from_connect_error(&connect_error_payload(error)),
            Some(ConnectErrorCode::TooManySockets),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_sockets_for_one_user_get_the_caps_and_the_rest_too_many_sockets() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice@example.com", Role::User);
    let bob = server.add_user("bob@example.com", Role::User);
    let carol = server.add_user("carol@example.com", Role::User);

    // One stolen token, 100 handshakes at once: one login's cap.
    let token = server.login(&alice).await.token;
    let (one_login, refused) = connect_all(&server.url, &vec![token; 100]).await;
    eprintln!(
        "one token: {} accepted, {} refused",
        one_login.len(),
        refused.len()
    );
    assert_eq!(one_login.len(), SOCKETS_PER_SESSION);
    assert_eq!(refused.len(), 100 - SOCKETS_PER_SESSION);
    assert_all_too_many(&refused);
    for socket in one_login {
        socket.disconnect().await;
    }

    // Five logins, 20 handshakes each, all at once: the account's cap.
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let token = server.login(&carol).await.token;
        tokens.extend(std::iter::repeat_n(token, 20));
    }
    let (mut held, refused) = connect_all(&server.url, &tokens).await;
    eprintln!(
        "five logins: {} accepted, {} refused",
        held.len(),
        refused.len()
    );
    assert_eq!(held.len(), SOCKETS_PER_USER);
    assert_eq!(refused.len(), 100 - SOCKETS_PER_USER);
    assert_all_too_many(&refused);

    // Another account is not affected.
    let bob_token = server.login(&bob).await.token;
    let bob_socket = SocketClient::connect(&server.url, Some(&bob_token))
        .await
        .expect("another user connects");

    // A closed socket gives its place back: a new login of carol's gets in
    // once the server has seen the close.
    let newcomer = server.login(&carol).await.token;
    held.pop().expect("a held socket").disconnect().await;
    let readmitted = tokio::time::timeout(WAIT, async {
        loop {
            match SocketClient::connect(&server.url, Some(&newcomer)).await {
                Ok(socket) => break socket,
                Err(error) => {
                    assert_all_too_many(std::slice::from_ref(&error));
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    })
    .await
    .expect("a place comes back after a disconnect");
    let expected = SOCKETS_PER_USER as u64 + 1;
    let counted = tokio::time::timeout(WAIT, async {
        while server.health().await["sockets"].as_u64() != Some(expected) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        counted.is_ok(),
        "carol's 20 and bob's one open, alice's closed: {}",
        server.health().await["sockets"]
    );
    readmitted.disconnect().await;
    bob_socket.disconnect().await;
    for socket in held {
        socket.disconnect().await;
    }
}
