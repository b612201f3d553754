//! The binary's log: `RUST_LOG`'s filter, except that the Socket.IO and
//! WebSocket libraries never log below INFO.
//!
//! socketioxide and engineioxide log every packet at DEBUG and TRACE, the
//! handshake's `auth: { token }` among them (three times per connect at
//! `socketioxide=debug`), and tungstenite logs every WebSocket message it
//! receives at TRACE; a log is not a place for access tokens. An
//! operator's `RUST_LOG` can name any target at any level, with any
//! specificity (`socketioxide::client=trace`), so no directive added to it
//! could be sure to win; this is a second filter on the one output layer,
//! and an event must pass both. The libraries' warnings and errors, which
//! carry no packet, still show.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Crates whose logs below INFO are packets: their targets start with one
/// of these (`socketioxide_core::…`, `engineioxide::…`,
/// `tokio_tungstenite::…` too).
pub const PACKET_LOGGERS: &[&str] = &[
    "socketioxide",
    "engineioxide",
    "tungstenite",
    "tokio_tungstenite",
];

/// What the log shows when `RUST_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info,tower_http=warn";

/// Whether a span or event may reach the log whatever `RUST_LOG` says.
pub fn may_log(target: &str, level: &Level) -> bool {
    *level <= Level::INFO || !PACKET_LOGGERS.iter().any(|c| target.starts_with(c))
}

fn allowed(meta: &Metadata<'_>) -> bool {
    may_log(meta.target(), meta.level())
}

/// Installs the subscriber: to standard error, in colour on a terminal.
pub fn init() {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into());
    let output = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(env)
        .with_filter(filter_fn(allowed));
    tracing_subscriber::registry().with(output).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_levels_of_the_socket_libraries_are_never_logged() {
        for target in [
            "socketioxide",
            "socketioxide::client",
            "socketioxide_core::parser",
            "engineioxide::socket",
            "tungstenite::protocol",
            "tokio_tungstenite",
        ] {
            assert!(!may_log(target, &Level::DEBUG), "{target}");
            assert!(!may_log(target, &Level::TRACE), "{target}");
            assert!(may_log(target, &Level::INFO), "{target}");
            assert!(may_log(target, &Level::ERROR), "{target}");
        }
        assert!(may_log("herald_server::socket", &Level::TRACE));
        assert!(may_log("tower_http::trace", &Level::DEBUG));
    }
}
