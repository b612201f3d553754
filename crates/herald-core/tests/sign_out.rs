//! Signing out ends the session on the server even after the access token
//! has expired (the server takes the session from the expired token's
//! signed claims, or from the refresh token sent with it). Before, the
//! server refused the expired bearer without reading the body, the client
//! took that 401 as done and deleted its copy, and the refresh token still
//! worked for 30 days.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use herald_core::config::Settings;
use herald_core::secret::SecretStore;
use herald_core::session::{self, SessionError};
use herald_proto::api::Role;
use support::{Device, Hub, WAIT};

#[tokio::test]
async fn signing_out_with_an_expired_access_token_kills_the_refresh_token() {
    let hub = Hub::start(|c| c.access_ttl = Duration::from_secs(1)).await;
    hub.add_user("alice@example.com", Role::User);
    let device = Device::sign_in(&hub, "alice@example.com").await;
    let store = device.store.clone() as Arc<dyn SecretStore>;
    let settings = Settings::load(&device.paths).unwrap();
    let (_, _, tokens) = session::stored_tokens(&settings, store.clone())
        .await
        .unwrap();
    let refresh = tokens
        .refresh
        .clone()
        .expect("herald-server gives a refresh token");

    // Until the server itself refuses the access token as expired.
    let deadline = tokio::time::Instant::now() + WAIT;
    while hub.get("/api/notifications?after=0", &tokens.access).await != 401 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the access token never expired"
        );
        tokio::task::yield_now().await;
    }

    session::sign_out(&device.paths, store.clone())
        .await
        .unwrap();
    assert!(matches!(
        session::stored_tokens(&settings, store).await,
        Err(SessionError::NotSignedIn)
    ));
    assert_eq!(
        hub.refresh_status(&refresh).await,
        401,
        "the refresh token still works after signing out"
    );
}
