//! Server configuration, filled in by the binary or by a test.

use std::path::PathBuf;
use std::time::Duration;

/// Everything herald-server needs to know before it starts.
#[derive(Clone)]
pub struct Config {
    /// Where the database, the JWT secret and the VAPID keys live.
    pub data_dir: PathBuf,
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
    /// client a round trip, so this is sized for bursts.
    pub socket_buffer: usize,
    /// Send a sample event this often (the `--demo` mode).
    pub demo_interval: Option<Duration>,
}

/// Failed logins allowed per (IP, email) in a window before 429.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimit {
    pub max_failures: u32,
    pub window: Duration,
}

impl Config {
    /// Defaults for a data directory: 15-minute access tokens, 30-day refresh tokens.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            smtp_url: None,
            mail_from: "Herald <herald@localhost>".into(),
            geoip_db: None,
            vapid_subject: "mailto:admin@localhost".into(),
            jwt_secret: None,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login_limit: LoginLimit {
                max_failures: 5,
                window: Duration::from_secs(15 * 60),
            },
            socket_buffer: 16 * 1024,
            demo_interval: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
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
            .field("socket_buffer", &self.socket_buffer)
            .field("demo_interval", &self.demo_interval)
            .finish()
    }
}
