//! `herald` as a user runs it: sign in, listen, see notifications, history.
//! Runs inside scripts/desktop-session.sh (keyring unlocked, dunst running).

use herald_system_tests::client::{Herald, Line};
use herald_system_tests::desktop::{NotifyMonitor, secret_tool_search};
use herald_system_tests::server::{ServerProcess, order_update};
use herald_system_tests::{WAIT, files_containing, wait_for};
use serde_json::json;

#[tokio::test]
async fn sign_in_keeps_the_token_in_the_secret_service_only() {
    let server = ServerProcess::start(&[]).await;
    let (password, _) = server.add_user("alice@example.com", "user");
    let herald = Herald::new("signin");
    let output = herald
        .login(&server.url, "alice@example.com", &password)
        .await;
    assert!(output.status.success(), "login failed: {}", output.stderr);
    assert!(output.stderr.contains("keyring"), "{}", output.stderr);

    // The Secret Service holds it, under Herald's service name.
    let found = secret_tool_search("service", "herald");
    let token_start = found
        .lines()
        .find_map(|l| l.strip_prefix("secret = "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no Herald secret in the Secret Service: {found}"));
    let stored: serde_json::Value =
        serde_json::from_str(&token_start).expect("the secret is the JSON token pair");
    let access = stored["access"]
        .as_str()
        .expect("an access token")
        .to_owned();
    assert!(access.len() > 20);

    // Nowhere else: not in any file of the user's home, config or data
    // directory (all under herald.root), not in the CLI's output.
    let status = herald.run(&["status"], None).await;
    assert!(
        status.stdout.contains("in the keyring"),
        "{}",
        status.stdout
    );
    let mut listen = herald.listen(&["--no-desktop"]);
    listen.wait_status("Connected").await;
    let (_, lines) = listen.stop().await;
    assert!(
        herald.config_dir.join("config.toml").exists(),
        "the settings were written"
    );
    let leaks = files_containing(&herald.root, &access);
    assert!(leaks.is_empty(), "the token leaked into {leaks:?}");
    let said: String = lines.iter().map(|l| format!("{l:?}\n")).collect::<String>()
        + &output.stdout
        + &output.stderr
        + &status.stdout
        + &status.stderr;
    assert!(!said.contains(&access), "the token was printed");
}

#[tokio::test]
async fn a_bad_password_exits_1_with_a_clear_message_and_stores_nothing() {
    let server = ServerProcess::start(&[]).await;
    server.add_user("bob@example.com", "user");
    let herald = Herald::new("badpw");
    let output = herald
        .login(&server.url, "bob@example.com", "not-the-password")
        .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stderr.contains("wrong email or password"),
        "{}",
        output.stderr
    );
    assert!(
        !herald.config_dir.join("config.toml").exists(),
        "nothing saved on failure"
    );
}

#[tokio::test]
async fn plain_http_to_another_machine_needs_insecure_http_and_then_works() {
    // The server listens on this machine's network address too: to Herald
    // that URL is another machine, reached without TLS.
    let server = ServerProcess::start_on_all(&[]).await;
    let (password, _) = server.add_user("carol@example.com", "user");
    let lan = server.lan_url();
    let herald = Herald::new("plainhttp");
    let keyring_user = format!("carol@example.com @ {lan}");

    let refused = herald.login(&lan, "carol@example.com", &password).await;
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("plain http://") && refused.stderr.contains("--insecure-http"),
        "{}",
        refused.stderr
    );
    assert!(
        !herald.config_dir.join("config.toml").exists(),
        "nothing saved on a refusal"
    );
    let found = secret_tool_search("username", &keyring_user);
    assert!(!found.contains("secret = "), "a secret was stored: {found}");

    // With the flag: a warning, a session, and a working connection.
    let allowed = herald
        .run(
            &[
                "--server",
                &lan,
                "login",
                "--email",
                "carol@example.com",
                "--password-stdin",
                "--insecure-http",
            ],
            Some(&password),
        )
        .await;
    assert!(allowed.status.success(), "{}", allowed.stderr);
    assert!(allowed.stderr.contains("warning:"), "{}", allowed.stderr);
    let found = secret_tool_search("username", &keyring_user);
    assert!(found.contains("secret = "), "no secret stored: {found}");
    let mut listen = herald.listen(&["--no-desktop"]);
    listen.wait_status("Connected").await;
    listen.stop().await;

    // The consent is for that server only: another plain-HTTP address for
    // the same machine (its other port is not what the user allowed) is
    // refused before any token is sent.
    let other = format!(
        "http://{}:{}",
        herald_system_tests::lan_ip(),
        server.port + 1
    );
    let status = herald.run(&["--server", &other, "test"], None).await;
    assert!(!status.status.success(), "{}", status.stderr);
    assert!(status.stderr.contains("plain http://"), "{}", status.stderr);
}

#[tokio::test]
async fn events_become_desktop_notifications_and_view_details_opens_the_url() {
    let server = ServerProcess::start(&[]).await;
    let (admin_pw, _) = server.add_user("admin@example.com", "admin");
    let (password, alice) = server.add_user("carol@example.com", "user");
    let admin = server.token("admin@example.com", &admin_pw).await;
    let herald = Herald::new("notify");
    herald
        .login_ok(&server.url, "carol@example.com", &password)
        .await;
    let mut monitor = NotifyMonitor::start_clean().await;
    let mut listen = herald.listen(&["--json"]);
    listen.wait_status("Connected").await;
    // Catch-up brings this device's own login alert first; it must not toast.
    let mut event = order_update(alice, 1);
    event["url"] = json!(format!("{}/orders/ord_1", server.url));
    let id = server.emit(&admin, &event).await;
    let order = listen
        .item_where("the order", |i| i["serverId"] == json!(id))
        .await;
    assert_eq!(order["message"], "Order ord_1 shipped");

    let call = monitor.next(WAIT).await.expect("a Notify call");
    assert_eq!(call.app_name, "Herald");
    assert_eq!(call.summary, "Order update");
    assert_eq!(call.body, "Order ord_1 shipped");
    assert!(call.actions.iter().any(|a| a == "View Details"), "{call:?}");

    // Click it (dunstctl acts on the toast at position 0, the only one open).
    let clicked = std::process::Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .expect("dunstctl");
    assert!(clicked.success());
    let opened = wait_for("the opener to run", WAIT, || async {
        std::fs::read_to_string(&herald.opened_log)
            .ok()
            .filter(|s| !s.is_empty())
    })
    .await;
    assert_eq!(opened.trim(), format!("{}/orders/ord_1", server.url));

    // A login elsewhere: the alert has both actions and is critical.
    let _ = server.token("carol@example.com", &password).await;
    let call = monitor.next(WAIT).await.expect("the login alert");
    assert_eq!(call.summary, "New login detected");
    assert!(call.actions.iter().any(|a| a == "This was me"), "{call:?}");
    assert!(call.hints.iter().any(|h| h == "urgency"), "{call:?}");
    let (status, _) = listen.stop().await;
    assert!(status.success(), "listen exits 0 on SIGTERM");
}

#[tokio::test]
async fn doctor_reports_each_service_and_what_to_do() {
    let server = ServerProcess::start(&[]).await;
    let (password, _) = server.add_user("frank@example.com", "user");
    let herald = Herald::new("doctor");
    herald
        .login_ok(&server.url, "frank@example.com", &password)
        .await;
    let output = herald.run(&["doctor"], None).await;
    let report = output.stdout;
    let line = |name: &str| {
        report
            .lines()
            .find(|l| l.contains(name))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(line("keyring").starts_with("ok"), "{report}");
    assert!(
        line("notification").starts_with("ok") && line("notification").contains("dunst"),
        "{report}"
    );
    assert!(line("server").starts_with("ok"), "{report}");
    assert!(line("catch-up").starts_with("ok"), "{report}");
    // The test session has no StatusNotifierWatcher: said, with what to do.
    assert!(line("tray").starts_with("FAIL"), "{report}");
    assert!(report.contains("→"), "a hint follows the failure: {report}");
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed check fails the command"
    );
}

#[tokio::test]
async fn without_a_keyring_sign_in_fails_clearly_and_writes_nothing() {
    let server = ServerProcess::start(&[]).await;
    let (password, _) = server.add_user("gina@example.com", "user");
    let herald = Herald::new("nokeyring");
    let output = herald
        .run_with_env(
            &[
                "--server",
                &server.url,
                "login",
                "--email",
                "gina@example.com",
                "--password-stdin",
            ],
            Some(&password),
            &[
                ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
                ("HERALD_KEYRING_TIMEOUT_MS", "3000"),
            ],
        )
        .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stderr.contains("no keyring is reachable"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("never in a file"),
        "{}",
        output.stderr
    );
    // No plaintext fallback: no settings, no history, nothing in the home.
    assert!(!herald.config_dir.exists() && !herald.data_dir.exists());
    let home: Vec<_> = std::fs::read_dir(herald.root.join("home"))
        .expect("home")
        .collect();
    assert!(home.is_empty(), "nothing written under HOME: {home:?}");
}

#[tokio::test]
async fn server_text_reaches_the_terminal_without_control_characters() {
    let server = ServerProcess::start(&[]).await;
    let (admin_pw, _) = server.add_user("admin@example.com", "admin");
    let (password, henry) = server.add_user("henry@example.com", "user");
    let admin = server.token("admin@example.com", &admin_pw).await;
    let herald = Herald::new("terminal");
    herald
        .login_ok(&server.url, "henry@example.com", &password)
        .await;
    let mut listen = herald.listen(&["--no-desktop"]);
    listen.wait_status("Connected").await;
    // A bidi override makes a line read otherwise than it is; a newline
    // would forge a second item line.
    let mut event = order_update(henry, 1);
    event["title"] = json!("Refund \u{202E}gnp.exe");
    event["message"] = json!("ok\n*     9  2020-01-01  [order_update] Forged: line");
    server.emit(&admin, &event).await;
    let line = listen
        .wait_line(
            "the item",
            |l| matches!(l, Line::Out(o) if o.contains("Refund")),
        )
        .await;
    let Line::Out(line) = line else {
        unreachable!()
    };
    assert!(!line.contains('\u{202E}'), "{line:?}");
    assert!(line.contains("Refund gnp.exe: ok *     9"), "{line:?}");
    let (status, lines) = listen.stop().await;
    assert!(status.success());
    assert!(
        !lines
            .iter()
            .any(|l| matches!(l, Line::Out(o) if o.starts_with("*     9"))),
        "a forged line: {lines:#?}"
    );

    // The text history is cleaned the same way; the JSON keeps the text as
    // it was sent (escaped by JSON itself).
    let text = herald.run(&["history"], None).await;
    assert!(text.status.success(), "{}", text.stderr);
    assert!(!text.stdout.contains('\u{202E}'), "{:?}", text.stdout);
    assert_eq!(
        text.stdout.lines().filter(|l| l.contains("Refund")).count(),
        1,
        "{}",
        text.stdout
    );
    let json = herald.history(10).await;
    let item = json
        .iter()
        .find(|i| i["title"].as_str().is_some_and(|t| t.contains("Refund")))
        .expect("the item in the history");
    assert_eq!(item["title"], "Refund \u{202E}gnp.exe");
}

#[tokio::test]
async fn an_engine_lock_held_by_a_silent_process_is_reported_not_raced() {
    let herald = Herald::new("silent");
    // A process that holds the lock and never answers on the socket: this test.
    std::fs::create_dir_all(&herald.data_dir).expect("the data dir");
    let mut lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(herald.data_dir.join("engine.lock"))
        .expect("the lock file");
    lock.try_lock().expect("take the engine lock");
    std::io::Write::write_all(&mut lock, b"4242").expect("write a pid");

    let read = herald.run(&["read", "1"], None).await;
    assert_eq!(read.status.code(), Some(1), "{}", read.stderr);
    assert!(
        read.stderr.contains("(process 4242) holds the lock")
            && read.stderr.contains("does not answer"),
        "{}",
        read.stderr
    );
    let listen = herald.listen(&["--json"]);
    let (status, lines) = listen.finish().await;
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| matches!(l, Line::Err(e) if e.contains("does not answer"))),
        "{lines:#?}"
    );
    let status = herald.run(&["status"], None).await;
    assert!(
        status
            .stdout
            .contains("agent:       not answering (process 4242 holds the engine lock)"),
        "{}",
        status.stdout
    );
    drop(lock);
    // Free again: `status` says so.
    let status = herald.run(&["status"], None).await;
    assert!(
        status.stdout.contains("agent:       not running"),
        "{}",
        status.stdout
    );
}
