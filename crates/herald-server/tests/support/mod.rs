//! Shared test harness: a real herald-server on port 0, and real clients.
#![allow(dead_code, unused_imports)]

pub mod postgres;
pub mod process;
pub mod server;
pub mod socket;

pub use server::{Account, TestServer};
pub use socket::SocketClient;

use std::time::Duration;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);
