//! Stand-ins for logind and NetworkManager: one connection that owns both
//! names on the bus the engine takes for its system bus, answers
//! NetworkManager's `State` and `Connectivity` properties, and emits the real
//! signals (`PrepareForSleep`, `StateChanged`, `PropertiesChanged`) when told.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::StreamExt;
use herald_core::os_signals::names::{
    LOGIND, LOGIND_MANAGER, LOGIND_PATH, NM, NM_PATH, PROPERTIES,
};
use zbus::message::Type as MessageType;
use zbus::{Connection, MessageStream, Variant};

/// `NM_STATE_CONNECTED_GLOBAL` and `NM_STATE_DISCONNECTED`.
pub const NM_CONNECTED: u32 = 70;
pub const NM_DISCONNECTED: u32 = 20;
/// `NM_CONNECTIVITY_FULL` and `NM_CONNECTIVITY_NONE`.
const FULL: u32 = 4;
const NONE: u32 = 1;

pub struct StandIns {
    bus: Connection,
    state: Arc<AtomicU32>,
}

impl StandIns {
    /// Owns both names on the system bus (`DBUS_SYSTEM_BUS_ADDRESS`), with
    /// NetworkManager in `state`.
    pub async fn start(state: u32) -> StandIns {
        let bus = Connection::system().await.expect("the stand-ins' bus");
        let state = Arc::new(AtomicU32::new(state));
        // Listening before the names are owned: a Get may come at once.
        let mut calls = MessageStream::from(&bus);
        let (answering, answered) = (bus.clone(), state.clone());
        tokio::spawn(async move {
            while let Some(Ok(call)) = calls.next().await {
                let header = call.header();
                if header.message_type() != MessageType::MethodCall
                    || header.interface().map(|i| i.as_str()) != Some(PROPERTIES)
                {
                    continue;
                }
                let Ok((_, name)) = call.body().deserialize::<(String, String)>() else {
                    continue;
                };
                let state = answered.load(Ordering::SeqCst);
                let value = match name.as_str() {
                    "State" => state,
                    "Connectivity" => connectivity(state),
                    _ => 0,
                };
                let _ = answering.reply(&header, &Variant::from(value)).await;
            }
        });
        bus.request_name(LOGIND).await.expect("own logind's name");
        bus.request_name(NM)
            .await
            .expect("own NetworkManager's name");
        StandIns { bus, state }
    }

    pub async fn prepare_for_sleep(&self, starting: bool) {
        self.bus
            .emit_signal(
                None::<&str>,
                LOGIND_PATH,
                LOGIND_MANAGER,
                "PrepareForSleep",
                &(starting,),
            )
            .await
            .expect("emit PrepareForSleep");
    }

    /// Changes NetworkManager's state, and says so as NetworkManager does:
    /// `StateChanged`, then the properties (with the connectivity).
    pub async fn set_network(&self, state: u32) {
        self.state.store(state, Ordering::SeqCst);
        self.bus
            .emit_signal(None::<&str>, NM_PATH, NM, "StateChanged", &(state,))
            .await
            .expect("emit StateChanged");
        let changed: HashMap<&str, Variant<'_>> = HashMap::from([
            ("State", Variant::from(state)),
            ("Connectivity", Variant::from(connectivity(state))),
        ]);
        self.bus
            .emit_signal(
                None::<&str>,
                NM_PATH,
                PROPERTIES,
                "PropertiesChanged",
                &(NM, changed, Vec::<String>::new()),
            )
            .await
            .expect("emit PropertiesChanged");
    }
}

fn connectivity(state: u32) -> u32 {
    if state >= 50 { FULL } else { NONE }
}
