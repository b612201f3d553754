//! The tray app as the desktop sees it: its StatusNotifierItem and dbusmenu
//! on the session bus, its windows on the X display, its processes, its
//! autostart entry and its single instance.
//!
//! Each test runs the real `herald-desktop` against a real herald-server,
//! signed in through the real keyring (by the `herald` CLI, which shares the
//! sign-in), with a stand-in StatusNotifierWatcher as the tray host.

use std::time::Duration;

use herald_system_tests::WAIT;
use herald_system_tests::client::Herald;
use herald_system_tests::desktop::NotifyMonitor;
use herald_system_tests::desktop_app::DesktopApp;
use herald_system_tests::proc;
use herald_system_tests::server::{ServerProcess, order_update};
use herald_system_tests::tray::{ItemRef, MenuEntry, Watcher};
use herald_system_tests::wait_for;
use herald_system_tests::x11;

/// The app's windows, tray host and bus names are per desktop: one test at a time.
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

fn labels(entries: &[MenuEntry], parent: i32) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.parent == parent && !e.is_separator() && e.visible)
        .map(|e| e.label.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tray_menu_has_every_entry_and_the_icon_follows_the_connection() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (mut server, user, user_id) = signed_in("tray-menu").await;
    let mut app = DesktopApp::launch(&user, &["--minimized"]);
    let item = watcher.wait_item().await;

    let host = host_of(&server.url).to_owned();
    let line = wait_line(&item, "the status line to say connected", |l| {
        l.starts_with("Connected to")
    })
    .await;
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
    let pause = item.menu_entry("Pause notifications").await;
    assert_eq!(
        labels(&entries, pause.id),
        ["For 1 hour", "Until tomorrow", "Resume"]
    );
    let autostart = item.menu_entry("Start at login").await;
    assert_eq!(autostart.toggle_type.as_deref(), Some("checkmark"));
    assert_eq!(autostart.toggle_state, Some(0));

    // Started minimized and signed in: no window, so no web process.
    assert!(
        !x11::window_mapped("Herald"),
        "a window opened at autostart"
    );
    assert!(!proc::has_webkit_process(app.pid));

    // An unread item puts the badge on the icon.
    let plain_icon = item.icon_name().await.expect("an icon");
    let (admin_password, _) = server.add_user("tray-menu-admin@example.com", "admin");
    let admin = server
        .token("tray-menu-admin@example.com", &admin_password)
        .await;
    server.emit(&admin, &order_update(user_id, 1)).await;
    let connected_icon = item.wait_icon_change(&plain_icon).await;

    server.kill9();
    let line = wait_line(&item, "the status line to leave connected", |l| {
        !l.starts_with("Connected")
    })
    .await;
    assert!(
        line.starts_with("Reconnecting to") || line.starts_with("Offline"),
        "{line}"
    );
    let away_icon = item.wait_icon_change(&connected_icon).await;
    assert_ne!(away_icon, plain_icon);

    server.restart().await;
    item.click_label("Reconnect now").await;
    wait_line(&item, "the status line to say connected again", |l| {
        l.starts_with("Connected to")
    })
    .await;

    item.click_label("Quit").await;
    let status = app.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", app.log_text());
    item.wait_gone().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_the_window_ends_the_web_process_and_the_app_stays_in_the_tray() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-window").await;
    let mut app = DesktopApp::launch(&user, &["--minimized"]);
    let item = watcher.wait_item().await;
    wait_line(&item, "connected", |l| l.starts_with("Connected")).await;
    let tray_only = proc::total_rss_kb(app.pid);
    eprintln!(
        "tray only: {:#?} mapped={}",
        proc::tree(app.pid)
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>(),
        x11::window_mapped("Herald")
    );

    item.click_label("Open Herald").await;
    x11::wait_window_mapped("Herald", true, WAIT).await;
    wait_for("a WebKit web process", WAIT, || async {
        proc::has_webkit_process(app.pid).then_some(())
    })
    .await;
    let open = proc::total_rss_kb(app.pid);

    let closed = x11::close_window_named("Herald");
    assert_eq!(closed, 1, "one Herald window");
    wait_for("the window to be destroyed", WAIT, || async {
        (!x11::window_exists("Herald")).then_some(())
    })
    .await;
    wait_for("no WebKit web process left", WAIT, || async {
        let left = proc::webkit_processes(app.pid);
        (!left.iter().any(|p| p.is_named("WebKitWebProcess"))).then_some(())
    })
    .await;
    eprintln!("{:#?}", proc::tree(app.pid));
    let after = proc::total_rss_kb(app.pid);
    eprintln!(
        "RSS of the process tree: tray only {tray_only} KB, window open {open} KB, \
         after closing {after} KB"
    );
    assert!(app.running(), "closing the window quit the app");
    assert!(item.is_alive().await, "the tray item left with the window");

    // Open again: a fresh webview.
    item.click_label("Open Herald").await;
    x11::wait_window_mapped("Herald", true, WAIT).await;
    item.click_label("Quit").await;
    assert_eq!(app.wait_exit().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn start_at_login_writes_and_removes_the_autostart_entry() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-autostart").await;
    let mut app = DesktopApp::launch(&user, &["--minimized"]);
    let item = watcher.wait_item().await;
    let entry = user.home().join(".config/autostart/Herald.desktop");
    assert!(!entry.exists());

    item.click_label("Start at login").await;
    let text = wait_for("the autostart entry", WAIT, || async {
        std::fs::read_to_string(&entry).ok()
    })
    .await;
    let exe = herald_system_tests::bin("herald-desktop");
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .expect("an Exec line");
    assert_eq!(exec, format!("{} --minimized", exe.display()), "{text}");
    wait_for("the menu to show it checked", WAIT, || async {
        (item.menu_entry("Start at login").await.toggle_state == Some(1)).then_some(())
    })
    .await;

    item.click_label("Start at login").await;
    wait_for("the autostart entry to go", WAIT, || async {
        (!entry.exists()).then_some(())
    })
    .await;
    item.click_label("Quit").await;
    assert_eq!(app.wait_exit().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_launch_exits_and_shows_the_first_ones_window() {
    let _desktop = DESKTOP.lock().await;
    let watcher = Watcher::start().await;
    let (_server, user, _) = signed_in("tray-single").await;
    let mut first = DesktopApp::launch(&user, &["--minimized"]);
    let item = watcher.wait_item().await;
    wait_line(&item, "connected", |l| l.starts_with("Connected")).await;
    assert!(!x11::window_mapped("Herald"));

    let mut second = DesktopApp::launch(&user, &[]);
    let status = second.wait_exit().await;
    assert!(status.success(), "{}", second.log_text());
    x11::wait_window_mapped("Herald", true, WAIT).await;
    assert!(first.running());
    assert_eq!(
        watcher.items().len(),
        1,
        "the second launch registered a tray item"
    );
    item.click_label("Quit").await;
    assert_eq!(first.wait_exit().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_tray_host_herald_says_so_once_and_still_notifies() {
    let _desktop = DESKTOP.lock().await;
    let (server, user, user_id) = signed_in("tray-none").await;
    let admin = {
        let (password, _) = server.add_user("tray-none-admin@example.com", "admin");
        server.token("tray-none-admin@example.com", &password).await
    };
    let mut monitor = NotifyMonitor::start_clean().await;
    let mut app = DesktopApp::launch(&user, &["--minimized"]);

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

    // The window is reachable by launching again.
    let mut again = DesktopApp::launch(&user, &[]);
    assert!(again.wait_exit().await.success());
    x11::wait_window_mapped("Herald", true, WAIT).await;
    assert!(app.running());
    proc::terminate(app.pid);
    app.wait_exit().await;
}
