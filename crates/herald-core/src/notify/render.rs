//! Safe wording of toasts.
//!
//! Everything in an event comes from the server, and a server (or whoever can
//! post events to it) may be hostile. So text is escaped before it reaches a
//! notification server that renders markup, and an action may open only an
//! http(s) URL on the server's own origin.

use std::time::Duration;

use herald_proto::{EventType, Severity};
use url::Url;

use super::{ACTION_THIS_WAS_ME, ACTION_VIEW, Toast, Urgency};
use crate::inbox::Item;

/// How long a login alert stays up: long enough to read, short enough not to
/// pile up. Other toasts use the notification server's default.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The freedesktop category hint of login alerts.
pub const SECURITY_CATEGORY: &str = "x-herald.security";
/// A summary names at most this many types; the rest are "other(s)".
const SUMMARY_KINDS: usize = 4;
/// Longest device, location or type name put into a toast.
const MAX_DETAIL: usize = 60;

/// Escapes `& < > " '` for freedesktop body markup.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Numeric: not every markup parser knows `&apos;`.
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The URL an action may open, or `None`.
///
/// Only http(s), only on the same origin (scheme, host and port) as the
/// server, and without user info (`http://host@evil.example/` tricks).
/// Relative URLs such as `/orders/1` are resolved against the server.
pub fn safe_action_url(url: &str, server_origin: &str) -> Option<Url> {
    let base = Url::parse(server_origin.trim()).ok()?;
    let url = url.trim();
    if !is_web(&base) || url.is_empty() {
        return None;
    }
    let target = base.join(url).ok()?;
    let safe = is_web(&target)
        && target.username().is_empty()
        && target.password().is_none()
        && target.origin() == base.origin();
    if !safe {
        tracing::debug!(url, "refused an action URL off the server's origin");
    }
    safe.then_some(target)
}

fn is_web(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host().is_some()
}

/// The urgency an item has before any per-type override: login alerts and
/// critical events are critical, everything else normal.
pub fn urgency_for(item: &Item) -> Urgency {
    if is_login(item) || item.severity == Severity::Critical {
        Urgency::Critical
    } else {
        Urgency::Normal
    }
}

/// Whether the item is a login alert.
pub fn is_login(item: &Item) -> bool {
    EventType::parse(&item.kind) == Some(EventType::LoginNotification)
}

/// The toast of one item.
pub fn toast_for(item: &Item, markup: bool) -> Toast {
    let login = is_login(item);
    let mut body = item.message.clone();
    if login && let Some(details) = login_details(item) {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(&details);
    }
    let mut actions = vec![(ACTION_VIEW.to_owned(), "View Details".to_owned())];
    if login {
        actions.push((ACTION_THIS_WAS_ME.to_owned(), "This was me".to_owned()));
    }
    Toast {
        // The summary is plain text in the freedesktop spec; only the body
        // is markup.
        summary: item.title.clone(),
        body: if markup { escape_markup(&body) } else { body },
        urgency: urgency_for(item),
        timeout: login.then_some(LOGIN_TIMEOUT),
        actions,
        item_id: Some(item.id),
        category: login.then(|| SECURITY_CATEGORY.to_owned()),
        markup,
    }
}

/// "Firefox on Linux · Berlin, DE": the parts of `data.loginInfo` the message
/// does not already say, kept short.
fn login_details(item: &Item) -> Option<String> {
    let info = item.data.get("loginInfo")?;
    let parts: Vec<String> = ["device", "location"]
        .into_iter()
        .filter_map(|key| info.get(key)?.as_str())
        .map(|value| one_line(value, MAX_DETAIL))
        .filter(|value| !value.is_empty() && !item.message.contains(value.as_str()))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// One toast for many items: "7 missed notifications" / "5 order updates, 2
/// logins", at the highest urgency among them. It opens the history.
pub fn summary_toast(items: &[Item], markup: bool) -> Toast {
    // Most frequent type first; the sort is stable, so ties keep the order
    // in which the types first arrived.
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(kind, _)| *kind == item.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((&item.kind, 1)),
        }
    }
    counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let mut parts: Vec<String> = counts
        .iter()
        .take(SUMMARY_KINDS)
        .map(|&(kind, n)| format!("{n} {}", kind_label(kind, n)))
        .collect();
    let others: usize = counts.iter().skip(SUMMARY_KINDS).map(|&(_, n)| n).sum();
    if others > 0 {
        parts.push(format!("{others} {}", plural(others, "other", "others")));
    }
    let body = parts.join(", ");
    let urgency = items
        .iter()
        .map(urgency_for)
        .max_by_key(|u| urgency_rank(*u))
        .unwrap_or(Urgency::Normal);
    Toast {
        summary: format!(
            "{} missed {}",
            items.len(),
            plural(items.len(), "notification", "notifications")
        ),
        body: if markup { escape_markup(&body) } else { body },
        urgency,
        timeout: None,
        actions: vec![(ACTION_VIEW.to_owned(), "View Details".to_owned())],
        item_id: None,
        category: None,
        markup,
    }
}

/// The human name of `n` events of `kind`: "order update" / "order updates".
/// Unknown types are named as sent, with `_` as spaces.
pub fn kind_label(kind: &str, n: usize) -> String {
    let (one, many) = match EventType::parse(kind) {
        Some(EventType::LoginNotification) => ("login", "logins"),
        Some(EventType::OrderUpdate) => ("order update", "order updates"),
        Some(EventType::NewOrder) => ("new order", "new orders"),
        Some(EventType::PaymentUpdate) => ("payment update", "payment updates"),
        Some(EventType::Announcement) => ("announcement", "announcements"),
        Some(EventType::Notification) => ("notification", "notifications"),
        None => return one_line(&kind.replace('_', " "), MAX_DETAIL),
    };
    plural(n, one, many).to_owned()
}

/// A rank for comparing urgencies (the enum has no `Ord`).
pub fn urgency_rank(urgency: Urgency) -> u8 {
    match urgency {
        Urgency::Low => 0,
        Urgency::Normal => 1,
        Urgency::Critical => 2,
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Server text for one line of a toast: no control characters, trimmed, at
/// most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned();
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SERVER: &str = "http://127.0.0.1:3000";

    fn item(id: i64, kind: &str, severity: Severity, data: Value) -> Item {
        Item {
            id,
            server_id: u64::try_from(id).ok(),
            kind: kind.into(),
            title: format!("title {id}"),
            message: format!("message {id}"),
            url: None,
            severity,
            created_at: "2026-01-01T00:00:00Z".into(),
            received_at: "2026-01-01T00:00:01Z".into(),
            data,
            read: false,
        }
    }

    fn order(id: i64) -> Item {
        item(
            id,
            "order_update",
            Severity::Info,
            json!({"orderId": "ord_1"}),
        )
    }

    fn login(id: i64, message: &str) -> Item {
        let mut login = item(
            id,
            "login_notification",
            Severity::Critical,
            json!({"loginId": "l1", "loginInfo": {"ip": "1.2.3.4", "device": "Firefox on Linux",
                   "location": "Berlin, DE", "time": "2026-01-01T00:00:00Z"}}),
        );
        login.title = "New login detected".into();
        login.message = message.into();
        login
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape_markup(r#"<b>bold</b> &amp; "q" 'a'"#),
            "&lt;b&gt;bold&lt;/b&gt; &amp;amp; &quot;q&quot; &#39;a&#39;"
        );
        assert_eq!(escape_markup("plain ✓"), "plain ✓");
    }

    #[test]
    fn same_origin_urls_are_allowed_and_relative_ones_resolved() {
        let ok = |url: &str| safe_action_url(url, SERVER).map(String::from);
        assert_eq!(
            ok("/orders/1").as_deref(),
            Some("http://127.0.0.1:3000/orders/1")
        );
        assert_eq!(
            ok("orders/1?x=1#top").as_deref(),
            Some("http://127.0.0.1:3000/orders/1?x=1#top")
        );
        assert_eq!(
            ok(" http://127.0.0.1:3000/a ").as_deref(),
            Some("http://127.0.0.1:3000/a")
        );
        // The default port is the same origin, spelled or not.
        let https = safe_action_url("https://example.com:443/x", "https://example.com/");
        assert_eq!(
            https.map(String::from).as_deref(),
            Some("https://example.com/x")
        );
    }

    #[test]
    fn other_schemes_hosts_ports_and_userinfo_are_refused() {
        for url in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "file:///etc/passwd",
            "data:text/html,<script>alert(1)</script>",
            "https://evil.example/orders/1",
            "//evil.example/x",
            r"/\evil.example/x",
            "http://127.0.0.1:3001/x",
            "https://127.0.0.1:3000/x",
            "http://user:pass@127.0.0.1:3000/x",
            "http://127.0.0.1:3000@evil.example/",
            "http://localhost:3000/x",
            "",
            "   ",
        ] {
            assert_eq!(safe_action_url(url, SERVER), None, "{url:?}");
        }
        assert_eq!(
            safe_action_url("/x", "file:///srv"),
            None,
            "a non-web server origin"
        );
        assert_eq!(safe_action_url("/x", "not a url"), None);
    }

    #[test]
    fn an_ordinary_toast() {
        let mut order = order(5);
        order.message = r#"<b>Order</b> "ord_1" & 'co'"#.into();
        order.title = "<i>Order</i>".into();
        let toast = toast_for(&order, true);
        assert_eq!(toast.summary, "<i>Order</i>", "the summary is never markup");
        assert_eq!(
            toast.body,
            "&lt;b&gt;Order&lt;/b&gt; &quot;ord_1&quot; &amp; &#39;co&#39;"
        );
        assert_eq!(toast.urgency, Urgency::Normal);
        assert_eq!(toast.timeout, None);
        assert_eq!(
            toast.actions,
            [(ACTION_VIEW.to_owned(), "View Details".to_owned())]
        );
        assert_eq!(
            (toast.item_id, toast.category, toast.markup),
            (Some(5), None, true)
        );

        let plain = toast_for(&order, false);
        assert_eq!(plain.body, order.message);
        assert!(!plain.markup);
    }

    #[test]
    fn urgency_follows_severity() {
        let with =
            |severity| toast_for(&item(1, "notification", severity, Value::Null), false).urgency;
        assert_eq!(with(Severity::Critical), Urgency::Critical);
        for severity in [Severity::Info, Severity::Success, Severity::Warning] {
            assert_eq!(with(severity), Urgency::Normal, "{severity:?}");
        }
    }

    #[test]
    fn a_login_alert_is_critical_with_this_was_me_and_details() {
        let mut alert = login(3, "Login from 1.2.3.4");
        alert.severity = Severity::Info;
        let toast = toast_for(&alert, false);
        assert_eq!(
            toast.urgency,
            Urgency::Critical,
            "a login is critical whatever its severity"
        );
        assert_eq!(toast.timeout, Some(Duration::from_secs(10)));
        assert_eq!(toast.category.as_deref(), Some("x-herald.security"));
        let keys: Vec<&str> = toast.actions.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, [ACTION_VIEW, ACTION_THIS_WAS_ME]);
        assert_eq!(toast.actions[1].1, "This was me");
        assert_eq!(
            toast.body,
            "Login from 1.2.3.4\nFirefox on Linux · Berlin, DE"
        );
    }

    #[test]
    fn login_details_are_not_repeated_and_are_kept_short() {
        let toast = toast_for(&login(3, "Login from Berlin, DE"), false);
        assert_eq!(toast.body, "Login from Berlin, DE\nFirefox on Linux");

        let toast = toast_for(&login(3, "Firefox on Linux in Berlin, DE"), false);
        assert_eq!(toast.body, "Firefox on Linux in Berlin, DE");

        let mut hostile = login(3, "");
        hostile.data =
            json!({"loginInfo": {"device": format!("<b>{}\n", "x".repeat(500)), "location": 7}});
        let toast = toast_for(&hostile, true);
        assert!(toast.body.starts_with("&lt;b&gt;xxx"), "{}", toast.body);
        assert!(toast.body.ends_with('…'));
        assert!(!toast.body.contains('\n'));
        assert!(toast.body.chars().count() < 80);
    }

    #[test]
    fn a_summary_counts_types_with_human_names() {
        let mut items: Vec<Item> = (1..=5).map(order).collect();
        items.insert(2, login(10, "x"));
        items.push(login(11, "y"));
        let toast = summary_toast(&items, false);
        assert_eq!(toast.summary, "7 missed notifications");
        assert_eq!(toast.body, "5 order updates, 2 logins");
        assert_eq!(toast.urgency, Urgency::Critical);
        assert_eq!(toast.item_id, None);
        assert_eq!(
            toast.actions,
            [(ACTION_VIEW.to_owned(), "View Details".to_owned())]
        );

        let one = summary_toast(&[order(1)], false);
        assert_eq!(
            (one.summary.as_str(), one.body.as_str()),
            ("1 missed notification", "1 order update")
        );
        assert_eq!(one.urgency, Urgency::Normal);
    }

    #[test]
    fn every_known_type_has_a_name_and_unknown_ones_are_escaped() {
        let kinds = EventType::ALL.map(|k| (kind_label(k.as_str(), 1), kind_label(k.as_str(), 2)));
        assert_eq!(kinds[0], ("login".to_owned(), "logins".to_owned()));
        assert_eq!(kinds[2], ("new order".to_owned(), "new orders".to_owned()));
        assert_eq!(
            kinds[3],
            ("payment update".to_owned(), "payment updates".to_owned())
        );
        assert_eq!(
            kinds[4],
            ("announcement".to_owned(), "announcements".to_owned())
        );
        assert_eq!(
            kinds[5],
            ("notification".to_owned(), "notifications".to_owned())
        );

        let items = [
            item(1, "shipment_delayed", Severity::Info, Value::Null),
            item(2, "<b>&amp;</b>", Severity::Warning, Value::Null),
        ];
        let toast = summary_toast(&items, true);
        assert_eq!(
            toast.body,
            "1 shipment delayed, 1 &lt;b&gt;&amp;amp;&lt;/b&gt;"
        );
        assert_eq!(toast.urgency, Urgency::Normal);
    }

    #[test]
    fn a_summary_of_many_types_stays_short() {
        let kinds = ["a", "b", "c", "d", "e", "f"];
        let items: Vec<Item> = kinds
            .iter()
            .zip(1..)
            .map(|(k, id)| item(id, k, Severity::Info, Value::Null))
            .collect();
        let toast = summary_toast(&items, false);
        assert_eq!(toast.body, "1 a, 1 b, 1 c, 1 d, 2 others");
    }
}
