//! herald-server: the reference hub Herald is developed and tested against.
//!
//! # Layout
//!
//! - [`server`]: [`Server`] opens the data directory and runs the service on a
//!   listener the caller gives it, until a shutdown future the caller gives it.
//! - [`config`]: [`Config`], every setting, with defaults.
//! - [`api`]: the HTTP routes (`/api/auth/*`, `/api/notifications*`,
//!   `/api/events`, `/healthz`) and the extractors that turn bad input into
//!   `{"error": {"code", "message"}}`.
//! - [`socket`], [`socket_cap`]: the Socket.IO endpoint: handshake auth,
//!   rooms, and the cap on sockets per account and per login.
//! - [`hub`]: the one path every event takes: stored, then emitted, in id order.
//! - [`cluster`]: several nodes on one database: the Redis messages between
//!   them, the relay that emits every node's events here in id order, and
//!   the login limit they share.
//! - [`store`]: SQLite tables and their append-only migrations.
//! - [`token`], [`password`], [`rate_limit`]: access tokens, Argon2 hashes,
//!   failed-login throttling; [`cooldown`]: the self-test's once per user.
//! - [`prune`]: the task that deletes old events, expired refresh tokens and
//!   ended sessions.
//! - [`fanout`], [`push`], [`mail`], [`login_info`]: the login alert's Web
//!   Push and email channels (one queue per user each), the check that keeps
//!   pushes off private networks, and where a login came from.
//! - [`demo`], [`sample`]: `--demo` accounts and sample events.
//! - [`logging`]: the binary's log, which no `RUST_LOG` can make show
//!   Socket.IO packets (and so tokens).

pub mod api;
pub mod cluster;
pub mod config;
pub mod cooldown;
pub mod demo;
pub mod error;
pub mod fanout;
mod fsutil;
pub mod hash_gate;
pub mod hub;
mod lanes;
pub mod logging;
pub mod login_info;
pub mod mail;
pub mod password;
pub mod prune;
pub mod push;
mod push_slots;
pub mod rate_limit;
pub mod sample;
mod serve;
pub mod server;
pub mod socket;
pub mod socket_cap;
pub mod state;
pub mod store;
#[cfg(feature = "test-ca")]
#[allow(clippy::expect_used)]
pub mod test_ca;
mod text;
pub mod tls;
pub mod token;

pub use config::{Config, FanoutLimits, HashLimit, HttpLimits, LoginLimit};
pub use error::{ApiError, ServerError};
pub use server::Server;
pub use tls::TlsIdentity;
