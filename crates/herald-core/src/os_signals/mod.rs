//! Sleep and network from the operating system, instead of from polling.
//!
//! The most common way a notification client fails its users is to stay
//! silent after a suspend until it is restarted. Timers cannot see a suspend
//! (the monotonic clock stops with the machine) nor a network that went
//! away, so the engine asks the OS:
//!
//! - Linux: logind's `PrepareForSleep(false)` on resume, and NetworkManager's
//!   `StateChanged` and `Connectivity` (system bus, [`linux`]).
//! - Elsewhere, or where neither service is on the system bus: no OS
//!   monitor. The link then compares the wall clock with the monotonic one on
//!   its probe tick ([`crate::wake`]), a timer that runs anyway.
//!
//! What the OS says becomes an [`OsSignal`]; the engine turns it into link
//! commands and the link's "online" state (see `link::supervisor`).

#[cfg(all(unix, not(target_os = "macos")))]
mod linux;

use tokio::sync::mpsc;

/// The D-Bus names of the services watched, as they publish them.
pub mod names {
    pub const LOGIND: &str = "org.freedesktop.login1";
    pub const LOGIND_PATH: &str = "/org/freedesktop/login1";
    pub const LOGIND_MANAGER: &str = "org.freedesktop.login1.Manager";
    pub const NM: &str = "org.freedesktop.NetworkManager";
    pub const NM_PATH: &str = "/org/freedesktop/NetworkManager";
    pub const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
}

/// What the OS told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsSignal {
    /// The machine woke up: its sockets are likely dead; reconnect now.
    Woke,
    /// The network came up (or reached full connectivity): reconnect now.
    Online,
    /// The network is down: do not try, wait for [`OsSignal::Online`].
    Offline,
}

/// Which monitor tells the engine about sleep and the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Monitor {
    /// logind's `PrepareForSleep` is watched.
    pub logind: bool,
    /// NetworkManager's state and connectivity are watched.
    pub network_manager: bool,
}

impl Monitor {
    /// The fallback: no OS service; the clock check on the probe tick.
    pub const FALLBACK: Monitor = Monitor {
        logind: false,
        network_manager: false,
    };

    /// What `herald doctor` says.
    pub fn describe(&self) -> &'static str {
        match (self.logind, self.network_manager) {
            (true, true) => "sleep/network: logind + NetworkManager",
            (true, false) => "sleep: logind; network: fallback (liveness probe only)",
            (false, true) => "network: NetworkManager; sleep: fallback (clock check)",
            (false, false) => {
                "fallback: clock check (no logind or NetworkManager on the system bus)"
            }
        }
    }
}

/// A running OS monitor.
#[derive(Debug)]
pub struct Watch {
    pub monitor: Monitor,
    /// Whether the OS said the network was up when the watch started
    /// (`true` when nothing says otherwise).
    pub online: bool,
    /// What the OS says from now on; closed when the monitor has nothing to
    /// watch (the fallback) or lost its bus.
    pub signals: mpsc::UnboundedReceiver<OsSignal>,
}

/// Starts the monitor this machine offers, or the fallback. Bounded in
/// time: a system bus that does not answer means the fallback.
pub async fn start() -> Watch {
    #[cfg(all(unix, not(target_os = "macos")))]
    if let Some(watch) = linux::start().await {
        return watch;
    }
    let (_, signals) = mpsc::unbounded_channel();
    Watch {
        monitor: Monitor::FALLBACK,
        online: true,
        signals,
    }
}

/// Which monitor [`start`] would use, without a Tokio runtime (for
/// `herald doctor`, which runs it on a thread of its own under a timeout).
pub fn detect_blocking() -> Monitor {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        zbus::block_on(linux::detect())
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        Monitor::FALLBACK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_monitor_says_what_it_watches() {
        assert_eq!(
            Monitor {
                logind: true,
                network_manager: true
            }
            .describe(),
            "sleep/network: logind + NetworkManager"
        );
        assert!(
            Monitor::FALLBACK
                .describe()
                .starts_with("fallback: clock check")
        );
    }
}
