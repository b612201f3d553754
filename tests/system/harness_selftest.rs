//! The desktop harness checked against things this test builds itself: a
//! fake tray item and menu on the session bus, an X window, child processes,
//! and a web page in WebKitGTK's MiniBrowser under tauri-driver.
//!
//! Run inside `scripts/desktop-session.sh` (Xvfb and a D-Bus session).
#![allow(clippy::unwrap_used, missing_debug_implementations)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use herald_system_tests::tray::{self, Watcher};
use herald_system_tests::{WAIT, proc, temp_dir, wait_for, x11};
use serde_json::json;
use x11rb::connection::Connection as _;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, PropMode, WindowClass,
};
use x11rb::wrapper::ConnectionExt as _;
use zbus::{OwnedObjectPath, OwnedVariant, Variant, interface};

// --- tray -------------------------------------------------------------------

/// A StatusNotifierItem like the one libayatana-appindicator serves: no
/// `ToolTip`, a `Menu` path, and an icon the test can change.
struct FakeItem {
    icon: Arc<Mutex<String>>,
}

#[interface(name = "org.kde.StatusNotifierItem")]
impl FakeItem {
    #[zbus(property)]
    fn id(&self) -> String {
        "herald-selftest".into()
    }
    #[zbus(property)]
    fn title(&self) -> String {
        "Herald self-test".into()
    }
    #[zbus(property)]
    fn status(&self) -> String {
        "Active".into()
    }
    #[zbus(property)]
    fn icon_name(&self) -> String {
        self.icon.lock().unwrap().clone()
    }
    #[zbus(property)]
    fn icon_theme_path(&self) -> String {
        "/tmp/herald-icons".into()
    }
    #[zbus(property)]
    fn menu(&self) -> OwnedObjectPath {
        OwnedObjectPath::try_from("/MenuBar").unwrap()
    }
}

/// A second item that does have a tooltip, registered by bus name.
struct TooltipItem;

/// A StatusNotifierItem tooltip: icon name, icon pixmaps, title, text.
type ToolTip = (String, Vec<(i32, i32, Vec<u8>)>, String, String);

#[interface(name = "org.kde.StatusNotifierItem")]
impl TooltipItem {
    #[zbus(property)]
    fn id(&self) -> String {
        "with-tooltip".into()
    }
    #[zbus(property)]
    fn tool_tip(&self) -> ToolTip {
        (
            "tip-icon".into(),
            vec![(1, 1, vec![255, 1, 2, 3])],
            "3 unread".into(),
            "from Herald".into(),
        )
    }
}

type Node = (i32, HashMap<String, OwnedVariant>, Vec<OwnedVariant>);

fn props(pairs: &[(&str, Variant<'static>)]) -> HashMap<String, OwnedVariant> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), OwnedVariant::try_from(v.clone()).unwrap()))
        .collect()
}

/// A layout node as a variant, the form children take in `GetLayout`.
fn child(
    id: i32,
    properties: HashMap<String, OwnedVariant>,
    children: Vec<OwnedVariant>,
) -> OwnedVariant {
    let structure = zbus::wire::StructureBuilder::new()
        .add_field(id)
        .add_field(properties)
        .add_field(children)
        .build()
        .unwrap();
    OwnedVariant::try_from(Variant::Structure(structure)).unwrap()
}

/// A dbusmenu with a mnemonic, a separator, a checkmark, a disabled entry, a
/// submenu, and a record of the events it received.
struct FakeMenu {
    events: Arc<Mutex<Vec<(i32, String)>>>,
}

#[interface(name = "com.canonical.dbusmenu")]
impl FakeMenu {
    #[zbus(out_args("revision", "layout"))]
    fn get_layout(
        &self,
        _parent_id: i32,
        _recursion_depth: i32,
        _property_names: Vec<String>,
    ) -> (u32, Node) {
        let s = |text: &str| Variant::from(text.to_owned());
        let children = vec![
            child(1, props(&[("label", s("_Open Herald"))]), vec![]),
            child(2, props(&[("type", s("separator"))]), vec![]),
            child(
                3,
                props(&[
                    ("label", s("Do not _disturb")),
                    ("toggle-type", s("checkmark")),
                    ("toggle-state", Variant::from(1i32)),
                ]),
                vec![],
            ),
            child(
                4,
                props(&[("label", s("Settings")), ("children-display", s("submenu"))]),
                vec![child(5, props(&[("label", s("Sound__on"))]), vec![])],
            ),
            child(
                6,
                props(&[("label", s("Reconnect")), ("enabled", Variant::from(false))]),
                vec![],
            ),
            child(7, props(&[("label", s("_Quit"))]), vec![]),
        ];
        (
            3,
            (0, props(&[("children-display", s("submenu"))]), children),
        )
    }

    fn event(&self, id: i32, event_id: String, _data: OwnedVariant, _timestamp: u32) {
        self.events.lock().unwrap().push((id, event_id));
    }

    fn about_to_show(&self, _id: i32) -> bool {
        false
    }
}

async fn register(conn: &zbus::Connection, service: &str) {
    conn.call_method(
        Some(tray::WATCHER_NAME),
        tray::WATCHER_PATH,
        Some(tray::WATCHER_NAME),
        "RegisterStatusNotifierItem",
        &(service,),
    )
    .await
    .unwrap_or_else(|e| panic!("register {service} with the watcher: {e}"));
}

async fn watcher_property(conn: &zbus::Connection, name: &str) -> OwnedVariant {
    zbus::fdo::PropertiesProxy::builder(conn)
        .destination(tray::WATCHER_NAME)
        .path(tray::WATCHER_PATH)
        .build()
        .await
        .unwrap()
        .get(
            zbus::names::InterfaceName::from_static_str_unchecked(tray::WATCHER_NAME),
            name,
        )
        .await
        .unwrap_or_else(|e| panic!("read the watcher's {name}: {e}"))
}

async fn name_has_owner(conn: &zbus::Connection, name: &str) -> bool {
    zbus::fdo::DBusProxy::new(conn)
        .await
        .unwrap()
        .name_has_owner(name.try_into().unwrap())
        .await
        .unwrap()
}

/// One test for everything that needs the watcher's well-known name, since
/// the name can have one owner and tests run in parallel.
#[tokio::test]
async fn watcher_records_items_and_reads_their_menus() {
    let watcher = Watcher::start().await;

    // A second watcher must fail loudly while the name is taken.
    let second =
        std::panic::AssertUnwindSafe(Watcher::start_within(std::time::Duration::from_millis(300)))
            .catch_unwind()
            .await;
    assert!(
        second.is_err(),
        "a second watcher took a name that is taken"
    );

    // The appindicator way: register an object path; the caller owns it.
    let icon = Arc::new(Mutex::new("herald-idle".to_owned()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let item_path = "/org/ayatana/NotificationItem/herald_selftest";
    let app = zbus::connection::Builder::session()
        .serve_at(item_path, FakeItem { icon: icon.clone() })
        .serve_at(
            "/MenuBar",
            FakeMenu {
                events: events.clone(),
            },
        )
        .build()
        .await
        .unwrap();
    let app_name = app.unique_name().unwrap().to_string();
    assert!(watcher.items().is_empty(), "no item registered yet");
    register(&app, item_path).await;
    let item = watcher.wait_item().await;
    assert_eq!(
        item.bus, app_name,
        "the caller owns a path-only registration"
    );
    assert_eq!(item.path, item_path);

    // The KDE way: register a bus name; the item is at /StatusNotifierItem.
    let other = zbus::connection::Builder::session()
        .serve_at(tray::DEFAULT_ITEM_PATH, TooltipItem)
        .build()
        .await
        .unwrap();
    let other_name = other.unique_name().unwrap().to_string();
    register(&other, &other_name).await;
    let tooltip_item = watcher.wait_item_from(&other_name).await;
    assert_eq!(tooltip_item.path, tray::DEFAULT_ITEM_PATH);
    // Registering again does not list the item twice.
    register(&app, item_path).await;
    assert_eq!(watcher.items().len(), 2, "{:?}", watcher.items());

    let listed = watcher_property(&app, "RegisteredStatusNotifierItems").await;
    let listed = Vec::<String>::try_from(listed).unwrap();
    assert_eq!(
        listed,
        vec![
            format!("{app_name}{item_path}"),
            format!("{other_name}{}", tray::DEFAULT_ITEM_PATH)
        ]
    );
    let host = watcher_property(&app, "IsStatusNotifierHostRegistered").await;
    assert!(bool::try_from(host).unwrap());
    let version = watcher_property(&app, "ProtocolVersion").await;
    assert_eq!(i32::try_from(version).unwrap(), 0);

    // Item properties; a missing one reads as None.
    assert_eq!(item.id().await.as_deref(), Some("herald-selftest"));
    assert_eq!(item.title().await.as_deref(), Some("Herald self-test"));
    assert_eq!(item.status().await.as_deref(), Some("Active"));
    assert_eq!(item.icon_name().await.as_deref(), Some("herald-idle"));
    assert_eq!(
        item.icon_theme_path().await.as_deref(),
        Some("/tmp/herald-icons")
    );
    assert_eq!(item.tool_tip().await, None, "the fake item has no ToolTip");
    assert_eq!(item.menu().await.unwrap().as_str(), "/MenuBar");
    let tip = tooltip_item.tool_tip().await.expect("a ToolTip");
    assert_eq!(tip.icon_name, "tip-icon");
    assert_eq!(tip.icon_pixmaps, vec![(1, 1, vec![255, 1, 2, 3])]);
    assert_eq!(
        (tip.title.as_str(), tip.description.as_str()),
        ("3 unread", "from Herald")
    );

    *icon.lock().unwrap() = "herald-unread".to_owned();
    assert_eq!(item.wait_icon_change("herald-idle").await, "herald-unread");

    // The menu, flattened depth first.
    let entries = item.menu_layout().await;
    let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Open Herald",
            "",
            "Do not disturb",
            "Settings",
            "Sound_on",
            "Reconnect",
            "Quit"
        ]
    );
    assert!(entries[1].is_separator());
    let dnd = tray::find_label(&entries, "Do not disturb").unwrap();
    assert_eq!(dnd.toggle_type.as_deref(), Some("checkmark"));
    assert!(dnd.is_checked());
    let settings = tray::find_label(&entries, "Settings").unwrap();
    assert_eq!(settings.children, vec![5]);
    assert_eq!(settings.children_display.as_deref(), Some("submenu"));
    assert_eq!(tray::find_label(&entries, "Sound_on").unwrap().parent, 4);
    assert!(!tray::find_label(&entries, "Reconnect").unwrap().enabled);
    assert!(tray::find_label(&entries, "Open Herald").unwrap().visible);
    assert!(
        tray::find_label(&entries, "_Quit").is_none(),
        "mnemonics are stripped"
    );

    // A click reaches the menu's owner as an Event.
    item.click_label("Quit").await;
    wait_for("the fake menu to receive the click", WAIT, || async {
        events
            .lock()
            .unwrap()
            .contains(&(7, "clicked".to_owned()))
            .then_some(())
    })
    .await;
    let disabled = std::panic::AssertUnwindSafe(item.click_label("Reconnect"))
        .catch_unwind()
        .await;
    assert!(disabled.is_err(), "clicking a disabled entry must fail");

    // The item's owner leaving the bus is seen, and it leaves the list.
    drop(other);
    tooltip_item.wait_gone().await;
    let listed = watcher_property(&app, "RegisteredStatusNotifierItems").await;
    assert_eq!(
        Vec::<String>::try_from(listed).unwrap(),
        vec![format!("{app_name}{item_path}")]
    );

    // A panel restart: registrations are forgotten, and an item that
    // registers again is listed again.
    watcher.reannounce().await;
    assert!(watcher.items().is_empty());
    register(&app, item_path).await;
    assert_eq!(watcher.wait_item().await.bus, app_name);

    // Dropping the watcher gives the name back, and a new one can take it.
    drop(watcher);
    wait_for("the watcher name to be released", WAIT, || async {
        (!name_has_owner(&app, tray::WATCHER_NAME).await).then_some(())
    })
    .await;
    let again = Watcher::start().await;
    assert!(again.items().is_empty());
    again.stop().await;
    assert!(
        !name_has_owner(&app, tray::WATCHER_NAME).await,
        "stop releases the name"
    );
    // Straight after a drop, start waits for the name instead of failing.
    drop(Watcher::start().await);
    drop(Watcher::start().await);
}

// --- X11 --------------------------------------------------------------------

#[tokio::test]
async fn delete_window_reaches_the_window_owner() {
    let display = x11::Display::open();
    let conn = &display.conn;
    let atoms = display.atoms;
    let root = conn.setup().roots[display.screen].root;
    let title = format!("herald selftest {}", std::process::id());
    let make = |title: &str, protocols: bool| {
        let window = conn.generate_id().unwrap();
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            root,
            0,
            0,
            64,
            64,
            0,
            WindowClass::INPUT_OUTPUT,
            x11rb::COPY_FROM_PARENT,
            &CreateWindowAux::new().event_mask(EventMask::STRUCTURE_NOTIFY),
        )
        .unwrap();
        conn.change_property8(
            PropMode::REPLACE,
            window,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            title.as_bytes(),
        )
        .unwrap();
        conn.change_property8(
            PropMode::REPLACE,
            window,
            atoms.net_wm_name,
            atoms.utf8_string,
            title.as_bytes(),
        )
        .unwrap();
        if protocols {
            conn.change_property32(
                PropMode::REPLACE,
                window,
                atoms.wm_protocols,
                AtomEnum::ATOM,
                &[atoms.wm_delete_window],
            )
            .unwrap();
        }
        window
    };
    let window = make(&title, true);
    // Round trip: the server has handled everything above once it answers.
    conn.get_input_focus().unwrap().reply().unwrap();

    assert!(x11::window_exists(&title));
    assert!(!x11::window_mapped(&title), "not mapped yet");
    conn.map_window(window).unwrap();
    conn.flush().unwrap();
    x11::wait_window_mapped(&title, true, WAIT).await;
    assert_eq!(x11::Display::open().windows_named(&title), vec![window]);

    assert_eq!(x11::close_window_named(&title), 1);
    let message = wait_for("WM_DELETE_WINDOW to arrive", WAIT, || async {
        loop {
            match conn.poll_for_event().unwrap()? {
                Event::ClientMessage(message) => return Some(message),
                // Map and configure notifications come first.
                _ => continue,
            }
        }
    })
    .await;
    assert_eq!(message.window, window);
    assert_eq!(message.type_, atoms.wm_protocols);
    assert_eq!(message.format, 32);
    assert_eq!(message.data.as_data32()[0], atoms.wm_delete_window);

    conn.unmap_window(window).unwrap();
    conn.flush().unwrap();
    x11::wait_window_mapped(&title, false, WAIT).await;
    assert!(x11::window_exists(&title), "unmapped is not gone");

    // No such window, and a window that does not take WM_DELETE_WINDOW.
    let missing = x11::try_close_window_named("herald no such window").unwrap_err();
    assert!(missing.contains("no X window"), "{missing}");
    let stubborn_title = format!("{title} stubborn");
    make(&stubborn_title, false);
    conn.get_input_focus().unwrap().reply().unwrap();
    let refused = x11::try_close_window_named(&stubborn_title).unwrap_err();
    assert!(refused.contains("WM_DELETE_WINDOW"), "{refused}");

    conn.destroy_window(window).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
    assert!(!x11::window_exists(&title));
}

// --- /proc ------------------------------------------------------------------

#[tokio::test]
async fn process_tree_follows_children_and_grandchildren() {
    let mut shell = Command::new("sh")
        .args(["-c", "sleep 300 & wait"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let shell_pid = shell.id();
    // The shell starts sleep on its own schedule: wait for it to show up.
    let tree = wait_for("sleep to run under sh", WAIT, || async {
        let tree = proc::tree(shell_pid);
        tree.iter().any(|p| p.name == "sleep").then_some(tree)
    })
    .await;
    assert_eq!(tree[0].pid, shell_pid, "the root comes first");
    assert_eq!(tree[0].ppid, std::process::id());
    let sleep = tree.iter().find(|p| p.name == "sleep").unwrap();
    assert_eq!(sleep.ppid, shell_pid);
    assert_eq!(sleep.cmdline, ["sleep", "300"]);
    assert!(sleep.rss_kb > 0);
    assert!(sleep.pss_kb.is_some_and(|pss| pss > 0), "{sleep:?}");
    assert!(sleep.is_named("sleep"));

    let mine = proc::tree(std::process::id());
    assert!(
        mine.iter().any(|p| p.pid == sleep.pid),
        "grandchildren count"
    );
    assert!(proc::total_rss_kb(shell_pid) >= tree.iter().map(|p| p.rss_kb).sum::<u64>() / 2);
    assert!(proc::total_rss_kb(shell_pid) > sleep.rss_kb);
    assert!(proc::total_pss_kb(shell_pid).unwrap() > 0);
    assert!(proc::find_by_exe_name("sleep").contains(&sleep.pid));
    assert!(!proc::has_webkit_process(shell_pid));
    assert!(proc::tree(u32::MAX - 1).is_empty());

    // comm is cut at 15 bytes; a full name still matches it.
    let mut webkit = sleep.clone();
    webkit.name = "WebKitWebProces".into();
    webkit.exe = None;
    webkit.cmdline = vec![];
    assert!(webkit.is_named("WebKitWebProcess"));
    assert!(!webkit.is_named("WebKitNetworkProcess"));

    proc::kill_tree(shell_pid);
    let sleep_pid = sleep.pid;
    wait_for("sh and sleep to die", WAIT, || async {
        (!proc::is_running(shell_pid) && !proc::is_running(sleep_pid)).then_some(())
    })
    .await;
    assert!(!shell.wait().unwrap().success());
}

// --- WebDriver ----------------------------------------------------------------

/// WebKitGTK's own browser, shipped with libwebkit2gtk-4.1-0: a stand-in for
/// the app that takes the same `tauri:options` through tauri-driver.
fn minibrowser() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|dir| dir.path().join("webkit2gtk-4.1/MiniBrowser"))
        .find(|path| path.exists())
        .expect("MiniBrowser (package libwebkit2gtk-4.1-0) under /usr/lib/<arch>/webkit2gtk-4.1")
}

const PAGE: &str = r#"<!doctype html>
<html><head><title>Harness page</title></head>
<body>
  <input id="name" data-role="main">
  <input id="agree" type="checkbox">
  <button id="go" onclick="count++; document.getElementById('out').textContent = 'clicked ' + count">Go</button>
  <button id="later" onclick="setTimeout(() => { const p = document.createElement('p'); p.id = 'late'; p.textContent = 'late'; document.body.append(p); }, 300)">Later</button>
  <p id="out">idle</p>
  <ul><li>a</li><li>b</li><li>c</li></ul>
  <script>let count = 0;</script>
</body></html>
"#;

#[tokio::test]
async fn webdriver_drives_a_page_through_tauri_driver() {
    let dir = temp_dir("webdriver-page");
    let page = dir.join("page.html");
    std::fs::write(&page, PAGE).unwrap();
    let url = format!("file://{}", page.display());
    let browser = minibrowser();
    let driver = herald_system_tests::webdriver::TauriDriver::start(
        &browser,
        &["--automation"],
        &[("HERALD_SELFTEST", "1")],
    )
    .await;
    driver.goto(&url).await;
    assert_eq!(driver.title().await, "Harness page");
    assert_eq!(driver.url().await, url);
    assert_eq!(driver.window_handles().await.len(), 1);

    let name = driver.find("#name").await;
    driver.send_keys(&name, "hello").await;
    assert_eq!(driver.property(&name, "value").await, json!("hello"));
    driver.clear(&name).await;
    assert_eq!(driver.property(&name, "value").await, json!(""));
    assert_eq!(
        driver.attribute(&name, "data-role").await.as_deref(),
        Some("main")
    );
    assert_eq!(driver.attribute(&name, "data-missing").await, None);

    let agree = driver.find("#agree").await;
    assert!(!driver.is_selected(&agree).await);
    driver.click(&agree).await;
    assert!(driver.is_selected(&agree).await);

    assert_eq!(driver.text(&driver.find("#out").await).await, "idle");
    driver.click(&driver.find("#go").await).await;
    driver.click(&driver.find("#go").await).await;
    assert_eq!(
        driver.wait_text("#out", |t| t == "clicked 2").await,
        "clicked 2"
    );

    assert!(driver.try_find("#late").await.unwrap().is_none());
    driver.click(&driver.find("#later").await).await;
    let late = driver.find("#late").await;
    assert_eq!(driver.text(&late).await, "late");

    assert_eq!(driver.find_all("li").await.len(), 3);
    assert!(driver.find_all("table").await.is_empty());
    assert_eq!(
        driver
            .execute(
                "return arguments[0] + arguments[1];",
                vec![json!(40), json!(2)]
            )
            .await,
        json!(42)
    );
    assert_eq!(
        driver
            .execute("return arguments[0].id;", vec![name.to_json()])
            .await,
        json!("name")
    );
    let error = driver
        .command(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": "#nope"})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.error, "no such element", "{error}");

    let png = driver.screenshot_png().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let shot = dir.join("shot.png");
    driver.save_screenshot(&shot).await;
    assert_eq!(std::fs::read(&shot).unwrap()[..8], png[..8]);

    // The browser runs under tauri-driver with its WebKit processes.
    let browser_pid = driver.app_pid().await;
    assert!(
        proc::tree(driver.pid())
            .iter()
            .any(|p| p.pid == browser_pid)
    );
    wait_for("WebKit processes under tauri-driver", WAIT, || async {
        proc::has_webkit_process(driver.pid()).then_some(())
    })
    .await;
    let driver_pid = driver.pid();
    driver.quit().await;
    wait_for("the browser and tauri-driver to be gone", WAIT, || async {
        (!proc::is_running(browser_pid) && !proc::is_running(driver_pid)).then_some(())
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
