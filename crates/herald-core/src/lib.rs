//! herald-core: the Herald client engine. No Tauri, no UI.
//!
//! # Layout
//!
//! - [`event`]: lenient decoding of server events into [`event::Incoming`].
//! - [`inbox`]: the SQLite history (dedup by server id, batched writes).
//! - [`notify`]: the desktop [`notify::Notifier`], the policy that decides
//!   what to show, and safe rendering.
//! - [`secret`]: the [`secret::SecretStore`] for tokens (the OS keyring).

pub mod event;
pub mod inbox;
pub mod notify;
pub mod secret;
