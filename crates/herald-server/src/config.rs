//! Server configuration, filled in by the binary or by a test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::push::{PushResolver, SystemResolver};
use crate::socket_cap::SocketLimits;
use crate::tls::TlsIdentity;

/// Everything herald-server needs to know before it starts.
#[derive(Clone)]
pub struct Config {
    /// Where the database, the JWT secret and the VAPID keys live.
    pub data_dir: PathBuf,
    /// `postgres://user:password@host:port/db`: the database is there, not
    /// in the data directory (which keeps the JWT secret and VAPID keys).
    pub database_url: Option<String>,
    /// `smtp://host:port`, `smtp://user:pass@host:587?tls=required` or
    /// `smtps://host`; no email is sent without it.
    pub smtp_url: Option<String>,
    /// The From: address of login alerts.
    pub mail_from: String,
    /// A MaxMind-format city or country database for login locations.
    pub geoip_db: Option<PathBuf>,
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact for push services.
    pub vapid_subject: String,
    /// Overrides the generated secret in the data directory.
    pub jwt_secret: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub login_limit: LoginLimit,
    /// Packets buffered per socket before an emit fails. A failed emit loses
    /// nothing (the event is stored and caught up), but each one costs the
    /// client a round trip, so this is sized for bursts. The buffer is a
    /// channel that allocates as it fills, so an idle socket costs none of
    /// it; only events the server sends fill it, and [`SocketLimits`] bounds
    /// how many sockets one account has.
    pub socket_buffer: usize,
    /// Sockets per account and per login.
    pub sockets: SocketLimits,
    /// `POST /api/notifications/test` once per user in this; sooner is 429.
    pub self_test_every: Duration,
    /// How long events, spent refresh tokens and ended sessions are kept.
    pub retention: Retention,
    /// Send a sample event this often (the `--demo` mode).
    pub demo_interval: Option<Duration>,
    /// Password hashes run at once, and logins that may wait for one.
    pub hashing: HashLimit,
    /// Limits on connections and requests, against slow or many clients.
    pub http: HttpLimits,
    /// Lets push endpoints be on loopback, private and other non-public
    /// addresses (`--push-allow-private-networks`): for an operator whose
    /// push gateway is internal. Off, such endpoints are refused when saved
    /// and never connected to, whatever their name resolves to.
    pub push_allow_private: bool,
    /// Resolves push endpoints' host names: the system resolver, unless a
    /// test plays DNS.
    pub push_resolver: Arc<dyn PushResolver>,
    /// How login alerts are sent: concurrency, and work kept per user.
    pub fanout: FanoutLimits,
    /// `redis://host:port`: this node is one of several that share the
    /// database (`--database-url`) and tell each other, through Redis, what
    /// they stored and which sessions ended, and share the login limit.
    pub redis_url: Option<String>,
    /// Socket.IO over WebSocket only, no long-polling: any node behind a
    /// plain load balancer can then take any connection (no sticky sessions).
    pub websocket_only: bool,
    /// Serve HTTPS with this certificate (`--tls-cert`, `--tls-key`); plain
    /// HTTP without it.
    pub tls: Option<TlsIdentity>,
}

/// Push subscriptions one account may have: 10 (a few browsers and devices).
/// One more is refused with 409; re-saving one of them does not count.
pub const MAX_PUSH_SUBSCRIPTIONS: usize = 10;

/// Bounds on sending login alerts, so that one user's slow push endpoints or
/// flood of logins cannot delay or drop another user's alerts.
#[derive(Debug, Clone, Copy)]
pub struct FanoutLimits {
    /// Pushes in flight at once, over all users.
    pub push_in_flight: usize,
    /// Pushes in flight at once for one user; their others wait their turn.
    pub push_per_user: usize,
    /// Emails in flight at once, over all users (one per user at a time).
    pub mail_in_flight: usize,
    /// Alerts one user may have waiting per channel; past it their oldest is
    /// dropped (and logged once), never another user's.
    pub pending_per_user: usize,
}

/// Pushes in flight over all users: 64.
pub const PUSH_IN_FLIGHT: usize = 64;
/// Pushes in flight for one user: 4, so a user whose endpoints hang holds at
/// most 4 of the 64 slots, each for at most the 10 s push timeout (the
/// grace below while another user waits).
pub const PUSH_PER_USER: usize = 4;
/// How long a push keeps its slot without an answer while another user's
/// push waits for one: 2 s, which bounds that wait however many accounts'
/// endpoints hang (see `push_slots`). Push services answer well within it.
pub const PUSH_SLOT_GRACE: Duration = Duration::from_secs(2);
/// Login alert emails in flight over all users: 4.
pub const MAIL_IN_FLIGHT: usize = 4;
/// Alerts waiting per user and channel: 16; past it the user's oldest goes.
pub const PENDING_ALERTS_PER_USER: usize = 16;

impl Default for FanoutLimits {
    fn default() -> FanoutLimits {
        FanoutLimits {
            push_in_flight: PUSH_IN_FLIGHT,
            push_per_user: PUSH_PER_USER,
            mail_in_flight: MAIL_IN_FLIGHT,
            pending_per_user: PENDING_ALERTS_PER_USER,
        }
    }
}

/// The self-test once per user every 10 s: it stores six events, so a
/// client calling it in a loop would grow the database by 600 rows a second.
pub const SELF_TEST_EVERY: Duration = Duration::from_secs(10);

/// What the pruning task deletes, and how often it runs.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Events older than this are deleted (with their read marks).
    pub events: Duration,
    /// How long after its expiry a refresh token (used or not) is kept, and
    /// a session whose tokens have all expired: long enough that a refresh
    /// between its two steps never finds its session gone.
    pub grace: Duration,
    /// The task runs at start-up and then this often.
    pub every: Duration,
}

/// Events are kept 30 days (`--event-retention-days`): a client offline
/// longer catches up on what is left.
pub const EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Expired refresh tokens and sessions are deleted 1 hour after expiry.
pub const EXPIRED_GRACE: Duration = Duration::from_secs(3600);
/// The pruning task runs hourly.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            events: EVENT_RETENTION,
            grace: EXPIRED_GRACE,
            every: PRUNE_EVERY,
        }
    }
}

/// Failed logins allowed per (IP, email) in a window before 429.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimit {
    pub max_failures: u32,
    pub window: Duration,
    /// (IP, email) keys tracked at most; past it the oldest window is dropped.
    pub max_keys: usize,
}

/// Failed logins per (IP, email) before 429: 5.
pub const LOGIN_MAX_FAILURES: u32 = 5;
/// The window those failures are counted in: 15 minutes.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// (IP, email) keys the login limiter tracks at most: 10,000 (about 1 MiB).
pub const LOGIN_MAX_KEYS: usize = 10_000;

impl Default for LoginLimit {
    fn default() -> LoginLimit {
        LoginLimit {
            max_failures: LOGIN_MAX_FAILURES,
            window: LOGIN_WINDOW,
            max_keys: LOGIN_MAX_KEYS,
        }
    }
}

/// How many Argon2id checks (19 MiB of memory each) may run at once, and how
/// many logins may wait for one; a login past both is refused with 503.
#[derive(Debug, Clone, Copy)]
pub struct HashLimit {
    pub slots: usize,
    pub queue: usize,
    pub wait: Duration,
}

/// Password hashes that run at once: 4 (two per core on the 2-core machines
/// this is sized for; at most about 80 MiB of Argon2 memory).
pub const HASH_SLOTS: usize = 4;
/// Logins that may wait for a hash slot beyond those running: 16. A login
/// past them is answered 503 with `Retry-After` at once.
pub const HASH_QUEUE: usize = 16;
/// The longest a login waits for a hash slot: 2 s; then 503.
pub const HASH_WAIT: Duration = Duration::from_secs(2);

impl Default for HashLimit {
    fn default() -> HashLimit {
        HashLimit {
            slots: HASH_SLOTS,
            queue: HASH_QUEUE,
            wait: HASH_WAIT,
        }
    }
}

/// Connection and request limits.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// A connection must send a request's headers within this, or it is
    /// closed; an idle keep-alive connection is closed after it too.
    pub header_read_timeout: Duration,
    /// An API request (its body included) must be answered within this, or
    /// it gets 408.
    pub request_timeout: Duration,
    /// Open connections (WebSockets included); one more is closed at once.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

/// Time to send a request's headers: 10 s (also the keep-alive idle limit).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send a request's body and be answered: 30 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections at most, WebSockets included: 20,000, room for the
/// 10,000 sockets the benchmark holds and their HTTP traffic (raise the
/// process's file limit to match; `--max-connections` changes it).
pub const MAX_CONNECTIONS: usize = 20_000;
/// How long graceful shutdown waits for in-flight requests: 10 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

impl Config {
    /// Defaults for a data directory: 15-minute access tokens, 30-day refresh tokens.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            database_url: None,
            smtp_url: None,
            mail_from: "Herald <herald@localhost>".into(),
            geoip_db: None,
            vapid_subject: "mailto:admin@localhost".into(),
            jwt_secret: None,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login_limit: LoginLimit::default(),
            socket_buffer: 16 * 1024,
            sockets: SocketLimits::default(),
            self_test_every: SELF_TEST_EVERY,
            retention: Retention::default(),
            demo_interval: None,
            hashing: HashLimit::default(),
            http: HttpLimits::default(),
            push_allow_private: false,
            push_resolver: Arc::new(SystemResolver),
            fanout: FanoutLimits::default(),
            redis_url: None,
            websocket_only: false,
            tls: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "<set>"))
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<set>"))
            .field("mail_from", &self.mail_from)
            .field("geoip_db", &self.geoip_db)
            .field("vapid_subject", &self.vapid_subject)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("login_limit", &self.login_limit)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("websocket_only", &self.websocket_only)
            .field("socket_buffer", &self.socket_buffer)
            .field("sockets", &self.sockets)
            .field("self_test_every", &self.self_test_every)
            .field("retention", &self.retention)
            .field("demo_interval", &self.demo_interval)
            .field("hashing", &self.hashing)
            .field("http", &self.http)
            .field("push_allow_private", &self.push_allow_private)
            .field("fanout", &self.fanout)
            .finish_non_exhaustive()
    }
}
