//! macOS: UNUserNotificationCenter (through objc2's bindings), with one
//! button per toast action and a delegate that reports a button by its key
//! and a click on the toast itself as [`ACTION_VIEW`].
//!
//! The bundle guard: UNUserNotificationCenter works only for a process that
//! LaunchServices knows as an app bundle. A bare binary (`cargo run`, the
//! CLI outside Herald.app) that touches it is aborted by the framework
//! ("bundleProxyForCurrentProcess is nil"), which no Rust code can catch.
//! So [`in_app_bundle`] is asked first, and outside a bundle the toast goes
//! through `osascript`'s `display notification` instead: no buttons, no
//! clicks, and [`server_info`] says so for the doctor.
//!
//! This is the one module allowed `unsafe`: objc2's API needs it to define
//! an Objective-C class, to read the framework's constant strings and to
//! hand over an untyped dictionary. Each use says why it is sound.

#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::process::Command;
use std::ptr::NonNull;
use std::sync::{Mutex, Once, PoisonError, mpsc};
use std::time::Duration;

use block2::{DynBlock, RcBlock};
use objc2::rc::Retained;
use objc2::runtime::{AnyObject, Bool, NSObjectProtocol, ProtocolObject};
use objc2::{AnyThread, DefinedClass, define_class, msg_send, sel};
use objc2_foundation::{
    NSArray, NSBundle, NSDictionary, NSError, NSNumber, NSObject, NSProcessInfo, NSSet, NSString,
};
use objc2_user_notifications::{
    UNAuthorizationOptions, UNMutableNotificationContent, UNNotification, UNNotificationAction,
    UNNotificationActionOptions, UNNotificationCategory, UNNotificationCategoryOptions,
    UNNotificationDefaultActionIdentifier, UNNotificationDismissActionIdentifier,
    UNNotificationInterruptionLevel, UNNotificationPresentationOptions, UNNotificationRequest,
    UNNotificationResponse, UNNotificationSound, UNUserNotificationCenter,
    UNUserNotificationCenterDelegate,
};
use tokio::sync::mpsc::UnboundedSender;

use super::{Identity, SERVER_TIMEOUT};
use crate::notify::{ACTION_VIEW, ActionInvoked, NotifyError, ServerInfo, Toast, Urgency};

/// The `userInfo` key the item id travels under, from `show` to the
/// delegate (an `NSNumber` holding the `i64`).
const ITEM_ID_KEY: &str = "item_id";

/// How long `show` waits for the center to take a new set of categories
/// before adding a request that uses one (see [`Native::register`]).
const CATEGORY_TIMEOUT: Duration = Duration::from_secs(1);

/// What `server_info` says outside the bundle, where the doctor shows it.
const BARE_BINARY_HINT: &str = "Herald runs outside its app bundle, so macOS shows its \
     notifications without a View Details button and ignores clicks on them; install \
     Herald.app from the .dmg and start it from Applications";

#[derive(Debug)]
pub struct Backend {
    app_name: String,
    /// `None` outside an app bundle: toasts then go through `osascript`.
    native: Option<Native>,
}

/// The UNUserNotificationCenter side. The center itself is not kept: it is
/// a process-wide singleton, fetched where it is used, so that no
/// Objective-C object without thread-safety guarantees is stored here.
#[derive(Debug)]
struct Native {
    /// The center holds its delegate weakly; this keeps it alive as long
    /// as the backend. `Delegate` is `Send + Sync` (its only state is a
    /// channel sender), so the backend stays so without any `unsafe impl`.
    _delegate: Retained<Delegate>,
    /// Every category registered so far, by identifier, with its actions.
    categories: Mutex<BTreeMap<String, Vec<(String, String)>>>,
}

impl Backend {
    pub fn new(identity: Identity, actions: UnboundedSender<ActionInvoked>) -> Backend {
        let native = in_app_bundle().then(|| {
            let center = UNUserNotificationCenter::currentNotificationCenter();
            let delegate = Delegate::new(actions);
            center.setDelegate(Some(ProtocolObject::from_ref(&*delegate)));
            request_authorization(&center);
            Native {
                _delegate: delegate,
                categories: Mutex::new(BTreeMap::new()),
            }
        });
        if native.is_none() {
            tracing::info!("not in an app bundle: notifications have no actions");
        }
        Backend {
            app_name: identity.app_name,
            native,
        }
    }

    pub fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
        match &self.native {
            Some(native) => native.show(toast),
            None => show_with_osascript(&self.app_name, toast),
        }
    }
}

/// Whether this process runs from an app bundle, the only place where
/// UNUserNotificationCenter may be touched (see the module docs). A bare
/// binary can still carry a bundle identifier in an embedded Info.plist,
/// so the bundle must also be an `.app` directory.
fn in_app_bundle() -> bool {
    let bundle = NSBundle::mainBundle();
    bundle.bundleIdentifier().is_some() && bundle.bundlePath().to_string().ends_with(".app")
}

/// Asks once per process: macOS prompts only the first time anyway, and a
/// second backend must not overlap the first one's prompt.
fn request_authorization(center: &UNUserNotificationCenter) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let done = RcBlock::new(|granted: Bool, error: *mut NSError| {
            if !granted.as_bool() {
                tracing::warn!(
                    error = error_text(error).as_deref().unwrap_or("none"),
                    "macOS does not allow Herald to show notifications \
                     (System Settings > Notifications)"
                );
            }
        });
        center.requestAuthorizationWithOptions_completionHandler(
            UNAuthorizationOptions::Alert | UNAuthorizationOptions::Sound,
            &done,
        );
    });
}

impl Native {
    fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
        let center = UNUserNotificationCenter::currentNotificationCenter();
        let content = UNMutableNotificationContent::new();
        // Plain text: no markup on this platform.
        content.setTitle(&NSString::from_str(&toast.summary));
        content.setBody(&NSString::from_str(&toast.body));
        if let Some(category) = &toast.category {
            // Groups the toasts of one kind (e.g. security) in the list.
            content.setThreadIdentifier(&NSString::from_str(category));
        }
        if let Some(id) = category_id(&toast.actions) {
            self.register(&center, &id, &toast.actions);
            content.setCategoryIdentifier(&NSString::from_str(&id));
        }
        if let Some(item_id) = toast.item_id {
            let key = NSString::from_str(ITEM_ID_KEY);
            let value = NSNumber::new_i64(item_id);
            let info = NSDictionary::from_slices(&[&*key], &[&*value]);
            // SAFETY: the property is an `NSDictionary` of any objects that
            // are property-list types; an NSString key and an NSNumber
            // value are, and both are `AnyObject`s, so the cast only
            // forgets their types.
            unsafe { content.setUserInfo(info.cast_unchecked::<AnyObject, AnyObject>()) };
        }
        if toast.urgency != Urgency::Low {
            content.setSound(Some(&UNNotificationSound::defaultSound()));
        }
        // macOS 12 and later; Herald also supports 11, where the selector is
        // missing and calling it would raise.
        if content.respondsToSelector(sel!(setInterruptionLevel:)) {
            content.setInterruptionLevel(match toast.urgency {
                Urgency::Low => UNNotificationInterruptionLevel::Passive,
                Urgency::Normal => UNNotificationInterruptionLevel::Active,
                // Shown as time-sensitive only with the entitlement; active
                // otherwise, which is still right.
                Urgency::Critical => UNNotificationInterruptionLevel::TimeSensitive,
            });
        }
        // A reused identifier would replace an earlier toast, even one from
        // before a restart.
        let unique = NSProcessInfo::processInfo().globallyUniqueString();
        let id = NSString::from_str(&format!("herald.{unique}"));
        // No trigger: deliver now.
        let request =
            UNNotificationRequest::requestWithIdentifier_content_trigger(&id, &content, None);

        // The center answers on a queue of its own; the caller waits for
        // that answer (bounded), so a refusal is reported like elsewhere.
        let (tx, rx) = mpsc::sync_channel(1);
        let done = RcBlock::new(move |error: *mut NSError| {
            let _ = tx.try_send(error_text(error));
        });
        center.addNotificationRequest_withCompletionHandler(&request, Some(&done));
        match rx.recv_timeout(SERVER_TIMEOUT) {
            Ok(None) => Ok(()),
            Ok(Some(error)) => Err(NotifyError::Refused(error)),
            Err(_) => Err(NotifyError::Unavailable(format!(
                "Notification Center did not answer within {SERVER_TIMEOUT:?}"
            ))),
        }
    }

    /// Makes sure the center knows the category `id` with these actions.
    ///
    /// Categories are one set per app that `setNotificationCategories`
    /// replaces whole, and toasts differ in their actions (a login alert has
    /// "This was me", others only "View Details"). So each distinct list of
    /// action keys gets its own category, all of them are kept here, and the
    /// whole set is registered again when a toast brings a new one: rare,
    /// since Herald has few action combinations.
    fn register(&self, center: &UNUserNotificationCenter, id: &str, actions: &[(String, String)]) {
        let mut known = self
            .categories
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.get(id).is_some_and(|known| known == actions) {
            return;
        }
        known.insert(id.to_owned(), actions.to_vec());
        let categories: Vec<_> = known.iter().map(|(id, a)| category(id, a)).collect();
        center.setNotificationCategories(&NSSet::from_retained_slice(&categories));
        // The center applies the set asynchronously, and a request added
        // before that shows no buttons. Reading the set back is queued
        // behind the write, so its answer means the set is in place; best
        // effort, bounded.
        let (tx, rx) = mpsc::sync_channel(1);
        let done = RcBlock::new(move |_: NonNull<NSSet<UNNotificationCategory>>| {
            let _ = tx.try_send(());
        });
        center.getNotificationCategoriesWithCompletionHandler(&done);
        if rx.recv_timeout(CATEGORY_TIMEOUT).is_err() {
            tracing::debug!(id, "the notification categories were not confirmed in time");
        }
    }
}

/// The category of toasts with these actions, named after their keys.
fn category_id(actions: &[(String, String)]) -> Option<String> {
    if actions.is_empty() {
        return None;
    }
    let keys: Vec<&str> = actions.iter().map(|(key, _)| key.as_str()).collect();
    Some(format!("herald.{}", keys.join("+")))
}

fn category(id: &str, actions: &[(String, String)]) -> Retained<UNNotificationCategory> {
    let actions: Vec<_> = actions
        .iter()
        .map(|(key, label)| {
            // "View Details" opens a window, so it brings Herald forward;
            // the others are handled without showing anything.
            let options = if key == ACTION_VIEW {
                UNNotificationActionOptions::Foreground
            } else {
                UNNotificationActionOptions::empty()
            };
            UNNotificationAction::actionWithIdentifier_title_options(
                &NSString::from_str(key),
                &NSString::from_str(label),
                options,
            )
        })
        .collect();
    UNNotificationCategory::categoryWithIdentifier_actions_intentIdentifiers_options(
        &NSString::from_str(id),
        &NSArray::from_retained_slice(&actions),
        &NSArray::new(),
        UNNotificationCategoryOptions::empty(),
    )
}

/// The text of an `NSError` the framework passed to a completion block.
fn error_text(error: *mut NSError) -> Option<String> {
    // SAFETY: the framework passes nil or a valid NSError that lives for
    // the duration of the block call, which this borrow does not outlive.
    unsafe { error.as_ref() }.map(|e| e.localizedDescription().to_string())
}

/// The delegate's only state: where it reports actions.
type Ivars = UnboundedSender<ActionInvoked>;

define_class!(
    // SAFETY: NSObject has no subclassing requirements, and `Delegate` does
    // not implement `Drop`.
    #[unsafe(super(NSObject))]
    // The center calls its delegate on a queue of its own, not the main
    // thread: any thread it is, and the ivars are thread-safe.
    #[thread_kind = AnyThread]
    #[ivars = Ivars]
    #[derive(Debug)]
    struct Delegate;

    // SAFETY: NSObjectProtocol has no safety requirements.
    unsafe impl NSObjectProtocol for Delegate {}

    // SAFETY: the protocol has no requirements beyond its (optional)
    // methods' signatures, which match the binding's declarations.
    unsafe impl UNUserNotificationCenterDelegate for Delegate {
        #[unsafe(method(userNotificationCenter:didReceiveNotificationResponse:withCompletionHandler:))]
        fn did_receive(
            &self,
            _center: &UNUserNotificationCenter,
            response: &UNNotificationResponse,
            completion_handler: &DynBlock<dyn Fn()>,
        ) {
            // SAFETY: both are constant NSStrings of the framework, valid
            // for the life of the process.
            let (default, dismiss) = unsafe {
                (
                    UNNotificationDefaultActionIdentifier.to_string(),
                    UNNotificationDismissActionIdentifier.to_string(),
                )
            };
            let identifier = response.actionIdentifier().to_string();
            if let Some(action) = action_from_identifier(&identifier, &default, &dismiss) {
                let info = response.notification().request().content().userInfo();
                let item_id = item_id_from(&info);
                tracing::debug!(%action, ?item_id, "toast action");
                // The receiver is gone only when the app is shutting down.
                let _ = self.ivars().send(ActionInvoked { item_id, action });
            }
            completion_handler.call(());
        }

        // Without this, macOS drops toasts while Herald is the active app.
        #[unsafe(method(userNotificationCenter:willPresentNotification:withCompletionHandler:))]
        fn will_present(
            &self,
            _center: &UNUserNotificationCenter,
            _notification: &UNNotification,
            completion_handler: &DynBlock<dyn Fn(UNNotificationPresentationOptions)>,
        ) {
            completion_handler.call((UNNotificationPresentationOptions::Banner
                | UNNotificationPresentationOptions::List
                | UNNotificationPresentationOptions::Sound,));
        }
    }
);

impl Delegate {
    fn new(actions: UnboundedSender<ActionInvoked>) -> Retained<Delegate> {
        let this = Delegate::alloc().set_ivars(actions);
        // SAFETY: NSObject's `init` is its designated initializer and
        // returns the initialized object.
        unsafe { msg_send![super(this), init] }
    }
}

/// What the response's action identifier means to Herald: a click on the
/// toast is [`ACTION_VIEW`], a dismissal nothing, a button its own key.
fn action_from_identifier(identifier: &str, default: &str, dismiss: &str) -> Option<String> {
    if identifier == default {
        Some(ACTION_VIEW.to_owned())
    } else if identifier == dismiss {
        None
    } else {
        Some(identifier.to_owned())
    }
}

fn item_id_from(info: &NSDictionary) -> Option<i64> {
    let value = info.objectForKey(&NSString::from_str(ITEM_ID_KEY))?;
    value.downcast::<NSNumber>().ok().map(|n| n.as_i64())
}

/// Outside a bundle: AppleScript's `display notification`, shown under
/// Script Editor's name, hence the app name as the title.
fn show_with_osascript(app_name: &str, toast: &Toast) -> Result<(), NotifyError> {
    let script = display_script(app_name, &toast.summary, &toast.body);
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("herald-toast".into())
        .spawn(move || {
            let output = Command::new("/usr/bin/osascript")
                .arg("-e")
                .arg(script)
                .output();
            let _ = tx.send(output);
        })
        .map_err(|e| NotifyError::Refused(format!("cannot start a notification thread: {e}")))?;
    match rx.recv_timeout(SERVER_TIMEOUT) {
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => Err(NotifyError::Refused(format!(
            "osascript failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
        Ok(Err(e)) => Err(NotifyError::Unavailable(format!("no osascript: {e}"))),
        Err(_) => Err(NotifyError::Unavailable(format!(
            "osascript did not finish within {SERVER_TIMEOUT:?}"
        ))),
    }
}

fn display_script(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "display notification {} with title {} subtitle {}",
        applescript_string(body),
        applescript_string(title),
        applescript_string(subtitle)
    )
}

/// `text` as an AppleScript string literal. Only `\` and `"` need escaping
/// in one; control characters are dropped (line breaks and tabs become
/// spaces) since a one-line toast has no use for them.
fn applescript_string(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for c in text.chars() {
        match c {
            '\\' | '"' => {
                literal.push('\\');
                literal.push(c);
            }
            '\n' | '\r' | '\t' => literal.push(' '),
            c if c.is_control() => {}
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

pub fn server_info() -> Result<ServerInfo, NotifyError> {
    let os = NSProcessInfo::processInfo().operatingSystemVersion();
    let version = format!(
        "{}.{}.{}",
        os.majorVersion, os.minorVersion, os.patchVersion
    );
    let bundled = in_app_bundle();
    Ok(ServerInfo {
        name: "Notification Center".into(),
        vendor: "Apple".into(),
        version,
        actions: bundled,
        body_markup: false,
        hint: (!bundled).then(|| BARE_BINARY_HINT.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "com.apple.UNNotificationDefaultActionIdentifier";
    const DISMISS: &str = "com.apple.UNNotificationDismissActionIdentifier";

    #[test]
    fn identifiers_map_to_action_keys() {
        let map = |id| action_from_identifier(id, DEFAULT, DISMISS);
        assert_eq!(map(DEFAULT).as_deref(), Some(ACTION_VIEW));
        assert_eq!(map(DISMISS), None);
        assert_eq!(map("this-was-me").as_deref(), Some("this-was-me"));
        assert_eq!(map(ACTION_VIEW).as_deref(), Some(ACTION_VIEW));
    }

    #[test]
    fn applescript_strings_are_escaped() {
        assert_eq!(applescript_string("plain"), r#""plain""#);
        assert_eq!(
            applescript_string(r#"say "hi" \o/"#),
            r#""say \"hi\" \\o/""#
        );
        assert_eq!(applescript_string("a\nb\tc\u{7}\u{1b}d"), r#""a b cd""#);
        assert_eq!(
            display_script("Herald", "New login", "from \"Paris\""),
            r#"display notification "from \"Paris\"" with title "Herald" subtitle "New login""#
        );
    }

    #[test]
    fn categories_are_named_after_their_keys() {
        let view = (ACTION_VIEW.to_owned(), "View Details".to_owned());
        let me = ("this-was-me".to_owned(), "This was me".to_owned());
        assert_eq!(category_id(&[]), None);
        let both = category_id(&[view, me]);
        assert_eq!(both.as_deref(), Some("herald.view+this-was-me"));
    }
}
