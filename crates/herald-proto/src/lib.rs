//! Herald's wire contract, shared by the client engine and herald-server.
//!
//! # Layout
//!
//! - [`event`]: the event types and the one envelope every event travels in.
//! - [`api`]: the REST request and response bodies, and the JSON error body.
//! - [`socket`]: what travels over Socket.IO besides events: the handshake
//!   auth payload and the `connect_error` codes.
//!
//! This crate is serde only: no IO, no async, no HTTP types. Both sides depend
//! on it, so a change here is a change of the protocol.

pub mod api;
pub mod event;
pub mod socket;

pub use event::{Envelope, EventType, LoginInfo, Severity};
