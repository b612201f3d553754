//! A D-Bus monitor on the session bus (`BecomeMonitor`): it sees the
//! messages `rules` match as they went over the bus, whoever sent them.

use std::collections::HashMap;

use zbus::{Connection, MessageStream, OwnedVariant};

/// The arguments of `org.freedesktop.Notifications.Notify`.
pub type NotifyArgs = (
    String,
    u32,
    String,
    String,
    String,
    Vec<String>,
    HashMap<String, OwnedVariant>,
    i32,
);

/// The monitor's connection (keep it) and the stream of what it sees.
pub async fn become_monitor(rules: &[&str]) -> (Connection, MessageStream) {
    let bus = Connection::session().await.expect("connect the monitor");
    let stream = MessageStream::from(&bus);
    let () = bus
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus.Monitoring"),
            "BecomeMonitor",
            &(rules, 0u32),
        )
        .await
        .expect("become a monitor")
        .body()
        .deserialize()
        .expect("BecomeMonitor returns nothing");
    (bus, stream)
}
