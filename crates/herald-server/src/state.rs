//! The state every request handler shares.

use std::sync::Arc;

use socketioxide::SocketIo;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::cooldown::Cooldown;
use crate::fanout::Fanout;
use crate::hash_gate::HashGate;
use crate::hub::Hub;
use crate::login_info::GeoIp;
use crate::push::{EndpointGuard, Vapid};
use crate::rate_limit::Limiter;
use crate::store::Db;
use crate::token::TokenKeys;

#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub keys: TokenKeys,
    pub hub: Hub,
    pub io: SocketIo,
    pub limiter: Limiter,
    /// The other nodes (`--redis-url`); `None` on a single node.
    pub cluster: Option<Cluster>,
    /// One self-test per user per [`Config::self_test_every`].
    pub self_tests: Cooldown,
    pub hashes: HashGate,
    pub fanout: Fanout,
    pub vapid: Arc<Vapid>,
    /// Vets push endpoints when they are saved (the sender vets them again).
    pub push_guard: EndpointGuard,
    pub geoip: Option<Arc<GeoIp>>,
    /// Socket.IO connect attempts so far (the handshake middleware counts).
    pub socket_handshakes: Arc<std::sync::atomic::AtomicU64>,
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
