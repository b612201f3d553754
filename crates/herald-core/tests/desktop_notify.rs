//! `DesktopNotifier` against a real notification server (dunst).
//!
//! Run inside `scripts/desktop-session.sh`. Each test checks three things
//! independently: what went over the bus (a D-Bus monitor on the session
//! bus sees the `Notify` call exactly as dunst received it), what dunst did
//! with it (its own `org.dunstproject.cmd0` interface, which `dunstctl` uses),
//! and what came back to us (the `ActionInvoked` channel).
// The freedesktop services under test (D-Bus, the Secret Service, a
// notification server) are Linux desktop parts; scripts/cross.sh runs the
// rest of the crate under wine.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use herald_core::notify::desktop::{DesktopNotifier, server_info};
use herald_core::notify::{
    ACTION_THIS_WAS_ME, ACTION_VIEW, ActionInvoked, Notifier, NotifyError, Toast, Urgency,
};
use tokio::sync::mpsc::unbounded_channel;
use zbus::message::Type;
use zbus::{Connection, Message, MessageStream, OwnedVariant};

#[path = "common/bus_monitor.rs"]
mod bus_monitor;
#[path = "common/child.rs"]
mod child;
#[path = "common/private_bus.rs"]
mod private_bus;

use bus_monitor::{NotifyArgs, become_monitor};
use child::run_test_in_child;
use private_bus::{PrivateBus, unique};

const WAIT: Duration = Duration::from_secs(10);
const CHILD_ENV: &str = "HERALD_TEST_NOTIFY_CHILD";

/// Tests that put toasts on dunst's screen take turns, so "the first
/// displayed toast" is always the test's own.
static DUNST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DUNST_PATH: &str = "/org/freedesktop/Notifications";
const DUNST_NAME: &str = "org.freedesktop.Notifications";
const DUNST_CMD: &str = "org.dunstproject.cmd0";

async fn dunst_call<B, R>(bus: &Connection, interface: &str, method: &str, body: &B) -> R
where
    B: serde::Serialize + zbus::Type,
    R: for<'d> zbus::wire::DynamicDeserialize<'d>,
{
    let reply = bus
        .call_method(Some(DUNST_NAME), DUNST_PATH, Some(interface), method, body)
        .await
        .unwrap_or_else(|e| panic!("{interface}.{method} on dunst: {e}"));
    reply
        .body()
        .deserialize()
        .unwrap_or_else(|e| panic!("{method} reply: {e}"))
}

async fn dunst_displayed(bus: &Connection) -> u32 {
    let v: OwnedVariant = dunst_call(
        bus,
        "org.freedesktop.DBus.Properties",
        "Get",
        &(DUNST_CMD, "displayedLength"),
    )
    .await;
    u32::try_from(v).expect("displayedLength is a u32")
}

async fn dunst_history(bus: &Connection) -> Vec<HashMap<String, OwnedVariant>> {
    dunst_call(bus, DUNST_CMD, "NotificationListHistory", &()).await
}

async fn dunst_close_all(bus: &Connection) {
    let () = dunst_call(bus, DUNST_CMD, "NotificationCloseAll", &()).await;
}

/// Polls `probe` until it returns `Some`, failing the test after [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A D-Bus monitor: sees every matching message on the session bus.
struct Monitor {
    _bus: Connection,
    stream: MessageStream,
    seen: Vec<Message>,
}

impl Monitor {
    async fn start() -> Monitor {
        let rules = [
            "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
            "type='method_call',interface='org.freedesktop.DBus',member='AddMatch'",
            "type='method_return'",
        ];
        let (bus, stream) = become_monitor(&rules).await;
        Monitor {
            _bus: bus,
            stream,
            seen: Vec::new(),
        }
    }

    /// The first message so far, or to come, that `pred` accepts.
    async fn find(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        if let Some(found) = self.seen.iter().find(|m| pred(m)) {
            return found.clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            let msg = match next {
                Ok(Some(Ok(msg))) => msg,
                Ok(Some(Err(e))) => panic!("monitor stream error: {e}"),
                Ok(None) => panic!("the monitor connection closed"),
                Err(_) => panic!("timed out waiting for {what}"),
            };
            self.seen.push(msg.clone());
            if pred(&msg) {
                return msg;
            }
        }
    }

    /// The `Notify` call whose summary is `summary`, and its decoded arguments.
    async fn notify_call(&mut self, summary: &str) -> (Message, NotifyArgs) {
        let msg = self
            .find("the Notify call", |m| {
                m.header().member().is_some_and(|n| n.as_str() == "Notify")
                    && m.body()
                        .deserialize::<NotifyArgs>()
                        .is_ok_and(|args| args.3 == summary)
            })
            .await;
        let args = msg
            .body()
            .deserialize::<NotifyArgs>()
            .expect("Notify arguments");
        (msg, args)
    }

    /// The reply to `call`.
    async fn reply_to(&mut self, call: &Message) -> Message {
        let serial = call.primary_header().serial_num();
        self.find("a method reply", |m| {
            m.message_type() == Type::MethodReturn && m.header().reply_serial() == Some(serial)
        })
        .await
    }
}

fn hint<T: TryFrom<OwnedVariant>>(hints: &HashMap<String, OwnedVariant>, name: &str) -> Option<T> {
    let value = hints.get(name)?.try_clone().expect("clone a hint");
    T::try_from(value).ok()
}

fn history_text(entry: &HashMap<String, OwnedVariant>, key: &str) -> String {
    hint::<String>(entry, key).unwrap_or_else(|| panic!("history entry has no {key}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_toast_reaches_dunst_and_a_click_reports_view() {
    let _turn = DUNST.lock().await;
    let bus = Connection::session().await.expect("session bus");
    dunst_close_all(&bus).await;
    let mut monitor = Monitor::start().await;

    let (tx, mut actions) = unbounded_channel();
    let notifier = DesktopNotifier::new("Herald", "herald", tx);
    let toast = Toast {
        summary: format!("New sign-in {}", unique("toast")),
        body: "Firefox on Linux, from 203.0.113.7".into(),
        urgency: Urgency::Critical,
        timeout: None,
        actions: vec![
            (ACTION_VIEW.into(), "View Details".into()),
            (ACTION_THIS_WAS_ME.into(), "This was me".into()),
        ],
        item_id: Some(42),
        category: Some("x-herald.security".into()),
        markup: false,
    };
    let started = Instant::now();
    notifier.show(&toast).expect("dunst accepts the toast");
    // show() returns once dunst took the toast, long before anyone clicks.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "show took {:?}",
        started.elapsed()
    );

    // What dunst received.
    let (call, (app, _replaces, _icon, summary, body, keys, hints, expire)) =
        monitor.notify_call(&toast.summary).await;
    assert_eq!(
        (app.as_str(), summary.as_str(), body.as_str()),
        ("Herald", &*toast.summary, &*toast.body)
    );
    assert_eq!(
        keys,
        [
            "default",
            "View Details",
            "view",
            "View Details",
            "this-was-me",
            "This was me"
        ],
        "the body click (default) and both buttons"
    );
    assert_eq!(expire, -1, "the server's default timeout");
    assert_eq!(
        hint::<String>(&hints, "desktop-entry").as_deref(),
        Some("herald")
    );
    assert_eq!(hint::<u8>(&hints, "urgency"), Some(2), "critical");
    assert_eq!(
        hint::<String>(&hints, "category").as_deref(),
        Some("x-herald.security")
    );
    let pid = i32::try_from(std::process::id()).expect("pid fits");
    assert_eq!(hint::<i32>(&hints, "sender-pid"), Some(pid));
    let dunst_id: u32 = monitor
        .reply_to(&call)
        .await
        .body()
        .deserialize()
        .expect("the toast's id");

    // The toast's connection has subscribed to the answer before we click:
    // a click before that would be lost, by any client.
    let sender = call
        .header()
        .sender()
        .expect("Notify has a sender")
        .to_string();
    let from_sender = |m: &Message, needle: &str| {
        m.header()
            .member()
            .is_some_and(|n| n.as_str() == "AddMatch")
            && m.header().sender().is_some_and(|s| s.as_str() == sender)
            && m.body()
                .deserialize::<String>()
                .is_ok_and(|rule| rule.contains(needle))
    };
    let closed = monitor
        .find("AddMatch NotificationClosed", |m| {
            from_sender(m, "NotificationClosed")
        })
        .await;
    monitor.reply_to(&closed).await;
    assert!(
        monitor.seen.iter().any(|m| from_sender(m, "ActionInvoked")),
        "subscribed to ActionInvoked"
    );

    // dunst shows it; "click" it the way `dunstctl action 0` does.
    eventually("dunst to display the toast", || async {
        (dunst_displayed(&bus).await >= 1).then_some(())
    })
    .await;
    let () = dunst_call(&bus, DUNST_CMD, "NotificationAction", &(0u32,)).await;
    let invoked = tokio::time::timeout(WAIT, actions.recv())
        .await
        .expect("an action arrives in time")
        .expect("the channel is open");
    assert_eq!(
        invoked,
        ActionInvoked {
            item_id: Some(42),
            action: ACTION_VIEW.into()
        }
    );

    // dunst's own record of what it showed.
    dunst_close_all(&bus).await;
    let entry = eventually("the toast in dunst's history", || async {
        dunst_history(&bus)
            .await
            .into_iter()
            .find(|e| hint::<i32>(e, "id").and_then(|id| u32::try_from(id).ok()) == Some(dunst_id))
    })
    .await;
    assert_eq!(history_text(&entry, "summary"), toast.summary);
    assert_eq!(history_text(&entry, "body"), toast.body);
    assert_eq!(history_text(&entry, "appname"), "Herald");
    assert_eq!(history_text(&entry, "category"), "x-herald.security");
    assert_eq!(history_text(&entry, "default_action_name"), "default");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_summary_toast_has_its_timeout_urgency_and_a_default_action() {
    let _turn = DUNST.lock().await;
    let bus = Connection::session().await.expect("session bus");
    let mut monitor = Monitor::start().await;

    let (tx, _actions) = unbounded_channel();
    let notifier = DesktopNotifier::new("Herald", "herald", tx);
    let toast = Toast {
        summary: format!("7 missed {}", unique("summary")),
        body: "5 order updates, 2 logins".into(),
        urgency: Urgency::Low,
        timeout: Some(Duration::from_secs(4)),
        actions: Vec::new(),
        item_id: None,
        category: None,
        markup: false,
    };
    notifier.show(&toast).expect("dunst accepts the toast");

    let (_call, (_, _, _, _, _, keys, hints, expire)) = monitor.notify_call(&toast.summary).await;
    assert_eq!(keys, ["default", "Open"], "a body click still opens Herald");
    assert_eq!(expire, 4000);
    assert_eq!(hint::<u8>(&hints, "urgency"), Some(0), "low");
    assert!(!hints.contains_key("category"), "{:?}", hints.keys());
    dunst_close_all(&bus).await;
}

#[test]
fn server_info_reports_dunst_with_actions() {
    let info = server_info().expect("dunst answers");
    assert_eq!(info.name, "dunst");
    assert!(info.actions, "dunst shows action buttons: {info:?}");
    assert!(
        info.body_markup,
        "the session's dunst renders markup: {info:?}"
    );
    assert!(!info.version.is_empty(), "{info:?}");
}

// ---------------------------------------------------------------------------
// No notification server: the scenario runs in a child process, because the
// session bus address is process-wide.
// ---------------------------------------------------------------------------

#[test]
fn without_a_notification_server_show_is_unavailable_at_once() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let (tx, _rx) = unbounded_channel();
        let notifier = DesktopNotifier::new("Herald", "herald", tx);
        let toast = Toast {
            summary: "nobody will see this".into(),
            body: String::new(),
            urgency: Urgency::Normal,
            timeout: None,
            actions: vec![(ACTION_VIEW.into(), "View Details".into())],
            item_id: Some(1),
            category: None,
            markup: false,
        };
        let started = Instant::now();
        let err = notifier
            .show(&toast)
            .expect_err("there is no notification server");
        let elapsed = started.elapsed();
        eprintln!("show failed after {elapsed:?}: {err}");
        assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
        let err = server_info().expect_err("there is no notification server");
        assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
        return;
    }
    let bus = PrivateBus::start();
    for address in [bus.address.as_str(), "unix:path=/nonexistent/herald-bus"] {
        run_test_in_child(
            "without_a_notification_server_show_is_unavailable_at_once",
            CHILD_ENV,
            address,
            |_| {},
        );
    }
}
