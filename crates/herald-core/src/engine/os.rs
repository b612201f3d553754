//! From what the OS says to what the link does.
//!
//! - woke up: reconnect now (skip the backoff, drop a socket that is likely
//!   dead), unless the OS also says the network is down;
//! - network up: the link tries again at once, and a connection made while
//!   offline is made again (it may be a dead one);
//! - network down: the link stops trying and probing until it is up.

use tokio::sync::{mpsc, watch};

use crate::link::{Link, LinkCommand};
use crate::os_signals::OsSignal;

/// Forwards until the engine aborts it. When the monitor has nothing to say
/// (the fallback, or its bus went away) it waits for the abort, so that the
/// task's life is the engine's either way.
pub(super) async fn forward(
    mut signals: mpsc::UnboundedReceiver<OsSignal>,
    online: watch::Sender<bool>,
    link: Link,
) {
    while let Some(signal) = signals.recv().await {
        match signal {
            OsSignal::Woke if *online.borrow() => link.send(LinkCommand::NetworkUp),
            OsSignal::Woke => {}
            // From offline, the change of the watch is the link's cue (a
            // command as well would make it connect twice); already online
            // (connectivity came back), the socket may be stale: reconnect.
            OsSignal::Online if *online.borrow() => link.send(LinkCommand::NetworkUp),
            OsSignal::Online => {
                online.send_replace(true);
            }
            OsSignal::Offline => {
                online.send_replace(false);
            }
        }
    }
    std::future::pending::<()>().await;
}
