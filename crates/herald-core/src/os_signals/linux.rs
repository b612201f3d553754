//! logind and NetworkManager on the system bus.
//!
//! zbus's system-bus connection honours `DBUS_SYSTEM_BUS_ADDRESS`, so the
//! same code talks to the real services or to stand-ins on another bus. A
//! signal counts only when it comes from the current owner of the service's
//! name: anyone on a bus may send a signal that looks like logind's.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::{BoxStream, select_all};
use tokio::sync::mpsc;
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedVariant};

use super::names::{LOGIND, LOGIND_MANAGER, LOGIND_PATH, NM, NM_PATH, PROPERTIES};
use super::{Monitor, OsSignal, Watch};

const BUS: &str = "org.freedesktop.DBus";

/// NetworkManager's `NM_STATE_CONNECTED_LOCAL`: from here up a server on
/// the local network may be reachable; below it (asleep, disconnected,
/// disconnecting, connecting) nothing is. `NM_STATE_UNKNOWN` (0) says nothing.
const NM_CONNECTED_LOCAL: u32 = 50;
/// NetworkManager's `NM_CONNECTIVITY_FULL`: the internet is reachable.
const NM_CONNECTIVITY_FULL: u32 = 4;

/// How long the start may take before the engine goes on with the fallback.
const START_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether NetworkManager's `state` means online; `None` for unknown.
fn nm_online(state: u32) -> Option<bool> {
    (state != 0).then_some(state >= NM_CONNECTED_LOCAL)
}

async fn has_owner(bus: &Connection, name: &str) -> bool {
    owner_of(bus, name).await.is_some()
}

/// The unique name that owns `name`, if anyone does.
async fn owner_of(bus: &Connection, name: &str) -> Option<String> {
    let reply = bus
        .call_method(
            Some(BUS),
            "/org/freedesktop/DBus",
            Some(BUS),
            "GetNameOwner",
            &(name,),
        )
        .await
        .ok()?;
    reply.body().deserialize::<String>().ok()
}

/// Which services are on the system bus.
pub(super) async fn detect() -> Monitor {
    match Connection::system().await {
        Ok(bus) => Monitor {
            logind: has_owner(&bus, LOGIND).await,
            network_manager: has_owner(&bus, NM).await,
        },
        Err(_) => Monitor::FALLBACK,
    }
}

fn signal_rule(
    path: &'static str,
    interface: &'static str,
    member: &'static str,
) -> zbus::Result<MatchRule<'static>> {
    MatchRule::builder()
        .msg_type(MessageType::Signal)
        .path(path)
        .interface(interface)
        .member(member)
        .build()
}

/// Connects, subscribes, reads NetworkManager's state and starts the task
/// that turns signals into [`OsSignal`]s; `None` means the fallback.
pub(super) async fn start() -> Option<Watch> {
    let started = tokio::time::timeout(START_TIMEOUT, async {
        let bus = Connection::system().await.ok()?;
        let monitor = Monitor {
            logind: has_owner(&bus, LOGIND).await,
            network_manager: has_owner(&bus, NM).await,
        };
        if monitor == Monitor::FALLBACK {
            return None;
        }
        // Subscribed before the state is read, so no change falls between.
        let mut streams: Vec<BoxStream<'static, zbus::Result<Message>>> = Vec::new();
        let mut rules = Vec::new();
        if monitor.logind {
            rules.push(signal_rule(LOGIND_PATH, LOGIND_MANAGER, "PrepareForSleep"));
        }
        if monitor.network_manager {
            rules.push(signal_rule(NM_PATH, NM, "StateChanged"));
            rules.push(signal_rule(NM_PATH, PROPERTIES, "PropertiesChanged"));
        }
        for rule in rules {
            let stream = MessageStream::for_match_rule(rule.ok()?, &bus, None)
                .await
                .ok()?;
            streams.push(stream.boxed());
        }
        let (online, connectivity) = if monitor.network_manager {
            (
                nm_property(&bus, "State").await.and_then(nm_online),
                nm_property(&bus, "Connectivity").await.unwrap_or(0),
            )
        } else {
            (None, 0)
        };
        Some((bus, monitor, online, connectivity, streams))
    })
    .await
    .ok()??;
    let (bus, monitor, online, connectivity, streams) = started;
    let (tx, signals) = mpsc::unbounded_channel();
    tracing::info!(
        monitor = monitor.describe(),
        ?online,
        "watching the OS for sleep and the network"
    );
    let state = State {
        online: online.unwrap_or(true),
        connectivity,
    };
    tokio::spawn(run(bus, select_all(streams), state, tx));
    Some(Watch {
        monitor,
        online: online.unwrap_or(true),
        signals,
    })
}

async fn nm_property(bus: &Connection, name: &str) -> Option<u32> {
    let reply = bus
        .call_method(Some(NM), NM_PATH, Some(PROPERTIES), "Get", &(NM, name))
        .await
        .ok()?;
    let value: OwnedVariant = reply.body().deserialize().ok()?;
    u32::try_from(&value).ok()
}

/// What one signal means, before checking who sent it: the service it
/// claims to come from, and what it says.
enum Said {
    Sleep { starting: bool },
    NmState(u32),
    NmConnectivity(u32),
}

fn parse(message: &Message) -> Vec<Said> {
    let header = message.header();
    let (Some(interface), Some(member)) = (header.interface(), header.member()) else {
        return Vec::new();
    };
    let body = message.body();
    match (interface.as_str(), member.as_str()) {
        (LOGIND_MANAGER, "PrepareForSleep") => body
            .deserialize::<(bool,)>()
            .map(|(starting,)| vec![Said::Sleep { starting }])
            .unwrap_or_default(),
        (NM, "StateChanged") => body
            .deserialize::<(u32,)>()
            .map(|(state,)| vec![Said::NmState(state)])
            .unwrap_or_default(),
        (PROPERTIES, "PropertiesChanged") => {
            type Changed = (String, HashMap<String, OwnedVariant>, Vec<String>);
            let Ok((interface, changed, _)) = body.deserialize::<Changed>() else {
                return Vec::new();
            };
            if interface != NM {
                return Vec::new();
            }
            let value = |name: &str| changed.get(name).and_then(|v| u32::try_from(v).ok());
            let state = value("State").map(Said::NmState);
            let connectivity = value("Connectivity").map(Said::NmConnectivity);
            state.into_iter().chain(connectivity).collect()
        }
        _ => Vec::new(),
    }
}

/// What the network was, last we heard.
struct State {
    online: bool,
    connectivity: u32,
}

/// Turns signals into [`OsSignal`]s until the bus goes away or the receiver
/// is dropped. Only changes are sent: a state that stays online says nothing.
async fn run(
    bus: Connection,
    mut messages: impl futures_util::Stream<Item = zbus::Result<Message>> + Unpin,
    state: State,
    tx: mpsc::UnboundedSender<OsSignal>,
) {
    let State {
        mut online,
        mut connectivity,
    } = state;
    let mut owners: HashMap<&'static str, String> = HashMap::new();
    while let Some(message) = messages.next().await {
        let Ok(message) = message else { continue };
        for said in parse(&message) {
            let service = match said {
                Said::Sleep { .. } => LOGIND,
                Said::NmState(_) | Said::NmConnectivity(_) => NM,
            };
            let sender = message.header().sender().map(|s| s.as_str().to_owned());
            if sender.is_none() || owners.get(service) != sender.as_ref() {
                // The owner may have changed (a restarted service): ask again.
                match owner_of(&bus, service).await {
                    Some(owner) if Some(&owner) == sender.as_ref() => {
                        owners.insert(service, owner);
                    }
                    _ => {
                        tracing::debug!(?sender, service, "ignoring a signal not from the service");
                        continue;
                    }
                }
            }
            let signal = match said {
                Said::Sleep { starting: true } => {
                    tracing::info!("the machine is going to sleep");
                    None
                }
                Said::Sleep { starting: false } => Some(OsSignal::Woke),
                Said::NmState(state) => match nm_online(state) {
                    Some(now) if now != online => {
                        online = now;
                        // A network that just came up counts as fully
                        // connected until NetworkManager says otherwise, so
                        // its connectivity report does not reconnect again.
                        connectivity = NM_CONNECTIVITY_FULL;
                        Some(if now {
                            OsSignal::Online
                        } else {
                            OsSignal::Offline
                        })
                    }
                    _ => None,
                },
                Said::NmConnectivity(level) => {
                    let rose = online
                        && level == NM_CONNECTIVITY_FULL
                        && connectivity != NM_CONNECTIVITY_FULL;
                    connectivity = level;
                    // Full connectivity again (a captive portal passed, a
                    // route came back): whatever the socket was, try now.
                    rose.then_some(OsSignal::Online)
                }
            };
            if let Some(signal) = signal {
                tracing::info!(?signal, "the OS says");
                if tx.send(signal).is_err() {
                    return;
                }
            }
        }
    }
    tracing::info!("the system bus went away; sleep and network are now the clock check's");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_manager_states_map_to_online() {
        assert_eq!(nm_online(0), None, "unknown says nothing");
        for offline in [10, 20, 30, 40] {
            assert_eq!(nm_online(offline), Some(false), "{offline}");
        }
        for online in [50, 60, 70] {
            assert_eq!(nm_online(online), Some(true), "{online}");
        }
    }
}
