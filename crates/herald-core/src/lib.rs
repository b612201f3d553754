//! herald-core: the Herald client engine. No Tauri, no UI.
//!
//! # Layout
//!
//! - [`event`]: lenient decoding of server events into [`event::Incoming`].
//! - [`inbox`]: the SQLite history (dedup by server id, batched writes).
//! - [`notify`]: the desktop [`notify::Notifier`], the policy that decides
//!   what to show, and safe rendering.
//! - [`secret`]: the [`secret::SecretStore`] for tokens (the OS keyring).

pub mod api;
pub mod auth;
pub mod backoff;
pub mod config;
pub mod doctor;
pub mod engine;
pub mod event;
pub mod inbox;
pub mod link;
pub mod notify;
pub mod secret;
pub mod session;
pub mod status;
pub mod wake;
