//! Start-up and shutdown: the [`Server`] the binary and the tests run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use herald_proto::api::{Role, User};
use tokio::net::TcpListener;

use crate::cluster::limit::SharedLimiter;
use crate::cluster::{Cluster, ClusterParts};
use crate::config::Config;
use crate::cooldown::Cooldown;
use crate::error::ServerError;
use crate::fanout::Fanout;
use crate::hash_gate::HashGate;
use crate::hub::{Delivery, Hub, HubStats};
use crate::login_info::GeoIp;
use crate::mail::Mailer;
use crate::push::{EndpointGuard, PushSender, Vapid};
use crate::rate_limit::{Limiter, LoginLimiter};
use crate::socket::{self, SocketState};
use crate::socket_cap::SocketCap;
use crate::state::{AppState, Inner};
use crate::store::Db;
use crate::token::{TokenKeys, load_or_create_secret};
use crate::{api, demo, password, prune};

/// An opened server: data directory read, keys loaded, not yet listening.
#[derive(Debug)]
pub struct Server {
    config: Config,
    db: Db,
    keys: TokenKeys,
    vapid: Arc<Vapid>,
    geoip: Option<Arc<GeoIp>>,
    mailer: Option<Arc<Mailer>>,
}

impl Server {
    /// Opens the data directory (creating it), the database, the JWT secret,
    /// the VAPID keys, and the optional GeoIP database and SMTP transport.
    pub async fn open(config: Config) -> Result<Server, ServerError> {
        let dir = &config.data_dir;
        crate::fsutil::create_private_dir(dir).map_err(|source| ServerError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
        let db = match &config.database_url {
            Some(url) => Db::connect_postgres(url).await?,
            None => Db::open(dir)?,
        };
        let secret = load_or_create_secret(dir, config.jwt_secret.as_deref())?;
        let keys = TokenKeys::new(&secret);
        let vapid = Arc::new(Vapid::load_or_create(dir)?);
        let geoip = config
            .geoip_db
            .as_deref()
            .map(GeoIp::open)
            .transpose()?
            .map(Arc::new);
        let mailer = config
            .smtp_url
            .as_deref()
            .map(|url| Mailer::from_url(url, &config.mail_from))
            .transpose()?
            .map(Arc::new);
        Ok(Server {
            config,
            db,
            keys,
            vapid,
            geoip,
            mailer,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Adds an account, for the CLI, `--demo` and tests, before
    /// [`Server::run`]. It hashes the password on the calling thread.
    pub async fn add_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<User, ServerError> {
        let email = email.trim();
        if !email.contains('@') || email.len() > 254 {
            return Err(ServerError::Input(format!(
                "{email:?} is not an email address"
            )));
        }
        if password.chars().count() < 8 {
            return Err(ServerError::Input(
                "the password needs at least 8 characters".into(),
            ));
        }
        let hash = password::hash(password).map_err(|e| ServerError::Input(e.to_string()))?;
        Ok(self.db.insert_user(email, name.trim(), role, &hash).await?)
    }

    /// Whether an account exists for `email`.
    pub async fn has_user(&self, email: &str) -> Result<bool, ServerError> {
        Ok(self.db.find_user_by_email(email).await?.is_some())
    }

    /// Serves HTTP and Socket.IO on `listener` until `shutdown` completes,
    /// then closes every socket and finishes in-flight requests.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server {
            config,
            db,
            keys,
            vapid,
            geoip,
            mailer,
        } = self;
        let handshakes = Arc::new(AtomicU64::new(0));
        let (io_layer, io) = socket::layer(
            SocketState {
                keys: keys.clone(),
                db: db.clone(),
                cap: SocketCap::new(config.sockets),
                handshakes: handshakes.clone(),
            },
            config.socket_buffer,
            config.websocket_only,
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let hub_stats = Arc::new(HubStats::default());
        let cluster = match &config.redis_url {
            Some(url) => Some(
                Cluster::start(ClusterParts {
                    redis_url: url.clone(),
                    db: db.clone(),
                    io: io.clone(),
                    hub_stats: hub_stats.clone(),
                    stop: stop_rx.clone(),
                })
                .await?,
            ),
            None => None,
        };
        let delivery = match &cluster {
            Some(cluster) => Delivery::Cluster(cluster.clone()),
            None => Delivery::Local(io.clone()),
        };
        let hub = Hub::start(db.clone(), delivery, hub_stats);
        let local_limiter = LoginLimiter::new(config.login_limit);
        let limiter = match &cluster {
            Some(cluster) => Limiter::Shared(SharedLimiter::new(cluster.commands(), local_limiter)),
            None => Limiter::Local(local_limiter),
        };
        let push_guard =
            EndpointGuard::new(config.push_resolver.clone(), config.push_allow_private);
        if config.push_allow_private {
            tracing::warn!("push endpoints on loopback and private networks are allowed");
        }
        let push = PushSender::with_guard(
            vapid.clone(),
            config.vapid_subject.clone(),
            push_guard.clone(),
        )?;
        let fanout = Fanout::start(db.clone(), push, mailer, config.fanout);
        let demo_interval = config.demo_interval;
        let limits = config.http;
        let tls = config.tls.clone();
        let retention = config.retention;
        let state = AppState::new(Inner {
            limiter,
            cluster,
            self_tests: Cooldown::new(config.self_test_every),
            hashes: HashGate::new(config.hashing),
            config,
            db,
            keys,
            hub: hub.clone(),
            io: io.clone(),
            fanout,
            vapid,
            push_guard,
            geoip,
            socket_handshakes: handshakes,
        });
        if let Some(every) = demo_interval {
            tokio::spawn(demo::tick(state.clone(), every, stop_rx.clone()));
        }
        let pruning = tokio::spawn(prune::run(state.db.clone(), retention, stop_rx.clone()));
        let app = api::router(state).layer(io_layer);
        tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), "herald-server listening");

        // Sockets are long-lived, so graceful shutdown must close them first,
        // or it would wait for them forever.
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
            io.close().await;
        };
        let served = crate::serve::serve(listener, app, limits, tls, graceful).await;
        drop(stop_rx);
        // The stop was sent, or (serve failed) its sender dropped: either
        // ends the task. Waiting for it means a returned `run` leaves no task
        // writing to the database.
        let _ = pruning.await;
        served?;
        Ok(())
    }
}
