//! Scenario 7, desktop: the memory of every Herald process of a signed-in
//! user, RSS and PSS summed over the process trees. Herald on the desktop is
//! two programs: `herald-agent`, always on (the engine, the notifier, the
//! tray and the IPC socket; no WebKit), and `herald-desktop`, the window,
//! which runs only while it is open. So the scenario reads
//!
//! - the agent alone, idle and signed in (what a desktop carries all day);
//! - the agent and the window's tree with the window open, beside a minimal
//!   Tauri 2 app (`bench/tauri-peer`: one empty window) with its window open,
//!   and what opening the window added to the agent, as a ratio to the peer;
//! - after the window is closed: how long until the window's processes are
//!   gone and the total is the agent's again, and the total then.
//!
//! It needs a desktop session (an X display, a session bus, a Secret
//! Service); `scripts/bench.sh` runs the bench inside
//! `scripts/desktop-session.sh`, which has no tray host: the agent only
//! warns about that. Each figure is read once the trees have settled
//! ([`tree::settled`]). The bench starts both programs itself, so both
//! trees are known; it checks that no other process carries the user's
//! data directory (the window did not start an agent of its own).

mod user;
mod window;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::Child;

use crate::node;
use crate::report::{Checks, Row, Target};
use crate::scenario::Size;
use crate::stats::Rounds;
use crate::tree::{self, Reading, WEB_PROCESS};
use user::{STEP, User, until};

const PEER: &str = "minimal Tauri 2 app";
/// The title of Herald's window.
const TITLE: &str = "Herald";
/// After the window's processes are gone, how long the agent's total may
/// take to come back to its idle figure before it is called not back.
const BACK_LIMIT: Duration = Duration::from_secs(15);

pub async fn run(size: Size, checks: &mut Checks) -> anyhow::Result<Vec<Row>> {
    if std::env::var_os("DISPLAY").is_none() {
        bail!("no X display: run the bench with scripts/bench.sh (a desktop session)");
    }
    let bins = Bins {
        agent: node::sibling("herald-agent", "herald-agent")?,
        desktop: node::sibling("herald-desktop", "herald-desktop")?,
        peer: node::sibling("tauri-peer", "tauri-peer")?,
        server: node::sibling("herald-server", "herald-server")?,
        cli: node::sibling("herald", "herald-cli")?,
    };
    let mut f = Series::default();
    // A B A B: the two sides alternate, so a drift of the machine hits both.
    for round in 0..size.rounds {
        let user = User::new(&bins.server, &bins.cli, round).await?;
        let figures = match herald_round(&bins, &user, checks).await {
            Ok(figures) => figures,
            Err(e) => {
                let logs = user.logs();
                user.end().await;
                return Err(e.context(format!("round {round}; the programs' logs:{logs}")));
            }
        };
        user.end().await;
        f.idle_rss.push(figures.idle.rss_mb());
        f.idle_pss.push(figures.idle.pss_mb());
        f.open_rss.push(figures.open.rss_mb());
        f.open_pss.push(figures.open.pss_mb());
        f.added_rss
            .push(figures.open.rss_mb() - figures.idle.rss_mb());
        f.added_pss
            .push(figures.open.pss_mb() - figures.idle.pss_mb());
        f.closed_rss.push(figures.closed.rss_mb());
        f.closed_pss.push(figures.closed.pss_mb());
        f.back_secs.push(figures.back_secs);
        let peer = peer_round(&bins.peer).await?;
        f.peer_rss.push(peer.rss_mb());
        f.peer_pss.push(peer.pss_mb());
    }
    let s = "7 desktop";
    Ok(vec![
        Row::new(s, "agent idle, signed in, no window: RSS", "MB")
            .herald(f.idle_rss)
            .target(Target::AtMost(30.0)),
        Row::new(s, "agent idle, signed in, no window: PSS", "MB").herald(f.idle_pss),
        Row::new(s, "window open: RSS, agent + window", "MB")
            .herald(f.open_rss)
            .peer(PEER, f.peer_rss.clone()),
        Row::new(s, "window open: PSS, agent + window", "MB")
            .herald(f.open_pss)
            .peer(PEER, f.peer_pss.clone()),
        Row::new(s, "window open minus the idle agent: RSS", "MB")
            .herald(f.added_rss)
            .peer(PEER, f.peer_rss)
            .target(Target::RatioAtMost(1.0)),
        Row::new(s, "window open minus the idle agent: PSS", "MB")
            .herald(f.added_pss)
            .peer(PEER, f.peer_pss),
        Row::new(
            s,
            "window closed: until its processes are gone and the total is the idle agent's",
            "s",
        )
        .herald(f.back_secs)
        .target(Target::AtMost(5.0)),
        Row::new(s, "window closed again: RSS of every Herald process", "MB").herald(f.closed_rss),
        Row::new(s, "window closed again: PSS of every Herald process", "MB").herald(f.closed_pss),
    ])
}

struct Bins {
    agent: PathBuf,
    desktop: PathBuf,
    peer: PathBuf,
    server: PathBuf,
    cli: PathBuf,
}

/// Each figure over the rounds.
#[derive(Default)]
struct Series {
    idle_rss: Rounds,
    idle_pss: Rounds,
    open_rss: Rounds,
    open_pss: Rounds,
    added_rss: Rounds,
    added_pss: Rounds,
    closed_rss: Rounds,
    closed_pss: Rounds,
    back_secs: Rounds,
    peer_rss: Rounds,
    peer_pss: Rounds,
}

struct Figures {
    idle: Reading,
    open: Reading,
    closed: Reading,
    /// From the close to the window's processes gone and the total back to
    /// the idle agent's; infinite when it did not come back.
    back_secs: f64,
}

/// One round of Herald: the agent started as login starts it, then the
/// window opened as a user opens it, and closed with its close button.
async fn herald_round(bins: &Bins, user: &User, checks: &mut Checks) -> anyhow::Result<Figures> {
    let mut agent = user.start(&bins.agent, "agent")?;
    let agent_pid = agent.id().context("the agent's pid")?;
    let socket = user.socket();
    until("the agent's socket", || async {
        tokio::net::UnixStream::connect(&socket)
            .await
            .ok()
            .map(drop)
    })
    .await?;
    until("the agent to connect to herald-server", || async {
        (user.sockets().await >= Some(1)).then_some(())
    })
    .await?;
    let idle = tree::settled(&[agent_pid]).await?;
    checks.expect(
        !tree::has(&[agent_pid], WEB_PROCESS),
        "desktop: the agent runs no web process",
    );

    let mut desktop = user.start(&bins.desktop, "desktop")?;
    let desktop_pid = desktop.id().context("the window's pid")?;
    until("the window's web process", || async {
        tree::has(&[desktop_pid], WEB_PROCESS).then_some(())
    })
    .await?;
    // A second launch hands over to the first window and exits.
    let mut again = user.start(&bins.desktop, "desktop-again")?;
    tokio::time::timeout(STEP, again.wait())
        .await
        .context("a second launch of the window did not exit")??;
    let open = tree::settled(&[agent_pid, desktop_pid]).await?;
    let herald: Vec<u32> = tree::members(&[agent_pid, desktop_pid])
        .iter()
        .map(|m| m.pid)
        .collect();
    let strays: Vec<u32> = tree::with_env("HERALD_DATA_DIR", &user.data_dir())
        .into_iter()
        .filter(|pid| !herald.contains(pid))
        .collect();
    checks.expect(
        strays.is_empty(),
        "desktop: every Herald process is the agent's or the window's",
    );
    if !strays.is_empty() {
        tracing::error!(?strays, "Herald processes outside the two trees");
    }
    checks.expect(
        !tree::has(&[agent_pid], WEB_PROCESS),
        "desktop: the agent runs no web process with the window open",
    );

    let window_tree = tree::members(&[desktop_pid]);
    tracing::debug!(
        agent = ?tree::detail(&tree::members(&[agent_pid])),
        window = ?tree::detail(&window_tree),
        "window open: name, RSS and PSS (KB) of each process"
    );
    let window_pids: Vec<u32> = window_tree.iter().map(|m| m.pid).collect();
    let closed_at = Instant::now();
    window::close(TITLE)?;
    let back = back_to_agent(&mut desktop, &window_pids, agent_pid, idle, closed_at).await?;
    checks.expect(
        back.gone,
        "desktop: the window's processes end when its window closes",
    );
    if !back.gone {
        let _ = desktop.start_kill();
        let _ = desktop.wait().await;
    }
    checks.expect(
        agent.try_wait()?.is_none(),
        "desktop: the agent keeps running when the window closes",
    );
    let closed = tree::settled(&[agent_pid]).await?;

    let _ = agent.start_kill();
    let _ = agent.wait().await;
    Ok(Figures {
        idle,
        open,
        closed,
        back_secs: back.secs,
    })
}

struct Back {
    /// The window's process and all of its tree ended.
    gone: bool,
    secs: f64,
}

/// Waits for the window's processes to end (the window's own, and every
/// process that was in its tree: one its parent left behind counts until
/// it ends too), and then for the agent's tree to be back within 10% (at
/// least 2 MB) of its idle RSS: serving the window may leave the agent a
/// little bigger, and the allocator may or may not give that back.
async fn back_to_agent(
    desktop: &mut Child,
    window_pids: &[u32],
    agent_pid: u32,
    idle: Reading,
    closed_at: Instant,
) -> anyhow::Result<Back> {
    let limit_kb = idle.rss_kb + (idle.rss_kb / 10).max(2048);
    let mut gone_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if gone_at.is_none()
            && desktop.try_wait()?.is_some()
            && window_pids.iter().all(|pid| !tree::alive(*pid))
        {
            gone_at = Some(now);
        }
        match gone_at {
            Some(_) if tree::measure(&tree::members(&[agent_pid])).rss_kb <= limit_kb => {
                return Ok(Back {
                    gone: true,
                    secs: (now - closed_at).as_secs_f64(),
                });
            }
            Some(at) if now - at > BACK_LIMIT => {
                tracing::warn!(
                    idle_kb = idle.rss_kb,
                    "the agent did not come back to its idle size after the window closed"
                );
                return Ok(Back {
                    gone: true,
                    secs: f64::INFINITY,
                });
            }
            None if now - closed_at > STEP => {
                return Ok(Back {
                    gone: false,
                    secs: f64::INFINITY,
                });
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The peer with its one window open, read the same way.
async fn peer_round(peer: &Path) -> anyhow::Result<Reading> {
    let mut app = user::spawn(&mut tokio::process::Command::new(peer))?;
    let pid = app.id().context("the peer's pid")?;
    until("the peer's web process", || async {
        tree::has(&[pid], WEB_PROCESS).then_some(())
    })
    .await?;
    let reading = tree::settled(&[pid]).await?;
    tracing::debug!(
        peer = ?tree::detail(&tree::members(&[pid])),
        "peer open: name, RSS and PSS (KB) of each process"
    );
    let _ = app.start_kill();
    let _ = app.wait().await;
    Ok(reading)
}
