//! herald-core: the Herald client engine. No Tauri, no UI.
//!
//! # Layout
//!
//! - [`event`]: lenient decoding of server events into [`event::Incoming`].
//! - [`inbox`]: the SQLite history (dedup by server id, batched writes).
//! - [`notify`]: the desktop [`notify::Notifier`], the policy that decides
//!   what to show, and safe rendering.
//! - [`secret`]: the [`secret::SecretStore`] for tokens (the OS keyring).
//! - [`engine`]: the one running client: link → inbox → policy → notifier.
//! - [`controller`]: what a desktop shell drives: it outlives sign-in and
//!   sign-out and owns at most one engine.
//! - [`link`]: the Socket.IO connection and its supervisor.
//! - [`session`], [`api`], [`auth`]: signing in, the REST calls, token times;
//!   [`plain_http`]: which servers may be reached without TLS.
//! - [`config`], [`status`], [`doctor`], [`opener`]: settings, the
//!   published status, desktop probes, opening links.
//! - [`os_signals`], [`wake`]: sleep and the network from the OS (logind,
//!   NetworkManager), and the clock check where the OS says nothing.
//! - [`autostart`]: the OS's start-at-login entry.

/// The app's identifier everywhere an OS asks for one: the bundle id
/// (`tauri.conf.json`), the macOS LaunchAgent label, and the Windows
/// AppUserModelID its toasts are shown under.
pub const APP_ID: &str = "dev.herald.desktop";

pub mod api;
pub mod auth;
pub mod autostart;
pub mod backoff;
pub mod config;
pub mod controller;
pub mod doctor;
pub mod engine;
pub mod event;
pub mod inbox;
pub mod link;
pub mod net;
pub mod notify;
pub mod opener;
pub mod os_signals;
pub mod plain_http;
pub mod secret;
pub mod session;
pub mod status;
pub mod wake;
