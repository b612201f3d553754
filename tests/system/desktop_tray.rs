//! The agent as the desktop sees it: its StatusNotifierItem and dbusmenu on
//! the session bus, the window process it starts, its autostart entry, its
//! engine lock, and its signals.
//!
//! Each test runs the real `herald-agent` against a real herald-server,
//! signed in through the real keyring (by the `herald` CLI, which shares the
//! sign-in), with a stand-in StatusNotifierWatcher as the tray host.

use std::time::Duration;

use herald_system_tests::agent::AgentProcess;
use herald_system_tests::client::Herald;
use herald_system_tests::desktop::NotifyMonitor;
use herald_system_tests::desktop_app::{DesktopApp, single_instance_name};
use herald_system_tests::proc::{self, ProcInfo};
use herald_system_tests::server::{ServerProcess, order_update};
use herald_system_tests::tray::{ItemRef, MenuEntry, Watcher};
use herald_system_tests::{WAIT, wait_for, x11};
use zbus::Variant;

/// Windows, the tray host and bus names are per desktop: one test at a time.
static DESKTOP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A signed-in user and the server.
async fn signed_in(tag: &str) -> (ServerProcess, Herald, u64) {
    let server = ServerProcess::start(&[]).await;
    let email = format!("{tag}@example.com");
    let (password, id) = server.add_user(&email, "user");
    let user = Herald::new(tag);
    user.login_ok(&server.url, &email, &password).await;
    (server, user, id)
}

async fn admin_of(server: &ServerProcess, tag: &str) -> String {
    let email = format!("{tag}-admin@example.com");
    let (password, _) = server.add_user(&email, "admin");
    server.token(&email, &password).await
}

fn host_of(url: &str) -> &str {
    url.trim_start_matches("http://")
}

async fn wait_line(item: &ItemRef, what: &str, pred: impl Fn(&str) -> bool) -> String {
    wait_for(what, WAIT, || async {
        let entries = item.menu_layout().await;
        entries.first().map(|e| e.label.clone()).filter(|l| pred(l))
    })
    .await
}

async fn wait_connected(item: &ItemRef) -> String {
    wait_line(item, "the status line to say connected", |l| {
        l.starts_with("Connected")
    })
    .await
}

fn labels(entries: &[MenuEntry], parent: i32) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.parent == parent && !e.is_separator() && e.visible)
        .map(|e| e.label.clone())
        .collect()
}

/// Every byte and number of a variant, depth first: two icons compare equal
/// exactly when their pixmaps do.
fn flatten(value: &Variant<'_>, out: &mut Vec<u8>) {
    match value {
        Variant::Variant(inner) => flatten(inner, out),
        Variant::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        Variant::Structure(s) => s.fields().iter().for_each(|v| flatten(v, out)),
        Variant::U8(b) => out.push(*b),
        Variant::I32(n) => out.extend(n.to_be_bytes()),
        other => panic!("an IconPixmap holds {other}"),
    }
}

/// The item's `IconPixmap`, as bytes.
async fn icon(item: &ItemRef) -> Vec<u8> {
    let value = item
        .property("IconPixmap")
        .await
        .expect("the tray item has an IconPixmap");
    let mut bytes = Vec::new();
    flatten(&value, &mut bytes);
    // At least one 64×64 ARGB32 pixmap.
    assert!(
        bytes.len() >= 64 * 64 * 4,
        "an icon of {} bytes",
        bytes.len()
    );
    bytes
}

async fn wait_icon_change(item: &ItemRef, old: &[u8], what: &str) -> Vec<u8> {
    wait_for(what, WAIT, || async {
        let now = icon(item).await;
        (now != old).then_some(now)
    })
    .await
}

/// The shared libraries a process has mapped that it must not: a toolkit
/// or a webview.
fn gui_libraries(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read the agent's maps");
    assert!(maps.contains(".so"), "no libraries mapped? {maps}");
    maps.lines()
        .filter(|l| l.contains("libgtk") || l.contains("libwebkit"))
        .map(str::to_owned)
        .collect()
}

/// The running `herald-desktop` processes the agent started (its children,
/// each in a process group of its own).
fn window_processes(agent: u32) -> Vec<ProcInfo> {
    proc::descendants(agent)
        .into_iter()
        .filter(|p| p.is_named("herald-desktop") && proc::is_running(p.pid))
        .collect()
}

/// The one the agent started, once it runs.
async fn window_process(agent: u32) -> ProcInfo {
    wait_for("the agent to start herald-desktop", WAIT, || async {
        window_processes(agent).into_iter().next()
    })
    .await
}

/// Closes the window as a window manager would, and waits for its process to end.
async fn close_window(window: &ProcInfo) {
    assert_eq!(x11::close_window_named("Herald"), 1, "one Herald window");
    wait_for("the window process to exit", WAIT, || async {
        (!proc::is_running(window.pid)).then_some(())
    })
    .await;
}

/// "Quit" from the tray: the agent ends with code 0 and its item leaves the bus.
async fn quit(item: &ItemRef, agent: &mut AgentProcess) {
    item.click_label("Quit").await;
    let status = agent.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", agent.log_text());
    item.wait_gone().await;
}

fn webkit(pids: &[ProcInfo]) -> Vec<u32> {
    pids.iter()
        .filter(|p| p.is_named("WebKitWebProcess") || p.is_named("WebKitNetworkProcess"))
        .map(|p| p.pid)
        .collect()
}

/// WebKit processes anywhere whose environment is this user's.
fn users_webkit(user: &Herald) -> Vec<u32> {
    let marker = format!("HERALD_DATA_DIR={}", user.data_dir.display());
    ["WebKitWebProcess", "WebKitNetworkProcess"]
        .iter()
        .flat_map(|name| proc::find_by_exe_name(name))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tray_menu_has_every_entry_and_the_icon_follows_the_connection() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (mut server, user, user_id) = signed_in("tray-menu").await;
    let mut agent = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;

    let host = host_of(&server.url).to_owned();
    let line = wait_connected(&item).await;
    assert_eq!(line, format!("Connected to {host}"));
    let entries = item.menu_layout().await;
    assert!(!entries[0].enabled, "the status line is not clickable");
    assert_eq!(
        labels(&entries, 0),
        [
            line.as_str(),
            "Open Herald",
            "Pause notifications",
            "Reconnect now",
            "Start at login",
            "Sign out",
            "Quit"
        ]
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.parent == 0 && e.is_separator())
            .count(),
        2,
        "{entries:#?}"
    );
    let pause = item.menu_entry("Pause notifications").await;
    assert_eq!(pause.children_display.as_deref(), Some("submenu"));
    assert_eq!(
        labels(&entries, pause.id),
        ["For 1 hour", "Until tomorrow", "Resume"]
    );
    let autostart = item.menu_entry("Start at login").await;
    assert_eq!(autostart.toggle_type.as_deref(), Some("checkmark"));
    assert_eq!(autostart.toggle_state, Some(0));

    // No webview and no toolkit, in the agent or under it.
    assert!(!proc::has_webkit_process(agent.pid));
    assert_eq!(gui_libraries(agent.pid), Vec::<String>::new());
    assert!(!x11::window_mapped("Herald"), "a window opened by itself");
    eprintln!(
        "herald-agent idle RSS, signed in and connected: {} KB (VmRSS of pid {})",
        ProcInfo::read(agent.pid).expect("the agent runs").rss_kb,
        agent.pid
    );

    // An unread item puts the badge on the icon.
    let plain = icon(&item).await;
    let admin = admin_of(&server, "tray-menu").await;
    server.emit(&admin, &order_update(user_id, 1)).await;
    let badged = wait_icon_change(&item, &plain, "the unread badge").await;

    server.kill9();
    let line = wait_line(&item, "the status line to leave connected", |l| {
        !l.starts_with("Connected")
    })
    .await;
    assert!(
        line.starts_with("Reconnecting") || line.starts_with("Offline"),
        "{line}"
    );
    let away = wait_icon_change(&item, &badged, "the icon to leave connected").await;
    assert_ne!(away, plain);

    server.restart().await;
    item.click_label("Reconnect now").await;
    wait_connected(&item).await;

    quit(&item, &mut agent).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_herald_starts_the_window_and_closing_it_ends_that_process() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-window").await;
    let mut agent = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;
    wait_connected(&item).await;
    let alone = proc::total_rss_kb(agent.pid);

    item.click_label("Open Herald").await;
    x11::wait_window_mapped("Herald", true, WAIT).await;
    let window = window_process(agent.pid).await;
    let web = wait_for("a WebKit web process under the window", WAIT, || async {
        let pids = webkit(&proc::descendants(window.pid));
        (!pids.is_empty()).then_some(pids)
    })
    .await;
    let open = proc::total_rss_kb(agent.pid);

    close_window(&window).await;
    wait_for("no WebKit process left of this user", WAIT, || async {
        let left: Vec<u32> = web
            .iter()
            .copied()
            .filter(|&pid| proc::is_running(pid))
            .chain(users_webkit(&user))
            .collect();
        left.is_empty().then_some(())
    })
    .await;
    assert!(!x11::window_exists("Herald"));
    eprintln!(
        "RSS: agent alone {alone} KB, with the window open {open} KB, after closing {} KB",
        proc::total_rss_kb(agent.pid)
    );
    assert!(agent.running(), "closing the window ended the agent");
    assert!(item.is_alive().await, "the tray item left with the window");
    assert!(!proc::has_webkit_process(agent.pid));

    // Open again: a fresh window process. It is single-instance: launching
    // it once more exits at once and leaves the one window.
    item.click_label("Open Herald").await;
    x11::wait_window_mapped("Herald", true, WAIT).await;
    let again = window_process(agent.pid).await;
    assert_ne!(again.pid, window.pid);
    let mut second = DesktopApp::launch(&user, &[]);
    assert!(second.wait_exit().await.success(), "{}", second.log_text());
    assert!(proc::is_running(again.pid), "the first window went away");
    x11::wait_window_mapped("Herald", true, WAIT).await;
    close_window(&again).await;
    quit(&item, &mut agent).await;
}

/// A launch that arrives while the first window is still being built (a
/// double click on the launcher) shows that window: one window, so closing
/// it ends the process.
#[tokio::test(flavor = "multi_thread")]
async fn a_launch_while_the_window_is_built_leaves_one_window() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-twice").await;
    let mut agent = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;
    wait_connected(&item).await;

    item.click_label("Open Herald").await;
    let window = window_process(agent.pid).await;
    // The first holds its name before it connects to the agent and builds
    // the window: launch the second in that gap.
    let name = single_instance_name();
    wait_for("the window to hold its bus name", WAIT, || async {
        watcher.name_owned(&name).await.then_some(())
    })
    .await;
    let mut second = DesktopApp::launch(&user, &[]);
    assert!(second.wait_exit().await.success(), "{}", second.log_text());
    x11::wait_window_mapped("Herald", true, WAIT).await;
    // Both routes are followed once the build is done: the web process
    // runs then, and no second window is on its way.
    wait_for("a WebKit web process under the window", WAIT, || async {
        (!webkit(&proc::descendants(window.pid)).is_empty()).then_some(())
    })
    .await;
    close_window(&window).await;
    assert!(!x11::window_exists("Herald"));
    quit(&item, &mut agent).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn view_details_without_a_window_starts_one_at_the_item() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (server, user, user_id) = signed_in("tray-details").await;
    let admin = admin_of(&server, "tray-details").await;
    let mut monitor = NotifyMonitor::start_clean().await;
    let mut agent = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;
    wait_connected(&item).await;

    let server_id = server.emit(&admin, &order_update(user_id, 42)).await;
    let toast = loop {
        let call = monitor
            .next(WAIT)
            .await
            .expect("a Notify call for the order");
        if call.body.contains("ord_42") {
            break call;
        }
    };
    assert!(
        toast.actions.iter().any(|a| a == "View Details"),
        "{toast:?}"
    );
    assert!(
        window_processes(agent.pid).is_empty(),
        "a window before the click"
    );
    // dunst acts on the toast at position 0: the order's, the newest.
    let clicked = std::process::Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .expect("dunstctl");
    assert!(clicked.success());

    let window = window_process(agent.pid).await;
    let open = window
        .cmdline
        .iter()
        .position(|a| a == "--open")
        .and_then(|i| window.cmdline.get(i + 1))
        .unwrap_or_else(|| panic!("no --open ID: {:?}", window.cmdline));
    let stored = user.history(10).await;
    let order = stored
        .iter()
        .find(|i| i["serverId"] == serde_json::json!(server_id))
        .expect("the order in the history");
    assert_eq!(open, &order["id"].to_string(), "{order}");
    x11::wait_window_mapped("Herald", true, WAIT).await;

    close_window(&window).await;
    quit(&item, &mut agent).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_at_login_writes_and_removes_the_autostart_entry() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-autostart").await;
    let mut agent = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;
    let entry = user.home().join(".config/autostart/Herald.desktop");
    assert!(!entry.exists());
    assert!(!item.menu_entry("Start at login").await.is_checked());

    item.click_label("Start at login").await;
    let text = wait_for("the autostart entry", WAIT, || async {
        std::fs::read_to_string(&entry).ok()
    })
    .await;
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .expect("an Exec line");
    let agent_exe = herald_system_tests::bin("herald-agent");
    assert_eq!(exec, agent_exe.display().to_string(), "{text}");
    assert!(!exec.contains("herald-desktop"), "{text}");
    wait_for("the menu to show it checked", WAIT, || async {
        item.menu_entry("Start at login")
            .await
            .is_checked()
            .then_some(())
    })
    .await;

    item.click_label("Start at login").await;
    wait_for("the autostart entry to go", WAIT, || async {
        (!entry.exists()).then_some(())
    })
    .await;
    wait_for("the menu to show it unchecked", WAIT, || async {
        (item.menu_entry("Start at login").await.toggle_state == Some(0)).then_some(())
    })
    .await;
    quit(&item, &mut agent).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_out_from_the_tray_signs_out_and_opens_the_window_to_sign_in() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-signout").await;
    let mut agent = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;
    wait_connected(&item).await;
    let connected = icon(&item).await;

    item.click_label("Sign out").await;
    wait_line(&item, "the status line to say signed out", |l| {
        l.starts_with("Signed out")
    })
    .await;
    wait_icon_change(&item, &connected, "the signed-out icon").await;
    let window = window_process(agent.pid).await;
    x11::wait_window_mapped("Herald", true, WAIT).await;
    close_window(&window).await;
    assert!(agent.running());
    quit(&item, &mut agent).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_agent_exits_and_names_the_first() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-twice").await;
    let mut first = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;

    let mut second = AgentProcess::spawn(&user, &[], &[]);
    let status = second.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", second.log_text());
    let said = second.log_text();
    assert!(
        said.contains(&format!(
            "herald-agent: Herald is already running for this account (process {})",
            first.pid
        )),
        "{said}"
    );
    assert!(first.running());
    assert!(item.is_alive().await);
    assert_eq!(
        watcher.items().len(),
        1,
        "the second agent registered an item"
    );
    first.terminate();
    assert_eq!(first.wait_exit().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_sigint_end_the_agent_with_code_0() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-signals").await;

    let mut agent = AgentProcess::start(&user).await;
    let item = watcher.wait_item().await;
    wait_connected(&item).await;
    agent.terminate();
    assert_eq!(
        agent.wait_exit().await.code(),
        Some(0),
        "{}",
        agent.log_text()
    );
    item.wait_gone().await;

    let mut agent = AgentProcess::start(&user).await;
    let pid = i32::try_from(agent.pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("send SIGINT");
    assert_eq!(
        agent.wait_exit().await.code(),
        Some(0),
        "{}",
        agent.log_text()
    );
    // The lock went with it: a new agent starts at once.
    let mut third = AgentProcess::start(&user).await;
    third.terminate();
    assert_eq!(third.wait_exit().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_tray_host_herald_says_so_once_and_still_notifies() {
    let _desktop = DESKTOP.lock().await;
    let (server, user, user_id) = signed_in("tray-none").await;
    let admin = admin_of(&server, "tray-none").await;
    let mut monitor = NotifyMonitor::start_clean().await;
    let mut agent = AgentProcess::start(&user).await;

    let said = monitor
        .next(WAIT)
        .await
        .expect("a notification about the missing tray");
    assert_eq!(said.summary, "Herald is running without a tray icon");
    assert!(said.body.contains("Open Herald again"), "{}", said.body);

    // Live or caught up on connect, a single event shows as its own toast.
    server.emit(&admin, &order_update(user_id, 7)).await;
    let toast = monitor.next(WAIT).await.expect("the event's notification");
    assert!(toast.body.contains("ord_7"), "{toast:?}");
    let rest = monitor.drain(Duration::from_millis(500)).await;
    assert!(
        rest.iter()
            .all(|c| c.summary != "Herald is running without a tray icon"),
        "said twice: {rest:?}"
    );
    assert!(agent.running());
    agent.terminate();
    assert_eq!(agent.wait_exit().await.code(), Some(0));
}
