//! The window, driven as a user drives it: the real `herald-desktop` in its
//! real webview (WebKitGTK), through tauri-driver and WebKitWebDriver, showing
//! a real `herald-agent` against a real herald-server, the real keyring and
//! dunst.
//!
//! Each test starts the agent itself before the window (so the window finds
//! it rather than starting its own), except where the window's "Start
//! Herald" button is what is tested.

use std::time::Duration;

use herald_system_tests::agent::{self, AgentProcess};
use herald_system_tests::client::Herald;
use herald_system_tests::desktop::NotifyMonitor;
use herald_system_tests::desktop_app::{DesktopApp, artifact};
use herald_system_tests::server::{ServerProcess, order_update};
use herald_system_tests::tray::Watcher;
use herald_system_tests::webdriver::TauriDriver;
use herald_system_tests::{WAIT, bin, proc, wait_for};
use serde_json::{Value, json};

static DESKTOP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the page says while no agent answers.
const AGENT_UNAVAILABLE: &str = "Herald's agent is not running";

/// Starts the window for `user` under tauri-driver; it opens at once, which
/// is what WebDriver attaches to.
async fn launch(user: &Herald) -> TauriDriver {
    launch_with(user, &[]).await
}

async fn launch_with(user: &Herald, args: &[&str]) -> TauriDriver {
    let envs = user.envs();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TauriDriver::start(&bin("herald-desktop"), args, &envs).await
}

/// Ends the session (WebKitWebDriver closes the window) and waits until the
/// window's process has exited by itself, so the next launch is a first
/// instance again. The agent it showed keeps running.
async fn quit(driver: TauriDriver, agent_pid: u32) {
    let app = driver.app_pid().await;
    driver.quit().await;
    wait_for("the window's process to exit", WAIT, || async {
        (!proc::is_running(app)).then_some(())
    })
    .await;
    assert!(
        proc::is_running(agent_pid),
        "closing the window stopped the agent"
    );
}

/// An agent the window started, which the test did not spawn: stopped when
/// the test ends, however it ends.
struct StartedAgent(u32);

impl Drop for StartedAgent {
    fn drop(&mut self) {
        proc::kill_tree(self.0);
    }
}

fn connected(label: &str) -> bool {
    // "Connected", or "Connected to 127.0.0.1:PORT".
    label.starts_with("Connected")
}

async fn type_into(driver: &TauriDriver, css: &str, text: &str) {
    let field = driver.wait_visible(css).await;
    driver.clear(&field).await;
    driver.send_keys(&field, text).await;
}

async fn click(driver: &TauriDriver, css: &str) {
    let el = driver.wait_visible(css).await;
    driver.click(&el).await;
}

async fn classes(driver: &TauriDriver, css: &str) -> String {
    let el = driver.find(css).await;
    driver.attribute(&el, "class").await.unwrap_or_default()
}

async fn sign_in(driver: &TauriDriver, server: &str, email: &str, password: &str) {
    type_into(driver, "#signin-server", server).await;
    type_into(driver, "#signin-email", email).await;
    type_into(driver, "#signin-password", password).await;
    click(driver, "#signin-submit").await;
    driver.wait_text("#conn-label", connected).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_sees_an_order_reads_it_and_watches_the_connection() {
    let _desktop = DESKTOP.lock().await;
    let _tray = Watcher::start().await;
    // On every interface: its network address is "another machine".
    let mut server = ServerProcess::start_on_all(&[]).await;
    let (password, user_id) = server.add_user("ui@example.com", "user");
    let (admin_password, _) = server.add_user("ui-admin@example.com", "admin");
    let admin = server.token("ui-admin@example.com", &admin_password).await;
    let user = Herald::new("desktop-ui");
    let mut monitor = NotifyMonitor::start_clean().await;
    let agent = AgentProcess::start(&user).await;
    let driver = launch(&user).await;

    // Plain http:// to another machine is refused, saying why and how to
    // allow it; with the box ticked the server is asked, and a wrong
    // password gets a clear error. Still at the form either way.
    type_into(&driver, "#signin-server", &server.lan_url()).await;
    type_into(&driver, "#signin-email", "ui@example.com").await;
    type_into(&driver, "#signin-password", "not-the-password").await;
    click(&driver, "#signin-submit").await;
    driver
        .wait_text("#signin-error", |t| {
            t.contains("plain http://") && t.contains("sign-in form")
        })
        .await;
    driver
        .save_screenshot(&artifact("00-plain-http-refused.png"))
        .await;
    click(&driver, "#signin-insecure-http").await;
    click(&driver, "#signin-submit").await;
    driver
        .wait_text("#signin-error", |t| t.contains("wrong email or password"))
        .await;

    sign_in(&driver, &server.url, "ui@example.com", &password).await;
    driver.save_screenshot(&artifact("01-signed-in.png")).await;

    let id = server.emit(&admin, &order_update(user_id, 1001)).await;
    let row = "#history-list li.item[data-kind=\"order_update\"]";
    let title = driver
        .wait_text(&format!("{row} .item-title"), |t| !t.is_empty())
        .await;
    assert_eq!(title, "Order update");
    assert!(classes(&driver, row).await.contains("unread"));
    // The sign-in's own login alert is in the history too, already read.
    driver.wait_text("#unread-count", |t| t == "1").await;
    let toast = loop {
        let call = monitor
            .next(WAIT)
            .await
            .expect("a Notify call for the order");
        if call.body.contains("ord_1001") {
            break call;
        }
    };
    assert_eq!(toast.app_name, "Herald");
    assert!(
        toast.actions.iter().any(|a| a == "View Details"),
        "{toast:?}"
    );
    driver.save_screenshot(&artifact("02-history.png")).await;

    // "View Details" on the toast (the agent's) opens the order's details in
    // the window (dunst acts on the toast at position 0: the order's, the
    // newest).
    let clicked = std::process::Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .expect("dunstctl");
    assert!(clicked.success());
    driver
        .wait_text("#details-title", |t| t == "Order update")
        .await;
    driver
        .wait_text("#details-message", |t| t.contains("ord_1001"))
        .await;

    // "View Details" marked it read; mark it unread and read again by hand:
    // the row, the count, and the history on disk follow.
    wait_for("the row to show read", WAIT, || async {
        (!classes(&driver, row).await.contains("unread")).then_some(())
    })
    .await;
    driver.wait_text("#unread-count", |t| t == "0").await;
    let toggle = format!("{row} .mark-read");
    driver.wait_text(&toggle, |t| t == "Mark unread").await;
    click(&driver, &toggle).await;
    driver.wait_text("#unread-count", |t| t == "1").await;
    driver.wait_text(&toggle, |t| t == "Mark read").await;
    click(&driver, &toggle).await;
    wait_for("the row to show read", WAIT, || async {
        (!classes(&driver, row).await.contains("unread")).then_some(())
    })
    .await;
    driver.wait_text("#unread-count", |t| t == "0").await;
    let stored = user.history(10).await;
    let item = stored
        .iter()
        .find(|i| i["serverId"] == json!(id))
        .expect("the order in the history");
    assert_eq!(item["read"], Value::Bool(true), "{item}");

    // A second launch with `--open ID` hands over to this window, which
    // shows the item, and exits.
    click(&driver, "#details-close").await;
    driver.wait_gone("#details:not([hidden])").await;
    let local = item["id"].as_i64().expect("a local id").to_string();
    let mut second = DesktopApp::launch(&user, &["--open", &local]);
    assert!(second.wait_exit().await.success(), "{}", second.log_text());
    driver
        .wait_text("#details-title", |t| t == "Order update")
        .await;

    // The page may call only the commands it was granted: not a plugin's,
    // and not the agent's calls that are not the window's.
    for call in ["plugin:autostart|enable", "subscribe", "hello"] {
        let refused = invoke(&driver, call).await;
        assert!(refused.starts_with("refused"), "{call}: {refused}");
    }
    assert!(
        !user
            .home()
            .join(".config/autostart/Herald.desktop")
            .exists(),
        "the page turned on start at login"
    );

    // Diagnostics: the doctor's checks, and the server's self-test.
    click(&driver, "#nav-diagnostics").await;
    driver
        .wait_text("#doctor-summary", |t| t.contains("checks"))
        .await;
    for check in ["keyring", "notifications", "server"] {
        let css = format!("#doctor-results li[data-name=\"{check}\"]");
        assert!(classes(&driver, &css).await.contains("ok"), "{check}");
    }
    click(&driver, "#send-test").await;
    driver
        .wait_text("#send-test-result", |t| t.starts_with("Requested"))
        .await;
    click(&driver, "#nav-history").await;
    for kind in [
        "new_order",
        "payment_update",
        "announcement",
        "notification",
    ] {
        driver
            .wait_visible(&format!("#history-list li.item[data-kind=\"{kind}\"]"))
            .await;
    }

    // The status view: connected, then honest about the server going away.
    click(&driver, "#nav-status").await;
    driver.wait_text("#status-state", connected).await;
    let since = driver.wait_text("#status-since", |t| !t.is_empty()).await;
    assert_ne!(since, "—");
    driver.save_screenshot(&artifact("03-status.png")).await;
    server.kill9();
    let state = driver
        .wait_text("#status-state", |t| {
            !connected(t) && !t.starts_with("Connecting")
        })
        .await;
    let lower = state.to_lowercase();
    assert!(
        lower.contains("offline") || lower.contains("reconnecting"),
        "{state}"
    );
    driver
        .wait_text("#status-retry", |t| t.contains("Retrying in"))
        .await;
    driver.save_screenshot(&artifact("04-offline.png")).await;
    server.restart().await;
    click(&driver, "#reconnect-now").await;
    driver.wait_text("#status-state", connected).await;
    // One reconnect, or two when the link's own retry won the race with the
    // click (which then reconnects again).
    driver
        .wait_text("#status-reconnects", |t| matches!(t, "1" | "2"))
        .await;
    quit(driver, agent.pid).await;

    // "View Details" while no window is open: the agent starts the window
    // with `--open ID`, and it opens at that item.
    let driver = launch_with(&user, &["--open", &local]).await;
    driver
        .wait_text("#details-title", |t| t == "Order update")
        .await;
    driver
        .wait_text("#details-message", |t| t.contains("ord_1001"))
        .await;

    // Ctrl+W closes the window as a user closes it. WebDriver key codes:
    // U+E009 is Control (held until U+E000 releases it).
    close_by_key(driver, "#details-close", "\u{E009}w\u{E000}", agent.pid).await;
}

/// Types `keys` into the element at `css` and waits for the window's
/// process to end (WebKit with it) while the agent stays.
async fn close_by_key(driver: TauriDriver, css: &str, keys: &str, agent_pid: u32) {
    let app = driver.app_pid().await;
    let target = driver.wait_visible(css).await;
    // The window may be gone before WebKitWebDriver answers: its answer is
    // no evidence either way; the process ending is.
    let _ = driver
        .command(
            reqwest::Method::POST,
            &format!("/element/{}/value", target.id),
            Some(json!({ "text": keys })),
        )
        .await;
    wait_for(
        &format!("{keys:?} to end the window's process"),
        WAIT,
        || async { (!proc::is_running(app)).then_some(()) },
    )
    .await;
    assert!(
        proc::is_running(agent_pid),
        "closing the window stopped the agent"
    );
    // The session has lost its browser: end what is left of it.
    tokio::time::timeout(Duration::from_secs(30), driver.quit())
        .await
        .expect("quit");
}

/// Invokes `command` with no arguments from the page: "allowed", or
/// "refused: " and the error.
async fn invoke(driver: &TauriDriver, command: &str) -> String {
    let answer = driver
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             window.__TAURI__.core.invoke(arguments[0], {}) \
               .then(() => done('allowed'), \
                     (e) => done('refused: ' + (e && e.kind ? e.kind + ': ' + e.message : e)));",
            vec![json!(command)],
        )
        .await;
    answer.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_persist_across_a_restart() {
    let _desktop = DESKTOP.lock().await;
    let _tray = Watcher::start().await;
    let server = ServerProcess::start(&[]).await;
    let (password, _) = server.add_user("ui-settings@example.com", "user");
    let user = Herald::new("desktop-settings");
    let mut agent = AgentProcess::start(&user).await;
    let driver = launch(&user).await;
    sign_in(&driver, &server.url, "ui-settings@example.com", &password).await;

    click(&driver, "#nav-settings").await;
    let switch = "input[data-type-enabled=\"order_update\"]";
    let enabled = driver.find(switch).await;
    assert!(driver.is_selected(&enabled).await, "types start enabled");
    driver.click(&enabled).await;
    let urgency = "select[data-type-urgency=\"announcement\"]";
    driver
        .execute(
            "const s = document.querySelector(arguments[0]); s.value = 'critical'; \
             s.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![json!(urgency)],
        )
        .await;
    let quiet = driver.find("#quiet-enabled").await;
    if !driver.is_selected(&quiet).await {
        driver.click(&quiet).await;
    }
    // Time fields differ between engines in how they take keys; set them as
    // a picker would, with the events a picker fires.
    driver
        .execute(
            "for (const [id, v] of [['quiet-start', '22:30'], ['quiet-end', '06:45']]) { \
               const el = document.getElementById(id); el.value = v; \
               el.dispatchEvent(new Event('input', { bubbles: true })); \
               el.dispatchEvent(new Event('change', { bubbles: true })); }",
            vec![],
        )
        .await;
    click(&driver, "#settings-save").await;
    driver
        .wait_text("#settings-result", |t| t.contains("Saved"))
        .await;
    driver.save_screenshot(&artifact("05-settings.png")).await;
    let file =
        std::fs::read_to_string(user.config_dir.join("config.toml")).expect("the settings file");
    assert!(file.contains("22:30"), "{file}");
    quit(driver, agent.pid).await;

    // The settings are the agent's: restart both, as a new session would.
    agent.terminate();
    assert!(agent.wait_exit().await.success(), "{}", agent.log_text());
    let agent = AgentProcess::start(&user).await;
    let driver = launch(&user).await;
    driver.wait_text("#conn-label", connected).await;
    click(&driver, "#nav-settings").await;
    let enabled = driver.find(switch).await;
    wait_for("the settings to load", WAIT, || async {
        let start = driver.find("#quiet-start").await;
        (driver.property(&start, "value").await == json!("22:30")).then_some(())
    })
    .await;
    assert!(
        !driver.is_selected(&enabled).await,
        "order updates stayed off"
    );
    let end = driver.find("#quiet-end").await;
    assert_eq!(driver.property(&end, "value").await, json!("06:45"));
    let select = driver.find(urgency).await;
    assert_eq!(driver.property(&select, "value").await, json!("critical"));
    assert!(
        driver
            .is_selected(&driver.find("#quiet-enabled").await)
            .await
    );
    // A bad quiet-hours value is refused with a clear error and not saved.
    driver
        .execute(
            "const el = document.getElementById('quiet-end'); el.value = '22:30'; \
             el.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![],
        )
        .await;
    click(&driver, "#settings-save").await;
    let said = driver
        .wait_text("#settings-result", |t| t.contains("same time"))
        .await;
    assert!(said.contains("22:30"), "{said}");
    let file =
        std::fs::read_to_string(user.config_dir.join("config.toml")).expect("the settings file");
    assert!(
        file.contains("06:45"),
        "the refused value was saved: {file}"
    );
    // Escape (U+E00C) closes the window, and with it the window's process.
    close_by_key(driver, "#settings-save", "\u{E00C}", agent.pid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_outlives_its_agent_and_shows_it_again_when_started() {
    let _desktop = DESKTOP.lock().await;
    let _tray = Watcher::start().await;
    let server = ServerProcess::start(&[]).await;
    let (password, user_id) = server.add_user("ui-agent@example.com", "user");
    let (admin_password, _) = server.add_user("ui-agent-admin@example.com", "admin");
    let admin = server
        .token("ui-agent-admin@example.com", &admin_password)
        .await;
    let user = Herald::new("desktop-agent");
    let mut agent = AgentProcess::start(&user).await;
    let driver = launch(&user).await;
    sign_in(&driver, &server.url, "ui-agent@example.com", &password).await;
    server.emit(&admin, &order_update(user_id, 2002)).await;
    let row = "#history-list li.item[data-kind=\"order_update\"]";
    driver.wait_visible(row).await;
    let window = driver.app_pid().await;

    // The agent crashes: the window stays, and says so in the header, in a
    // banner and in the status view, without falling back to the sign-in form.
    agent.kill9();
    agent.wait_exit().await;
    driver
        .wait_text("#conn-label", |t| t == AGENT_UNAVAILABLE)
        .await;
    let banner = driver.wait_visible("#agent-banner").await;
    assert!(driver.text(&banner).await.contains(AGENT_UNAVAILABLE));
    assert!(proc::is_running(window), "the window ended with its agent");
    click(&driver, "#nav-status").await;
    driver
        .wait_text("#status-state", |t| t == AGENT_UNAVAILABLE)
        .await;
    let signin = driver.find("#view-signin").await;
    assert!(
        driver.attribute(&signin, "hidden").await.is_some(),
        "the sign-in form showed while the agent was away"
    );
    // Commands say clearly why they cannot work; the status still answers.
    let refused = invoke(&driver, "mark_all_read").await;
    assert!(
        refused.starts_with("refused: agentUnavailable: Herald's agent is not running"),
        "{refused}"
    );
    assert_eq!(invoke(&driver, "status").await, "allowed");
    driver
        .save_screenshot(&artifact("06-agent-unavailable.png"))
        .await;

    // "Start Herald" starts the agent installed beside the window: the page
    // is live again, with the history it had.
    click(&driver, "#agent-start").await;
    driver.wait_text("#status-state", connected).await;
    driver.wait_text("#conn-label", connected).await;
    driver.wait_gone("#agent-banner:not([hidden])").await;
    let started = StartedAgent(agent::started_by_others(&user).await);
    assert_ne!(started.0, agent.pid, "the old agent answered");
    click(&driver, "#nav-history").await;
    let title = driver
        .wait_text(&format!("{row} .item-title"), |t| !t.is_empty())
        .await;
    assert_eq!(title, "Order update");
    driver.wait_text("#unread-count", |t| t == "1").await;

    // And a second crash is noticed too; an agent started by someone else
    // (here the test, as a login session's autostart would) is found by
    // itself, without the button.
    proc::kill_tree(started.0);
    driver
        .wait_text("#conn-label", |t| t == AGENT_UNAVAILABLE)
        .await;
    wait_for("the crashed agent to be gone", WAIT, || async {
        (!proc::is_running(started.0)).then_some(())
    })
    .await;
    let agent = AgentProcess::start(&user).await;
    driver.wait_text("#conn-label", connected).await;
    driver.wait_visible(row).await;
    quit(driver, agent.pid).await;
}
