//! What to show: the policy between the inbox and the [`super::Notifier`].
//!
//! Rules, in order (design §3):
//! - a login alert for a login this device made shows nothing, ever;
//! - a disabled type shows nothing;
//! - an item already read on another device shows nothing;
//! - login alerts are security alerts: pause and quiet hours never silence them;
//! - while paused or in quiet hours, everything else shows nothing;
//! - a catch-up becomes one toast (a summary when there are several);
//! - at most `burst_max` toasts show within `burst_window_ms`, a summary
//!   included: live items show one by one until `burst_max` − 1 have shown
//!   in the window (at least one always shows at once); the rest are held and
//!   shown as one toast (a summary, or the item's own if it is alone) when
//!   the window has passed ([`Decision::flush_at`], [`Policy::flush`]). So
//!   a flood costs `burst_max` toasts, the summary its last;
//! - a flood (more than `burst_max` held) ends in one summary after it is
//!   over: the flush deadline moves to a window after the newest held item,
//!   but never past [`FLOOD_CAP`] after the first, so a stream that never
//!   ends still gets a summary every 30 s; no individual toasts in between,
//!   and a catch-up joins the summary.
//!
//! Time comes in as parameters (a monotonic instant for bursts, the local
//! wall clock for pause and quiet hours), so the policy is pure logic.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveTime, Utc};
use tokio::time::Instant;

use super::render::{is_login, summary_toast, toast_for, urgency_for, urgency_rank};
use super::{Toast, Urgency};
use crate::inbox::Item;

/// How many of this device's own login ids are remembered. Its alert arrives
/// seconds after the login, so a few recent ones are plenty.
const OWN_LOGINS: usize = 32;
/// The longest a flood's summary waits for the flood to end: a stream that
/// never pauses for a window gets a summary this often.
pub const FLOOD_CAP: Duration = Duration::from_secs(30);
/// The longest burst window honoured, so that a silly setting cannot hold
/// toasts back for days (or overflow an `Instant`).
const MAX_BURST_WINDOW: Duration = Duration::from_secs(3600);

/// The user's notification settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Per event type: enabled and urgency override. Types not listed are
    /// enabled, with the urgency their severity gives.
    pub types: BTreeMap<String, TypeRule>,
    /// Local wall-clock hours when only login alerts show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// Until then only login alerts show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    /// The most toasts within the window, the summary of the rest included.
    pub burst_max: usize,
    pub burst_window_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> PolicyConfig {
        PolicyConfig {
            types: BTreeMap::new(),
            quiet_hours: None,
            paused_until: None,
            burst_max: 3,
            burst_window_ms: 2000,
        }
    }
}

impl PolicyConfig {
    /// Checks what a user can get wrong; call it before saving settings.
    pub fn validate(&self) -> Result<(), PolicyError> {
        match &self.quiet_hours {
            Some(quiet) => quiet.validate().map(drop),
            None => Ok(()),
        }
    }

    /// The rule of one type (the default when it is not listed).
    pub fn rule(&self, kind: &str) -> TypeRule {
        self.types.get(kind).cloned().unwrap_or_default()
    }
}

/// The settings of one event type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TypeRule {
    pub enabled: bool,
    /// `None`: from the item's severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
}

impl Default for TypeRule {
    fn default() -> TypeRule {
        TypeRule {
            enabled: true,
            urgency: None,
        }
    }
}

/// Quiet hours in local wall-clock time, `"HH:MM"` (24-hour). The window may
/// wrap midnight: `22:00`–`07:00` is quiet at 23:30 and at 03:00. The start is
/// inside the window, the end is not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

impl QuietHours {
    /// The parsed start and end, or what is wrong with them.
    pub fn validate(&self) -> Result<(NaiveTime, NaiveTime), PolicyError> {
        let start = parse_time("start", &self.start)?;
        let end = parse_time("end", &self.end)?;
        if start == end {
            return Err(PolicyError::EmptyQuietHours(self.start.clone()));
        }
        Ok((start, end))
    }
}

fn parse_time(which: &'static str, value: &str) -> Result<NaiveTime, PolicyError> {
    NaiveTime::parse_from_str(value.trim(), "%H:%M").map_err(|_| PolicyError::BadTime {
        which,
        value: value.to_owned(),
    })
}

/// Whether `time` falls in the window `[start, end)`, which may wrap midnight.
fn in_window(time: NaiveTime, (start, end): (NaiveTime, NaiveTime)) -> bool {
    if start < end {
        start <= time && time < end
    } else {
        time >= start || time < end
    }
}

/// What is wrong with a [`PolicyConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the quiet hours {which} {value:?} is not a time like 22:00 (24-hour HH:MM)")]
    BadTime { which: &'static str, value: String },
    #[error(
        "quiet hours start and end at the same time ({0}); give two different times, or pause \
         notifications instead"
    )]
    EmptyQuietHours(String),
}

/// Where items come from: live events are shown as they come, a catch-up
/// (what was missed while away) as one toast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Live,
    CatchUp,
}

/// What [`Policy::decide`] wants shown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Show these now, in order.
    pub show: Vec<Toast>,
    /// Call [`Policy::flush`] at this instant: items are held back.
    pub flush_at: Option<Instant>,
    /// Items that will never be shown (own login, disabled, read, paused,
    /// quiet). Held and summarised items are not counted.
    pub suppressed: usize,
}

/// Whether `item` is the login alert of one of `logins` (login ids).
pub fn is_login_of<'a>(item: &Item, mut logins: impl Iterator<Item = &'a String>) -> bool {
    is_login(item)
        && item
            .data
            .get("loginId")
            .and_then(|id| id.as_str())
            .is_some_and(|id| logins.any(|own| own == id))
}

/// The policy and its state: recent toasts, held items and own logins.
#[derive(Debug)]
pub struct Policy {
    config: PolicyConfig,
    /// The parsed quiet hours; `None` when unset or invalid.
    quiet: Option<(NaiveTime, NaiveTime)>,
    own_logins: VecDeque<String>,
    /// When each recent toast was shown, oldest first.
    shown: VecDeque<Instant>,
    /// Items held back by a burst, in arrival order.
    held: Vec<Item>,
    /// When the first held item arrived.
    held_since: Option<Instant>,
    /// When the newest held item arrived: a flood's summary waits until a
    /// window after it.
    held_last: Option<Instant>,
    /// Until then a flood is going on: live items are held, not shown one
    /// by one. Without it a long burst showed `burst_max` toasts and a
    /// summary in every window (16 toasts for 50,000 events over 7 s).
    flood_until: Option<Instant>,
}

impl Policy {
    pub fn new(config: PolicyConfig) -> Policy {
        let mut policy = Policy {
            config: PolicyConfig::default(),
            quiet: None,
            own_logins: VecDeque::new(),
            shown: VecDeque::new(),
            held: Vec::new(),
            held_since: None,
            held_last: None,
            flood_until: None,
        };
        policy.set_config(config);
        policy
    }

    /// Replaces the settings. Invalid quiet hours are logged and ignored
    /// (notifications show rather than vanish); [`PolicyConfig::validate`]
    /// is the place to refuse them.
    pub fn set_config(&mut self, config: PolicyConfig) {
        self.quiet = match config.quiet_hours.as_ref().map(QuietHours::validate) {
            Some(Ok(window)) => Some(window),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "ignoring invalid quiet hours");
                None
            }
            None => None,
        };
        self.config = config;
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Remembers a login id this device created, so that its own login alert
    /// shows nothing at all.
    pub fn add_own_login(&mut self, login_id: String) {
        if self.own_logins.contains(&login_id) {
            return;
        }
        if self.own_logins.len() == OWN_LOGINS {
            self.own_logins.pop_front();
        }
        self.own_logins.push_back(login_id);
    }

    /// Decides what to show for newly stored items.
    ///
    /// `now` is monotonic (bursts); `wall` is the local wall clock (pause and
    /// quiet hours).
    pub fn decide(
        &mut self,
        items: &[Item],
        origin: Origin,
        markup: bool,
        now: Instant,
        wall: DateTime<Local>,
    ) -> Decision {
        let mut decision = Decision::default();
        // A caller that is late to flush must not make held items wait
        // behind newer ones.
        if self.flush_at().is_some_and(|at| at <= now) {
            decision.show.extend(self.flush(markup, now));
        }
        let mut worthy = Vec::new();
        for item in items {
            if self.shows(item, wall) {
                worthy.push(item);
            } else {
                decision.suppressed += 1;
            }
        }
        match origin {
            // During a flood (the link overflowed and caught up), what was
            // caught up joins the flood's summary instead of a toast of its own.
            Origin::CatchUp if self.flooding(now) => {
                if !worthy.is_empty() {
                    self.held_since.get_or_insert(now);
                    self.held_last = Some(now);
                    for item in worthy {
                        self.hold(item);
                    }
                }
            }
            Origin::CatchUp => {
                if let Some(toast) = self.one_toast_for(&worthy, markup) {
                    self.shown.push_back(now);
                    decision.show.push(toast);
                }
            }
            Origin::Live => {
                for item in worthy {
                    self.forget_before(now);
                    let flood = self.flood_until.is_some_and(|until| now < until);
                    if flood {
                        self.flood_until = Some(now + self.window());
                    }
                    if self.held.is_empty() && !flood && self.shown.len() < self.at_once() {
                        self.shown.push_back(now);
                        decision.show.push(self.toast(item, markup));
                    } else {
                        // Once holding, later items are held too, so toasts
                        // never show out of order.
                        self.held_since.get_or_insert(now);
                        self.held_last = Some(now);
                        self.hold(item);
                    }
                }
            }
        }
        decision.flush_at = self.flush_at();
        decision
    }

    /// When [`Policy::flush`] is due: a window after the first held item;
    /// for a flood (more held than `burst_max`) a window after the newest,
    /// at most [`FLOOD_CAP`] after the first. It moves while a flood lasts,
    /// so a caller takes the newest value after every decision.
    pub fn flush_at(&self) -> Option<Instant> {
        let since = self.held_since?;
        if self.held.len() <= self.config.burst_max {
            return Some(since + self.window());
        }
        let last = self.held_last.unwrap_or(since);
        Some((last + self.window()).min(since + FLOOD_CAP.max(self.window())))
    }

    /// Called at [`Decision::flush_at`]: one toast for everything held back
    /// (a summary, or the item's own toast if only one was held).
    pub fn flush(&mut self, markup: bool, now: Instant) -> Vec<Toast> {
        self.held_since = None;
        self.held_last = None;
        let held = std::mem::take(&mut self.held);
        // More held than could have shown: items come faster than
        // `burst_max` a window, so the next ones join a summary too.
        self.flood_until = (held.len() > self.config.burst_max).then(|| now + self.window());
        // Settings may have changed while the items waited.
        let held: Vec<&Item> = held
            .iter()
            .filter(|item| !self.always_hidden(item))
            .collect();
        let toast = self.one_toast_for(&held, markup);
        if toast.is_some() {
            self.forget_before(now);
            self.shown.push_back(now);
        }
        toast.into_iter().collect()
    }

    /// Whether an item deserves a toast at all.
    fn shows(&self, item: &Item, wall: DateTime<Local>) -> bool {
        if self.always_hidden(item) || item.read {
            return false;
        }
        // Security alerts are never silenced by pause or quiet hours: a login
        // the user did not make is exactly what they must see at once.
        if is_login(item) {
            return true;
        }
        let paused = self
            .config
            .paused_until
            .is_some_and(|until| wall.with_timezone(&Utc) < until);
        let quiet = self
            .quiet
            .is_some_and(|window| in_window(wall.time(), window));
        !paused && !quiet
    }

    /// The login ids of this device's own sign-ins.
    pub fn own_logins(&self) -> Vec<String> {
        self.own_logins.iter().cloned().collect()
    }

    fn is_own_login(&self, item: &Item) -> bool {
        is_login_of(item, self.own_logins.iter())
    }

    /// Own login alerts and disabled types.
    fn always_hidden(&self, item: &Item) -> bool {
        self.is_own_login(item) || !self.config.rule(&item.kind).enabled
    }

    fn one_toast_for(&self, items: &[&Item], markup: bool) -> Option<Toast> {
        match items {
            [] => None,
            [item] => Some(self.toast(item, markup)),
            items => {
                let owned: Vec<Item> = items.iter().map(|&item| item.clone()).collect();
                let mut toast = summary_toast(&owned, markup);
                // The summary is as urgent as its most urgent item, overrides
                // included.
                if let Some(urgency) = items
                    .iter()
                    .map(|item| self.urgency(item))
                    .max_by_key(|u| urgency_rank(*u))
                {
                    toast.urgency = urgency;
                }
                Some(toast)
            }
        }
    }

    fn toast(&self, item: &Item, markup: bool) -> Toast {
        Toast {
            urgency: self.urgency(item),
            ..toast_for(item, markup)
        }
    }

    fn urgency(&self, item: &Item) -> Urgency {
        self.config
            .rule(&item.kind)
            .urgency
            .unwrap_or_else(|| urgency_for(item))
    }

    fn window(&self) -> Duration {
        Duration::from_millis(self.config.burst_window_ms).min(MAX_BURST_WINDOW)
    }

    /// Holds an item for the summary. Only the first is kept whole (a hold
    /// of one shows that item's own toast); the rest keep what a summary
    /// reads (type, severity, a login alert's data), so a flood of 10,000
    /// items does not hold 10,000 messages.
    fn hold(&mut self, item: &Item) {
        let kept = if self.held.is_empty() {
            item.clone()
        } else {
            Item {
                id: item.id,
                server_id: item.server_id,
                kind: item.kind.clone(),
                title: String::new(),
                message: String::new(),
                url: None,
                severity: item.severity,
                created_at: String::new(),
                received_at: String::new(),
                data: if is_login(item) {
                    item.data.clone()
                } else {
                    serde_json::Value::Null
                },
                read: item.read,
            }
        };
        self.held.push(kept);
    }

    /// Whether a flood is going on: more held than `burst_max`, or one
    /// ended less than a window ago.
    fn flooding(&self, now: Instant) -> bool {
        self.held.len() > self.config.burst_max || self.flood_until.is_some_and(|until| now < until)
    }

    /// How many live items show at once within a window: one fewer than
    /// `burst_max`, which leaves the last slot for the summary of whatever
    /// follows, but never none, so that a lone item is never held back.
    fn at_once(&self) -> usize {
        self.config.burst_max.saturating_sub(1).max(1)
    }

    /// Drops toasts that left the burst window.
    fn forget_before(&mut self, now: Instant) {
        let window = self.window();
        while self.shown.front().is_some_and(|&at| at + window <= now) {
            self.shown.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
