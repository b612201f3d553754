//! Scenario 7, desktop: total RSS of the `herald-desktop` process tree, in
//! the tray with no window, with the window open, and after it is closed
//! again; beside a minimal Tauri 2 app (`bench/tauri-peer`: one empty
//! window) with its window open.
//!
//! It needs a desktop session (an X display, a session bus, a Secret
//! Service); `scripts/bench.sh` runs the bench inside
//! `scripts/desktop-session.sh`. Each figure is read once the tree has
//! settled: its process count and total RSS unchanged for [`SETTLED`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::node;
use crate::report::{Checks, Row, Target};
use crate::scenario::Size;
use crate::stats::Rounds;

/// How long the tree must stay the same before a figure is read.
const SETTLED: Duration = Duration::from_secs(2);
/// The longest any step may take.
const STEP: Duration = Duration::from_secs(60);
const PEER: &str = "minimal Tauri 2 app";

pub async fn run(size: Size, checks: &mut Checks) -> anyhow::Result<Vec<Row>> {
    if std::env::var_os("DISPLAY").is_none() {
        bail!("no X display: run the bench with scripts/bench.sh (a desktop session)");
    }
    let bins = Bins {
        desktop: node::sibling("herald-desktop", "herald-desktop")?,
        peer: node::sibling("tauri-peer", "tauri-peer")?,
        server: node::sibling("herald-server", "herald-server")?,
        cli: node::sibling("herald", "herald-cli")?,
    };
    let mut tray = Rounds::default();
    let mut open = Rounds::default();
    let mut closed = Rounds::default();
    let mut peer_open = Rounds::default();
    // A B A B: the two sides alternate, so a drift of the machine hits both.
    for round in 0..size.rounds {
        let figures = herald_round(&bins, round, checks).await?;
        tray.push(figures.tray_mb);
        open.push(figures.open_mb);
        closed.push(figures.closed_mb);
        peer_open.push(peer_round(&bins.peer).await?);
    }
    let s = "7 desktop";
    Ok(vec![
        Row::new(s, "tray, no window: RSS of the process tree", "MB")
            .herald(tray)
            .target(Target::AtMost(40.0)),
        Row::new(s, "window open: RSS of the process tree", "MB")
            .herald(open)
            .peer(PEER, peer_open),
        Row::new(s, "window closed again: RSS of the process tree", "MB").herald(closed),
    ])
}

struct Bins {
    desktop: PathBuf,
    peer: PathBuf,
    server: PathBuf,
    cli: PathBuf,
}

struct Figures {
    tray_mb: f64,
    open_mb: f64,
    closed_mb: f64,
}

/// One round of Herald: signed in against a herald-server of its own, started
/// as autostart starts it, then its window opened and closed as a user would.
async fn herald_round(bins: &Bins, round: usize, checks: &mut Checks) -> anyhow::Result<Figures> {
    let dir = std::env::temp_dir().join(format!(
        "herald-bench-desktop-{}-{round}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home"))?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let mut server = spawn(
        Command::new(&bins.server)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("server")),
    )?;
    let http = reqwest::Client::new();
    let health = format!("{url}/healthz");
    until("herald-server to answer", || async {
        http.get(&health)
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(drop)
    })
    .await?;
    let email = "desk@example.com";
    let password = "bench-desktop-password";
    feed(
        Command::new(&bins.server)
            .arg("--data-dir")
            .arg(dir.join("server"))
            .args([
                "user", "add", "--email", email, "--name", "Desk", "--role", "user",
            ])
            .arg("--password-stdin"),
        password,
    )
    .await
    .context("add the bench user")?;
    let env = [
        ("HERALD_CONFIG_DIR", dir.join("config")),
        ("HERALD_DATA_DIR", dir.join("data")),
        ("HOME", dir.join("home")),
    ];
    feed(
        Command::new(&bins.cli)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args([
                "--server",
                &url,
                "login",
                "--email",
                email,
                "--password-stdin",
            ]),
        password,
    )
    .await
    .context("sign in with the herald CLI")?;

    let mut app = spawn(
        Command::new(&bins.desktop)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--minimized"),
    )?;
    let pid = app.id().context("the app's pid")?;
    until("the tray app to connect", || async {
        let body: serde_json::Value = http.get(&health).send().await.ok()?.json().await.ok()?;
        (body["sockets"].as_u64() >= Some(1)).then_some(())
    })
    .await?;
    let tray_kb = settled(pid).await?;
    checks.expect(!has_web_process(pid), "desktop: no web process in the tray");

    // A second launch shows the first one's window.
    let mut again = spawn(Command::new(&bins.desktop).envs(env.iter().map(|(k, v)| (k, v))))?;
    tokio::time::timeout(STEP, again.wait())
        .await
        .context("the second launch did not exit")??;
    until("the window's web process", || async {
        has_web_process(pid).then_some(())
    })
    .await?;
    let open_kb = settled(pid).await?;

    close_window("Herald")?;
    until("the web process to end with the window", || async {
        (!has_web_process(pid)).then_some(())
    })
    .await?;
    let closed_kb = settled(pid).await?;
    checks.expect(
        app.try_wait()?.is_none(),
        "desktop: the app stays in the tray",
    );

    let _ = app.start_kill();
    let _ = server.start_kill();
    let _ = app.wait().await;
    let _ = server.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures {
        tray_mb: tray_kb as f64 / 1024.0,
        open_mb: open_kb as f64 / 1024.0,
        closed_mb: closed_kb as f64 / 1024.0,
    })
}

/// The peer with its one window open, read the same way.
async fn peer_round(peer: &Path) -> anyhow::Result<f64> {
    let mut app = spawn(&mut Command::new(peer))?;
    let pid = app.id().context("the peer's pid")?;
    until("the peer's web process", || async {
        has_web_process(pid).then_some(())
    })
    .await?;
    let kb = settled(pid).await?;
    let _ = app.start_kill();
    let _ = app.wait().await;
    Ok(kb as f64 / 1024.0)
}

fn spawn(command: &mut Command) -> anyhow::Result<Child> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {command:?}"))
}

/// Runs `command` with `input` on its stdin, and checks it succeeded.
async fn feed(command: &mut Command, input: &str) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(input.as_bytes()).await?;
    drop(stdin);
    let out = tokio::time::timeout(STEP, child.wait_with_output()).await??;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

async fn until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    let deadline = Instant::now() + STEP;
    while check().await.is_none() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `pid` and its descendants, with their names and RSS in KB.
fn tree(pid: u32) -> Vec<(u32, String, u64)> {
    let mut all: HashMap<u32, (u32, String, u64)> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let get = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
        };
        let ppid = get("PPid:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let rss = get("VmRSS:")
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        all.insert(p, (ppid, get("Name:").unwrap_or_default(), rss));
    }
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        if let Some((_, name, rss)) = all.get(&p) {
            out.push((p, name.clone(), *rss));
            stack.extend(all.iter().filter(|(_, v)| v.0 == p).map(|(c, _)| *c));
        }
    }
    out
}

/// Comm names are cut to 15 bytes: "WebKitWebProces".
fn has_web_process(pid: u32) -> bool {
    tree(pid)
        .iter()
        .any(|(_, name, _)| name.starts_with("WebKitWebProces"))
}

/// The tree's total RSS once it has stopped changing.
async fn settled(pid: u32) -> anyhow::Result<u64> {
    let deadline = Instant::now() + STEP;
    let mut last = (0usize, 0u64);
    let mut since = Instant::now();
    loop {
        let now = tree(pid);
        if now.is_empty() {
            bail!("process {pid} is gone");
        }
        let state = (now.len(), now.iter().map(|(_, _, rss)| rss).sum::<u64>());
        // Within 1%: page faults of an idle process move its RSS a little.
        let same = state.0 == last.0 && state.1.abs_diff(last.1) * 100 <= last.1;
        if !same {
            last = state;
            since = Instant::now();
        } else if since.elapsed() >= SETTLED {
            return Ok(state.1);
        }
        if Instant::now() > deadline {
            return Ok(state.1);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks the window titled `title` to close, as a window manager's close
/// button does: a `WM_DELETE_WINDOW` client message.
fn close_window(title: &str) -> anyhow::Result<()> {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{
        AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, MapState, Window,
    };
    let (conn, screen) = x11rb::connect(None).context("connect to the X display")?;
    let root = conn.setup().roots[screen].root;
    let atom = |name: &str| -> anyhow::Result<u32> {
        Ok(conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
    };
    let (protocols, delete, utf8, net_name) = (
        atom("WM_PROTOCOLS")?,
        atom("WM_DELETE_WINDOW")?,
        atom("UTF8_STRING")?,
        atom("_NET_WM_NAME")?,
    );
    // Windows come and go while the tree is walked (GTK makes short-lived
    // ones): one that vanished is skipped, not an error.
    let mut stack: Vec<Window> = vec![root];
    let mut sent = 0;
    while let Some(window) = stack.pop() {
        if let Ok(Ok(tree)) = conn.query_tree(window).map(|c| c.reply()) {
            stack.extend(tree.children);
        }
        let property = |atom: u32, kind: u32| {
            conn.get_property(false, window, atom, kind, 0, 1024)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| r.value)
                .unwrap_or_default()
        };
        let mut name = property(net_name, utf8);
        if name.is_empty() {
            name = property(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into());
        }
        let viewable = conn
            .get_window_attributes(window)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|a| a.map_state == MapState::VIEWABLE);
        if name == title.as_bytes() && viewable {
            let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
            conn.send_event(false, window, EventMask::NO_EVENT, event)?;
            sent += 1;
        }
    }
    conn.flush()?;
    if sent == 0 {
        bail!("no window titled {title:?} is shown");
    }
    Ok(())
}
