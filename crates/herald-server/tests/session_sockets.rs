//! Signing out closes exactly the sockets of that login: sockets carry their
//! session in their extensions (no room per session), and
//! `socket::disconnect_session` finds them.

mod support;

use herald_proto::api::Role;
use support::server::order_update;
use support::socket::Seen;
use support::{SocketClient, TestServer, WAIT};

/// Waits until `socket` is closed by the server, skipping events.
async fn closed(socket: &mut SocketClient) {
    loop {
        match socket.next(WAIT).await {
            Some(Seen::Closed) => return,
            Some(Seen::Event { .. }) => continue,
            other => panic!("expected the server to close the socket, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_logout_closes_every_socket_of_that_session_and_no_other() {
    let server = TestServer::start().await;
    let admin = server.login(&server.admin).await.token;
    let alice = server.add_user("alice@example.com", Role::User);
    let laptop = server.login(&alice).await.token;
    let phone = server.login(&alice).await.token;
    let mut laptop_a = SocketClient::connect(&server.url, Some(&laptop))
        .await
        .expect("accepted");
    let mut laptop_b = SocketClient::connect(&server.url, Some(&laptop))
        .await
        .expect("accepted");
    let mut on_phone = SocketClient::connect(&server.url, Some(&phone))
        .await
        .expect("accepted");
    let status = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&laptop)
        .send()
        .await
        .expect("logout")
        .status();
    assert_eq!(status, 204);
    closed(&mut laptop_a).await;
    closed(&mut laptop_b).await;
    assert_eq!(server.health().await["sockets"].as_u64(), Some(1));

    // The other login's socket is still connected and still gets events.
    let id = server.emit(&admin, order_update(alice.user.id, 1)).await;
    loop {
        match on_phone.next(WAIT).await {
            Some(Seen::Event { name, payload }) if name == "order_update" => {
                assert_eq!(payload["id"].as_u64(), Some(id));
                break;
            }
            Some(Seen::Event { .. }) => continue,
            other => panic!("the phone's socket should stay open, got {other:?}"),
        }
    }
}
