//! The system tray, as a desktop shell sees it over D-Bus.
//!
//! A tray icon on Linux is a `org.kde.StatusNotifierItem` object that its
//! app registers with the session's `org.kde.StatusNotifierWatcher`; its menu
//! is a `com.canonical.dbusmenu` object. Xvfb has no desktop shell, so no
//! watcher runs: [`Watcher`] is a stand-in one that records who registers,
//! and [`ItemRef`] reads an item and its menu and clicks entries the way a
//! tray host would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::fdo::{DBusProxy, PropertiesProxy, RequestNameFlags, RequestNameReply};
use zbus::message::Header;
use zbus::names::{BusName, InterfaceName};
use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedObjectPath, OwnedVariant, Variant, interface};

use crate::{WAIT, wait_for};

pub const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
pub const WATCHER_PATH: &str = "/StatusNotifierWatcher";
pub const ITEM_INTERFACE: &str = "org.kde.StatusNotifierItem";
pub const MENU_INTERFACE: &str = "com.canonical.dbusmenu";
/// Where an item lives when it registers by bus name alone (the spec's default).
pub const DEFAULT_ITEM_PATH: &str = "/StatusNotifierItem";
/// How long [`Watcher::wait_item`] waits for a registration before it
/// re-announces the watcher.
pub const NUDGE: std::time::Duration = std::time::Duration::from_secs(2);

/// A registered item: who owns it and where.
#[derive(Clone, Debug)]
pub struct ItemRef {
    /// The owner's unique name (`:1.42`), or the well-known name the item
    /// registered with.
    pub bus: String,
    pub path: String,
    conn: Connection,
}

/// Shared between the served interface and the test.
#[derive(Debug, Default)]
struct Registry {
    items: Vec<(String, String)>,
    hosts: Vec<String>,
}

struct WatcherIface {
    registry: Arc<Mutex<Registry>>,
}

/// Real watchers accept both forms: a bus name (the item is at
/// `/StatusNotifierItem`) or an object path (libappindicator's form; the
/// owner is then the caller).
fn resolve_item(service: &str, sender: Option<&str>) -> Result<(String, String), String> {
    if service.starts_with('/') {
        let sender = sender.ok_or("a path-only registration needs the caller's name")?;
        Ok((sender.to_owned(), service.to_owned()))
    } else if service.is_empty() {
        Err("empty service".to_owned())
    } else {
        Ok((service.to_owned(), DEFAULT_ITEM_PATH.to_owned()))
    }
}

#[interface(name = "org.kde.StatusNotifierWatcher")]
impl WatcherIface {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let sender = header.sender().map(|s| s.as_str());
        let (bus, path) = resolve_item(service, sender).map_err(zbus::fdo::Error::InvalidArgs)?;
        let new = {
            let mut registry = self.registry.lock().unwrap();
            let entry = (bus.clone(), path.clone());
            // An item registers again whenever a watcher (re)appears; once is enough.
            let new = !registry.items.contains(&entry);
            if new {
                registry.items.push(entry);
            }
            new
        };
        if new {
            Self::status_notifier_item_registered(&emitter, &format!("{bus}{path}")).await?;
        }
        Ok(())
    }

    async fn register_status_notifier_host(
        &self,
        service: &str,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        self.registry.lock().unwrap().hosts.push(service.to_owned());
        Self::status_notifier_host_registered(&emitter).await?;
        Ok(())
    }

    /// Items whose owner is still on the bus, as `busname/object/path`
    /// (the form KDE's watcher lists).
    #[zbus(property)]
    async fn registered_status_notifier_items(
        &self,
        #[zbus(connection)] conn: &Connection,
    ) -> Vec<String> {
        let items = self.registry.lock().unwrap().items.clone();
        let mut alive = Vec::new();
        for (bus, path) in items {
            if has_owner(conn, &bus).await {
                alive.push(format!("{bus}{path}"));
            }
        }
        alive
    }

    /// Always true: apps only show an icon when some host will draw it, and
    /// this watcher stands in for that host too.
    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_item_unregistered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_unregistered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

async fn has_owner(conn: &Connection, bus: &str) -> bool {
    let Ok(name) = BusName::try_from(bus) else {
        return false;
    };
    let Ok(dbus) = DBusProxy::new(conn).await else {
        return false;
    };
    dbus.name_has_owner(name).await.unwrap_or(false)
}

/// A stand-in `org.kde.StatusNotifierWatcher` on the session bus. Dropping it
/// closes its connection, and the bus then releases the name.
#[derive(Debug)]
pub struct Watcher {
    /// Serves the watcher and owns the name. Nothing else holds it, so that
    /// dropping the watcher closes it even while [`ItemRef`]s live on.
    conn: Connection,
    /// What [`ItemRef`]s talk to items through.
    client: Connection,
    registry: Arc<Mutex<Registry>>,
}

impl Watcher {
    /// Serves the watcher and takes its well-known name, waiting up to
    /// [`WAIT`] for it to be free: a watcher dropped a moment ago gives the
    /// name up only once its connection has closed. Panics if the name stays
    /// taken (a real desktop's watcher, or another test's): items would then
    /// register there and never here.
    pub async fn start() -> Watcher {
        Self::start_within(WAIT).await
    }

    /// [`start`](Self::start), waiting at most `patience` for the name.
    pub async fn start_within(patience: std::time::Duration) -> Watcher {
        let registry = Arc::new(Mutex::new(Registry::default()));
        // Served before the name is taken, so no call that follows the name
        // can find the object missing.
        let conn = zbus::connection::Builder::session()
            .serve_at(
                WATCHER_PATH,
                WatcherIface {
                    registry: registry.clone(),
                },
            )
            .build()
            .await
            .expect("connect to the session bus (run inside scripts/desktop-session.sh)");
        // No queueing: a queued request would quietly take the name later.
        wait_for(
            &format!("{WATCHER_NAME} to be free (another watcher owns it on this session bus)"),
            patience,
            || async {
                match conn
                    .request_name_with_flags(WATCHER_NAME, RequestNameFlags::DO_NOT_QUEUE)
                    .await
                {
                    Ok(RequestNameReply::PrimaryOwner) => Some(()),
                    Ok(RequestNameReply::Exists | RequestNameReply::InQueue)
                    | Err(zbus::Error::NameTaken) => None,
                    Ok(other) => panic!("request {WATCHER_NAME}: {other}"),
                    Err(e) => panic!("request {WATCHER_NAME}: {e}"),
                }
            },
        )
        .await;
        let client = Connection::session()
            .await
            .expect("connect to the session bus");
        Watcher {
            conn,
            client,
            registry,
        }
    }

    /// A connection to the session bus, e.g. to serve a fake item.
    pub fn connection(&self) -> &Connection {
        &self.client
    }

    /// Whether someone owns the bus name `bus` now.
    pub async fn name_owned(&self, bus: &str) -> bool {
        has_owner(&self.client, bus).await
    }

    /// Every registration so far, in order, whether or not its owner is still there.
    pub fn items(&self) -> Vec<ItemRef> {
        self.registry
            .lock()
            .unwrap()
            .items
            .iter()
            .map(|(bus, path)| ItemRef {
                bus: bus.clone(),
                path: path.clone(),
                conn: self.client.clone(),
            })
            .collect()
    }

    /// Names that registered as hosts (a real tray host would).
    pub fn hosts(&self) -> Vec<String> {
        self.registry.lock().unwrap().hosts.clone()
    }

    /// The first item to register.
    ///
    /// While none has, the watcher gives its name up and takes it back every
    /// [`NUDGE`]: libayatana-appindicator (0.5.92) sometimes misses a watcher
    /// that was already there when the app started, and then stays
    /// unregistered until the watcher's owner changes — which is what a
    /// panel restart looks like, and what makes it register.
    pub async fn wait_item(&self) -> ItemRef {
        self.wait_item_where("a StatusNotifierItem to register with the watcher", |_| {
            true
        })
        .await
    }

    /// The first item registered by `bus` (a unique or well-known name),
    /// nudging a missed registration as [`wait_item`](Self::wait_item) does.
    pub async fn wait_item_from(&self, bus: &str) -> ItemRef {
        self.wait_item_where(
            &format!("a StatusNotifierItem from {bus} to register"),
            |item| item.bus == bus,
        )
        .await
    }

    async fn wait_item_where(&self, what: &str, matches: impl Fn(&ItemRef) -> bool) -> ItemRef {
        let matches = &matches;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let round = NUDGE.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let found = tokio::time::timeout(
                round,
                wait_for(what, WAIT, || async {
                    self.items().into_iter().find(matches)
                }),
            )
            .await;
            if let Ok(item) = found {
                return item;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what} (the watcher re-announced itself every {NUDGE:?})"
            );
            self.renew_name().await;
        }
    }

    /// Gives the name up and takes it back, as a restarting panel would.
    /// Earlier registrations are forgotten first; items that follow the
    /// watcher's owner (appindicator does) register again.
    pub async fn reannounce(&self) {
        self.registry.lock().unwrap().items.clear();
        self.renew_name().await;
    }

    async fn renew_name(&self) {
        self.conn
            .release_name(WATCHER_NAME)
            .await
            .unwrap_or_else(|e| panic!("release {WATCHER_NAME}: {e}"));
        let reply = self
            .conn
            .request_name_with_flags(WATCHER_NAME, RequestNameFlags::DO_NOT_QUEUE)
            .await
            .unwrap_or_else(|e| panic!("take {WATCHER_NAME} back: {e}"));
        assert_eq!(
            reply,
            RequestNameReply::PrimaryOwner,
            "{WATCHER_NAME} was taken while this watcher let go of it"
        );
    }

    /// Releases the name now rather than when the connection closes.
    pub async fn stop(self) {
        let _ = self.conn.release_name(WATCHER_NAME).await;
    }
}

/// `ToolTip`: `(icon name, icon pixmaps, title, description)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolTip {
    pub icon_name: String,
    /// `(width, height, ARGB32 bytes)`
    pub icon_pixmaps: Vec<(i32, i32, Vec<u8>)>,
    pub title: String,
    pub description: String,
}

/// One entry of a dbusmenu, read from `GetLayout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuEntry {
    pub id: i32,
    /// The id of the entry this one is in (0: the root).
    pub parent: i32,
    /// The label without mnemonic underscores (`_Quit` reads `Quit`).
    pub label: String,
    pub enabled: bool,
    pub visible: bool,
    /// `"standard"` or `"separator"`.
    pub kind: String,
    /// `"checkmark"` or `"radio"` for a toggle.
    pub toggle_type: Option<String>,
    /// 1 on, 0 off, -1 indeterminate.
    pub toggle_state: Option<i32>,
    /// `"submenu"` when the entry opens a submenu.
    pub children_display: Option<String>,
    /// Ids of the entries directly inside this one, in order.
    pub children: Vec<i32>,
}

impl MenuEntry {
    pub fn is_separator(&self) -> bool {
        self.kind == "separator"
    }

    pub fn is_checked(&self) -> bool {
        self.toggle_state == Some(1)
    }
}

/// The entry whose label (mnemonics stripped) is `label`.
pub fn find_label<'a>(entries: &'a [MenuEntry], label: &str) -> Option<&'a MenuEntry> {
    entries.iter().find(|entry| entry.label == label)
}

/// GTK's mnemonic marker is `_`; `__` is a literal underscore.
pub fn strip_mnemonic(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut chars = label.chars();
    while let Some(c) = chars.next() {
        if c == '_' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A layout node's id, properties and children.
type NodeParts<'v, 'a> = (i32, HashMap<String, Variant<'a>>, Vec<&'v Variant<'a>>);

/// The parts of a `(ia{sv}av)` layout node (possibly wrapped in variants).
fn node_parts<'v, 'a>(node: &'v Variant<'a>) -> Result<NodeParts<'v, 'a>, String> {
    let node = unwrap_variant(node);
    let Variant::Structure(structure) = node else {
        return Err(format!("a layout node is not a structure: {node}"));
    };
    let [id, props, children] = structure.fields() else {
        return Err(format!("a layout node has not 3 fields: {node}"));
    };
    let Variant::I32(id) = unwrap_variant(id) else {
        return Err(format!("a layout node's id is not an int32: {node}"));
    };
    let mut properties = HashMap::new();
    if let Variant::Dict(dict) = unwrap_variant(props) {
        for (key, value) in dict.iter() {
            if let Variant::Str(key) = unwrap_variant(key) {
                properties.insert(key.as_str().to_owned(), unwrap_variant(value).clone());
            }
        }
    }
    let Variant::Array(children) = unwrap_variant(children) else {
        return Err(format!("a layout node's children are not an array: {node}"));
    };
    Ok((*id, properties, children.iter().collect()))
}

/// A layout node and everything under it as entries, depth first, the node
/// itself first.
fn flatten_layout(
    id: i32,
    properties: &HashMap<String, Variant<'_>>,
    children: &[&Variant<'_>],
    parent: i32,
    out: &mut Vec<MenuEntry>,
) -> Result<(), String> {
    let text = |key: &str| match properties.get(key).map(unwrap_variant) {
        Some(Variant::Str(s)) => Some(s.as_str().to_owned()),
        _ => None,
    };
    let flag = |key: &str| match properties.get(key).map(unwrap_variant) {
        Some(Variant::Bool(b)) => *b,
        // The spec's default for both `enabled` and `visible`.
        _ => true,
    };
    let index = out.len();
    out.push(MenuEntry {
        id,
        parent,
        label: text("label")
            .map(|l| strip_mnemonic(&l))
            .unwrap_or_default(),
        enabled: flag("enabled"),
        visible: flag("visible"),
        kind: text("type").unwrap_or_else(|| "standard".to_owned()),
        toggle_type: text("toggle-type").filter(|t| !t.is_empty()),
        toggle_state: match properties.get("toggle-state").map(unwrap_variant) {
            Some(Variant::I32(state)) => Some(*state),
            _ => None,
        },
        children_display: text("children-display").filter(|t| !t.is_empty()),
        children: Vec::new(),
    });
    for child in children {
        let (child_id, child_properties, grandchildren) = node_parts(child)?;
        flatten_layout(child_id, &child_properties, &grandchildren, id, out)?;
        out[index].children.push(child_id);
    }
    Ok(())
}

fn unwrap_variant<'v, 'a>(mut value: &'v Variant<'a>) -> &'v Variant<'a> {
    while let Variant::Variant(inner) = value {
        value = inner;
    }
    value
}

/// Whether a property read failed only because the object has no such
/// property: zbus says `UnknownProperty`, GDBus (appindicator) `InvalidArgs`.
fn is_absent(error: &zbus::fdo::Error) -> bool {
    use zbus::fdo::Error;
    match error {
        Error::UnknownProperty(_) | Error::InvalidArgs(_) | Error::UnknownInterface(_) => true,
        Error::ZBus(zbus::Error::FDO(inner)) => is_absent(inner),
        Error::ZBus(zbus::Error::MethodError(name, _, _)) => {
            name.as_str().ends_with(".UnknownProperty") || name.as_str().ends_with(".InvalidArgs")
        }
        _ => false,
    }
}

impl ItemRef {
    async fn properties(&self) -> PropertiesProxy<'static> {
        PropertiesProxy::builder(&self.conn)
            .destination(self.bus.clone())
            .path(self.path.clone())
            .build()
            .await
            .unwrap_or_else(|e| panic!("a properties proxy for {}{}: {e}", self.bus, self.path))
    }

    /// A property of the item, `None` when the item does not have it (an
    /// appindicator item has no `ToolTip`, for one). Panics on any other
    /// failure, such as the item having gone from the bus.
    pub async fn property(&self, name: &str) -> Option<OwnedVariant> {
        let interface = InterfaceName::from_static_str_unchecked(ITEM_INTERFACE);
        match self.properties().await.get(interface, name).await {
            Ok(value) => Some(value),
            Err(e) if is_absent(&e) => None,
            Err(e) => panic!(
                "read {name} of the tray item {}{}: {e}",
                self.bus, self.path
            ),
        }
    }

    async fn string_property(&self, name: &str) -> Option<String> {
        let value = self.property(name).await?;
        match &*value {
            Variant::Str(s) => Some(s.as_str().to_owned()),
            other => panic!("the tray item's {name} is not a string: {other}"),
        }
    }

    pub async fn id(&self) -> Option<String> {
        self.string_property("Id").await
    }

    pub async fn title(&self) -> Option<String> {
        self.string_property("Title").await
    }

    /// `Passive`, `Active` or `NeedsAttention`.
    pub async fn status(&self) -> Option<String> {
        self.string_property("Status").await
    }

    pub async fn category(&self) -> Option<String> {
        self.string_property("Category").await
    }

    pub async fn icon_name(&self) -> Option<String> {
        self.string_property("IconName").await
    }

    pub async fn attention_icon_name(&self) -> Option<String> {
        self.string_property("AttentionIconName").await
    }

    pub async fn icon_theme_path(&self) -> Option<String> {
        self.string_property("IconThemePath").await
    }

    pub async fn tool_tip(&self) -> Option<ToolTip> {
        let value = self.property("ToolTip").await?;
        let value = unwrap_variant(&value);
        let Variant::Structure(structure) = value else {
            panic!("the tray item's ToolTip is not a structure: {value}");
        };
        let fields: Vec<&Variant<'_>> = structure.fields().iter().map(unwrap_variant).collect();
        let [
            Variant::Str(icon_name),
            Variant::Array(pixmaps),
            Variant::Str(title),
            Variant::Str(description),
        ] = fields.as_slice()
        else {
            panic!("the tray item's ToolTip is not (sa(iiay)ss): {value}");
        };
        let icon_pixmaps = pixmaps
            .iter()
            .filter_map(|pixmap| match unwrap_variant(pixmap) {
                Variant::Structure(s) => match s.fields() {
                    [Variant::I32(w), Variant::I32(h), Variant::Array(bytes)] => Some((
                        *w,
                        *h,
                        bytes
                            .iter()
                            .filter_map(|b| match b {
                                Variant::U8(b) => Some(*b),
                                _ => None,
                            })
                            .collect(),
                    )),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        Some(ToolTip {
            icon_name: icon_name.as_str().to_owned(),
            icon_pixmaps,
            title: title.as_str().to_owned(),
            description: description.as_str().to_owned(),
        })
    }

    /// The object path of the item's dbusmenu.
    pub async fn menu(&self) -> Option<OwnedObjectPath> {
        let value = self.property("Menu").await?;
        match &*value {
            Variant::ObjectPath(path) => Some(path.clone().into()),
            // Some implementations send the path as a plain string.
            Variant::Str(path) => OwnedObjectPath::try_from(path.as_str().to_owned()).ok(),
            other => panic!("the tray item's Menu is not an object path: {other}"),
        }
    }

    /// Whether the item's owner is still on the bus.
    pub async fn is_alive(&self) -> bool {
        has_owner(&self.conn, &self.bus).await
    }

    /// Waits until the item's owner has left the bus (the app quit).
    pub async fn wait_gone(&self) {
        wait_for(
            &format!("the tray item's owner {} to leave the bus", self.bus),
            WAIT,
            || async { (!self.is_alive().await).then_some(()) },
        )
        .await
    }

    /// Waits until `IconName` is set and differs from `old`; returns it.
    pub async fn wait_icon_change(&self, old: &str) -> String {
        wait_for(
            &format!("the tray icon to change from {old:?}"),
            WAIT,
            || async { self.icon_name().await.filter(|icon| icon != old) },
        )
        .await
    }

    /// Waits until `IconName` is `expected`.
    pub async fn wait_icon(&self, expected: &str) {
        wait_for(
            &format!("the tray icon to be {expected:?}"),
            WAIT,
            || async { (self.icon_name().await.as_deref() == Some(expected)).then_some(()) },
        )
        .await
    }

    /// Waits until `Status` is `expected`.
    pub async fn wait_status(&self, expected: &str) {
        wait_for(
            &format!("the tray item's status to be {expected:?}"),
            WAIT,
            || async { (self.status().await.as_deref() == Some(expected)).then_some(()) },
        )
        .await
    }

    /// Calls a `com.canonical.dbusmenu` method on the item's menu.
    async fn call_menu<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::DynamicType,
    {
        let menu = self
            .menu()
            .await
            .unwrap_or_else(|| panic!("the tray item {}{} has no Menu", self.bus, self.path));
        self.conn
            .call_method(
                Some(self.bus.as_str()),
                menu.as_str(),
                Some(MENU_INTERFACE),
                method,
                body,
            )
            .await
    }

    /// Every entry of the menu, depth first, without the root. Announces the
    /// menu as a host does before showing it (`AboutToShow(0)`), since a menu
    /// may fill itself in only then.
    pub async fn menu_layout(&self) -> Vec<MenuEntry> {
        // Optional in the protocol; an item without it still has a layout.
        let _ = self.call_menu("AboutToShow", &(0i32,)).await;
        let reply = self
            .call_menu("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
            .await
            .unwrap_or_else(|e| panic!("GetLayout of the tray menu of {}: {e}", self.bus));
        type Layout = (u32, (i32, HashMap<String, OwnedVariant>, Vec<OwnedVariant>));
        let (_revision, (id, properties, children)): Layout = reply
            .body()
            .deserialize()
            .unwrap_or_else(|e| panic!("GetLayout replied with no (u(ia{{sv}}av)): {e}"));
        let properties: HashMap<String, Variant<'_>> = properties
            .iter()
            .map(|(key, value)| (key.clone(), Variant::from(value.clone())))
            .collect();
        let children: Vec<&Variant<'_>> = children.iter().map(|child| &**child).collect();
        let mut entries = Vec::new();
        flatten_layout(id, &properties, &children, 0, &mut entries)
            .unwrap_or_else(|e| panic!("the tray menu layout is malformed: {e}"));
        entries.remove(0);
        entries
    }

    /// The menu entry labelled `label`, panicking with the labels there are.
    pub async fn menu_entry(&self, label: &str) -> MenuEntry {
        let entries = self.menu_layout().await;
        find_label(&entries, label).cloned().unwrap_or_else(|| {
            let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
            panic!("the tray menu has no entry {label:?}; it has {labels:?}")
        })
    }

    /// Waits until the menu has an entry labelled `label`.
    pub async fn wait_menu_entry(&self, label: &str) -> MenuEntry {
        wait_for(
            &format!("a tray menu entry labelled {label:?}"),
            WAIT,
            || async { find_label(&self.menu_layout().await, label).cloned() },
        )
        .await
    }

    /// Clicks the entry with `id`, as a host does when the user picks it.
    pub async fn click(&self, id: i32) {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        let sent = self
            .call_menu("Event", &(id, "clicked", Variant::from(0i32), timestamp))
            .await;
        // A click on "Quit" may end the app before it replies (libdbusmenu
        // handles the click first): the click was delivered all the same.
        if let Err(e) = sent
            && self.is_alive().await
        {
            panic!("click tray menu entry {id}: {e}");
        }
    }

    /// Clicks the entry labelled `label`; panics if it is missing or disabled.
    pub async fn click_label(&self, label: &str) {
        let entry = self.menu_entry(label).await;
        assert!(entry.enabled, "the tray menu entry {label:?} is disabled");
        self.click(entry.id).await;
    }
}
