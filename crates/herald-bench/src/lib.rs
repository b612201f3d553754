//! herald-bench: Herald's engine and herald-server, side by side with the
//! Node socket.io stack the seed was built on, and against their targets.
//!
//! Two binaries: `herald-bench` runs the scenarios; `herald-bench-engine`
//! is Herald's engine alone in a process (the idle and burst scenarios
//! start it), so that its memory is the engine's and not the bench's.
//!
//! # Layout
//!
//! - [`scenario`]: one module per scenario, and [`scenario::Size`] (full or smoke).
//! - [`hub`]: herald-server in process, for the client scenarios.
//! - [`engine`], [`child`]: Herald's engine with a counting notifier.
//! - [`sio`]: a raw Engine.IO/Socket.IO client, the floor and the load generator.
//! - [`probe`]: timestamps at the hub's emit and the engine's socket handler.
//! - [`proc`], [`node`]: child processes, /proc figures, the Node peers.
//! - [`tree`]: process trees (the desktop apps) and their settled memory.
//! - [`stats`], [`report`], [`clock`]: percentiles, the table, one clock for all.

pub mod child;
pub mod clock;
pub mod engine;
pub mod hub;
pub mod node;
pub mod probe;
pub mod proc;
pub mod report;
pub mod scenario;
pub mod sio;
pub mod stats;
pub mod tree;
