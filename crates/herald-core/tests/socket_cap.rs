//! A server at its socket cap for the account: the engine says so in words,
//! keeps its session (no renewal, no sign-out: the token is fine), and
//! connects as soon as a place is free.

mod support;

use std::sync::Arc;

use herald_core::config::Settings;
use herald_core::secret::{SecretStore, Tokens};
use herald_core::session;
use herald_core::status::ConnectionState;
use herald_proto::api::Role;
use herald_server::socket_cap::SocketLimits;
use support::{Device, Hub, fast_link, until};

async fn tokens(device: &Device) -> Tokens {
    let settings = Settings::load(&device.paths).unwrap_or_else(|e| panic!("{e}"));
    let store = device.store.clone() as Arc<dyn SecretStore>;
    let (_, _, tokens) = session::stored_tokens(&settings, store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokens
}

#[tokio::test]
async fn a_full_account_is_waited_out_with_the_same_session() {
    let hub = Hub::start(|c| {
        c.sockets = SocketLimits {
            per_user: 1,
            per_session: 1,
        };
    })
    .await;
    hub.add_user("alice@example.com", Role::User);
    let laptop = Device::sign_in(&hub, "alice@example.com").await;
    let desktop = Device::sign_in(&hub, "alice@example.com").await;

    let first = laptop.start(fast_link()).await;
    let mut first_status = first.status();
    until(&mut first_status, "the laptop connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;

    // The desktop finds the account's one place taken.
    let before = tokens(&desktop).await;
    let second = desktop.start(fast_link()).await;
    let mut status = second.status();
    let waiting = until(&mut status, "the refusal's reason", |s| {
        s.reason()
            .is_some_and(|r| r.contains("too many connections"))
    })
    .await;
    assert!(
        matches!(
            waiting.state,
            ConnectionState::Backoff { .. } | ConnectionState::Connecting
        ),
        "{waiting:?}"
    );
    assert!(
        waiting.label().contains("too many connections"),
        "{}",
        waiting.label()
    );

    // A place frees up: the desktop connects, with the tokens it had (a
    // refusal for a full account is not an auth failure: nothing renewed).
    first.shutdown().await;
    until(&mut status, "the desktop connected", |s| {
        s.state == ConnectionState::Connected
    })
    .await;
    assert!(tokens(&desktop).await == before, "the tokens were renewed");
    second.shutdown().await;
}
