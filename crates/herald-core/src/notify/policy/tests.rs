use super::*;
use chrono::NaiveDate;
use herald_proto::Severity;
use serde_json::json;

fn item(id: i64, kind: &str) -> Item {
    Item {
        id,
        server_id: u64::try_from(id).ok(),
        kind: kind.into(),
        title: format!("title {id}"),
        message: format!("message {id}"),
        url: None,
        severity: Severity::Info,
        created_at: "2026-01-01T00:00:00Z".into(),
        received_at: "2026-01-01T00:00:01Z".into(),
        data: json!({}),
        read: false,
    }
}

fn orders(ids: std::ops::RangeInclusive<i64>) -> Vec<Item> {
    ids.map(|id| item(id, "order_update")).collect()
}

fn login(id: i64, login_id: &str) -> Item {
    let mut login = item(id, "login_notification");
    login.severity = Severity::Critical;
    login.data =
        json!({"loginId": login_id, "loginInfo": {"device": "Firefox", "location": "Berlin"}});
    login
}

/// A local wall-clock time on an ordinary winter day.
fn at(hour: u32, minute: u32) -> DateTime<Local> {
    NaiveDate::from_ymd_opt(2026, 1, 15)
        .and_then(|d| d.and_hms_opt(hour, minute, 0))
        .and_then(|t| t.and_local_timezone(Local).earliest())
        .expect("a valid local time")
}

fn noon() -> DateTime<Local> {
    at(12, 0)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ids(toasts: &[Toast]) -> Vec<Option<i64>> {
    toasts.iter().map(|t| t.item_id).collect()
}

#[test]
fn one_and_two_live_items_show_at_once() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let one = policy.decide(&orders(1..=1), Origin::Live, false, t0, noon());
    assert_eq!(ids(&one.show), [Some(1)]);
    assert_eq!((one.flush_at, one.suppressed), (None, 0));

    let mut policy = Policy::new(PolicyConfig::default());
    let two = policy.decide(&orders(1..=2), Origin::Live, false, t0, noon());
    assert_eq!(ids(&two.show), [Some(1), Some(2)]);
    assert_eq!(two.flush_at, None);
    assert!(
        policy.flush(false, t0 + ms(2000)).is_empty(),
        "nothing was held"
    );
}

#[test]
fn a_burst_max_of_one_still_shows_a_lone_item_at_once() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig {
        burst_max: 1,
        ..PolicyConfig::default()
    });
    let decision = policy.decide(&orders(1..=3), Origin::Live, false, t0, noon());
    assert_eq!(ids(&decision.show), [Some(1)]);
    assert_eq!(decision.flush_at, Some(t0 + ms(2000)));
    assert_eq!(
        policy.flush(false, t0 + ms(2000))[0].summary,
        "2 missed notifications"
    );
}

#[test]
fn a_third_item_in_the_window_is_held_and_flushed_alone() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let decision = policy.decide(&orders(1..=3), Origin::Live, false, t0, noon());
    assert_eq!(ids(&decision.show), [Some(1), Some(2)]);
    assert_eq!(decision.flush_at, Some(t0 + ms(2000)));
    assert_eq!(decision.suppressed, 0, "held is not suppressed");

    let flushed = policy.flush(false, t0 + ms(2000));
    assert_eq!(ids(&flushed), [Some(3)], "one held item gets its own toast");
    assert_eq!(flushed[0].summary, "title 3");
    assert!(
        policy.flush(false, t0 + ms(4000)).is_empty(),
        "a flush empties the hold"
    );
}

#[test]
fn a_hundred_at_once_become_two_toasts_and_one_summary() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let decision = policy.decide(&orders(1..=100), Origin::Live, false, t0, noon());
    assert_eq!(decision.show.len(), 2);
    assert_eq!(decision.flush_at, Some(t0 + ms(2000)));
    let flushed = policy.flush(false, t0 + ms(2000));
    assert_eq!(flushed.len(), 1);
    assert_eq!(flushed[0].summary, "98 missed notifications");
    assert_eq!(flushed[0].body, "98 order updates");
    assert_eq!(flushed[0].item_id, None);
}

#[test]
fn items_spread_over_time_all_show() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    // At 1.1 s spacing a two-second window never holds more than two.
    for (n, id) in (1..=20).enumerate() {
        let now = t0 + ms(1100) * u32::try_from(n).expect("small");
        let decision = policy.decide(&orders(id..=id), Origin::Live, false, now, noon());
        assert_eq!(ids(&decision.show), [Some(id)], "item {id}");
        assert_eq!(decision.flush_at, None);
    }
}

#[test]
fn the_window_slides() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    for (offset, id) in [(0, 1), (1000, 2)] {
        let shown = policy
            .decide(
                &orders(id..=id),
                Origin::Live,
                false,
                t0 + ms(offset),
                noon(),
            )
            .show;
        assert_eq!(shown.len(), 1);
    }
    // At 1.5 s both are still in the window: hold.
    let held = policy.decide(&orders(3..=3), Origin::Live, false, t0 + ms(1500), noon());
    assert!(held.show.is_empty());
    assert_eq!(held.flush_at, Some(t0 + ms(3500)));
    // Later items join the hold, and the flush time stays.
    let also = policy.decide(&orders(4..=4), Origin::Live, false, t0 + ms(2600), noon());
    assert!(also.show.is_empty());
    assert_eq!(also.flush_at, Some(t0 + ms(3500)));
    let flushed = policy.flush(false, t0 + ms(3500));
    assert_eq!(flushed[0].summary, "2 missed notifications");
    // After the flush, the window holds only the summary: the next one shows.
    let next = policy.decide(&orders(5..=5), Origin::Live, false, t0 + ms(3600), noon());
    assert_eq!(ids(&next.show), [Some(5)]);
}

#[test]
fn a_flood_is_summarised_until_a_window_passes_quietly() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let first = policy.decide(&orders(1..=100), Origin::Live, false, t0, noon());
    assert_eq!(first.show.len(), 2);
    let more = policy.decide(
        &orders(101..=200),
        Origin::Live,
        false,
        t0 + ms(1000),
        noon(),
    );
    assert!(more.show.is_empty());
    // A flood: the summary waits for a window after the newest item.
    assert_eq!(more.flush_at, Some(t0 + ms(3000)));
    let flushed = policy.flush(false, t0 + ms(2000));
    assert_eq!(flushed[0].summary, "198 missed notifications");
    // The link overflowed and caught up: that joins the flood too.
    let caught = policy.decide(
        &orders(501..=510),
        Origin::CatchUp,
        false,
        t0 + ms(2100),
        noon(),
    );
    assert!(caught.show.is_empty(), "a catch-up during a flood is held");
    // Still flooding: the window is empty again, yet nothing shows alone.
    let flood = policy.decide(
        &orders(201..=300),
        Origin::Live,
        false,
        t0 + ms(2500),
        noon(),
    );
    assert!(flood.show.is_empty(), "a flood shows no single toasts");
    assert_eq!(flood.flush_at, Some(t0 + ms(4500)));
    let flushed = policy.flush(false, t0 + ms(4500));
    assert_eq!(flushed[0].summary, "110 missed notifications");
    // A quiet window later, items show one by one again.
    let calm = policy.decide(
        &orders(301..=301),
        Origin::Live,
        false,
        t0 + ms(6600),
        noon(),
    );
    assert_eq!(ids(&calm.show), [Some(301)]);
}

#[test]
fn a_flood_of_fifty_thousand_ends_in_one_summary_after_it_is_over() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let mut shown = Vec::new();
    // 50,000 items over 7 s, in batches of 100 every 14 ms (the hub's rate).
    let mut now = t0;
    for batch in 0..500i64 {
        now = t0 + ms(14) * u32::try_from(batch).expect("small");
        let first = batch * 100 + 1;
        let decision = policy.decide(
            &orders(first..=first + 99),
            Origin::Live,
            false,
            now,
            noon(),
        );
        shown.extend(decision.show);
        let due = decision.flush_at.expect("items are held");
        assert!(
            due > now,
            "no summary while the flood lasts (batch {batch})"
        );
        assert_eq!(due, now + ms(2000), "a window after the newest item");
    }
    assert_eq!(shown.len(), 2, "the first two show at once");
    let end = policy.flush_at().expect("held");
    assert_eq!(end, now + ms(2000));
    let summary = policy.flush(false, end);
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].summary, "49998 missed notifications");
    assert_eq!(shown.len() + summary.len(), 3);
    assert_eq!(policy.flush_at(), None);
}

#[test]
fn a_stream_that_never_ends_gets_a_summary_every_thirty_seconds() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let mut summaries = Vec::new();
    // Ten items a second for 95 s, never a quiet window.
    for n in 0..950i64 {
        let now = t0 + ms(100) * u32::try_from(n).expect("small");
        if policy.flush_at().is_some_and(|at| at <= now) {
            summaries.push(now);
            policy.flush(false, now);
        }
        policy.decide(&orders(n + 1..=n + 1), Origin::Live, false, now, noon());
    }
    assert_eq!(summaries.len(), 3, "{summaries:?}");
    let first_held = t0 + ms(200);
    assert_eq!(summaries[0], first_held + FLOOD_CAP);
    for pair in summaries.windows(2) {
        assert!(pair[1] - pair[0] <= FLOOD_CAP + ms(100), "{summaries:?}");
    }
}

#[test]
fn a_late_flush_happens_before_new_items() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    policy.decide(&orders(1..=5), Origin::Live, false, t0, noon());
    let decision = policy.decide(&orders(6..=6), Origin::Live, false, t0 + ms(5000), noon());
    assert_eq!(decision.show.len(), 2);
    assert_eq!(decision.show[0].summary, "3 missed notifications");
    assert_eq!(decision.show[1].item_id, Some(6));
    assert_eq!(decision.flush_at, None);
}

#[test]
fn a_catch_up_is_one_toast() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let mut items = orders(1..=99);
    items.push(login(100, "someone-else"));
    let decision = policy.decide(&items, Origin::CatchUp, false, t0, noon());
    assert_eq!(decision.show.len(), 1);
    assert_eq!(decision.show[0].summary, "100 missed notifications");
    assert_eq!(decision.show[0].body, "99 order updates, 1 login");
    assert_eq!(decision.show[0].urgency, Urgency::Critical);
    assert_eq!(decision.flush_at, None);

    let single = policy.decide(&orders(200..=200), Origin::CatchUp, false, t0, noon());
    assert_eq!(
        ids(&single.show),
        [Some(200)],
        "one missed item is shown as itself"
    );
}

#[test]
fn held_items_keep_what_the_summary_and_the_flush_need() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let mut items = orders(1..=3);
    items.push(login(5, "signed in meanwhile"));
    items.push(login(6, "someone else"));
    let decision = policy.decide(&items, Origin::Live, false, t0, noon());
    assert_eq!(decision.show.len(), 2);
    // Learnt while 5 was held (not first, so kept slim): its data must survive.
    policy.add_own_login("signed in meanwhile".into());
    let flushed = policy.flush(false, t0 + ms(2000));
    assert_eq!(flushed[0].summary, "2 missed notifications", "3 and 6");
    assert_eq!(flushed[0].urgency, Urgency::Critical, "6 is a login alert");
}

#[test]
fn items_read_elsewhere_show_nothing() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let mut items = orders(1..=100);
    items.iter_mut().for_each(|i| i.read = true);
    let decision = policy.decide(&items, Origin::CatchUp, false, t0, noon());
    assert!(decision.show.is_empty());
    assert_eq!(decision.suppressed, 100);
}

#[test]
fn an_own_login_shows_nothing_ever() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    policy.add_own_login("mine".into());
    let decision = policy.decide(
        &[login(1, "mine"), login(2, "theirs")],
        Origin::Live,
        false,
        t0,
        noon(),
    );
    assert_eq!(ids(&decision.show), [Some(2)]);
    assert_eq!(decision.suppressed, 1);
    let catch_up = policy.decide(&[login(3, "mine")], Origin::CatchUp, false, t0, noon());
    assert!(catch_up.show.is_empty());
    // A non-login item with the same data is not an own login.
    let mut order = item(4, "order_update");
    order.data = json!({"loginId": "mine"});
    assert_eq!(
        policy
            .decide(&[order], Origin::Live, false, t0, noon())
            .show
            .len(),
        1
    );
}

#[test]
fn own_logins_added_while_held_are_dropped_at_flush() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let mut items = orders(1..=2);
    items.push(login(4, "late"));
    policy.decide(&items, Origin::Live, false, t0, noon());
    policy.add_own_login("late".into());
    assert!(policy.flush(false, t0 + ms(2000)).is_empty());
}

#[test]
fn a_pause_silences_all_but_login_alerts() {
    let t0 = Instant::now();
    let wall = noon();
    let config = PolicyConfig {
        paused_until: Some((wall + chrono::Duration::hours(1)).with_timezone(&Utc)),
        ..PolicyConfig::default()
    };
    let mut policy = Policy::new(config);
    let items = [
        item(1, "order_update"),
        login(2, "x"),
        item(3, "announcement"),
    ];
    let paused = policy.decide(&items, Origin::Live, false, t0, wall);
    assert_eq!(ids(&paused.show), [Some(2)]);
    assert_eq!(paused.suppressed, 2);

    let later = wall + chrono::Duration::hours(2);
    let resumed = policy.decide(&orders(4..=4), Origin::Live, false, t0 + ms(60_000), later);
    assert_eq!(ids(&resumed.show), [Some(4)]);
}

#[test]
fn quiet_hours_wrap_midnight_and_let_login_alerts_through() {
    let config = PolicyConfig {
        quiet_hours: Some(QuietHours {
            start: "22:00".into(),
            end: "07:00".into(),
        }),
        ..PolicyConfig::default()
    };
    let mut policy = Policy::new(config);
    let t0 = Instant::now();
    for (n, (hour, minute, quiet)) in [
        (22, 0, true),
        (23, 30, true),
        (0, 0, true),
        (3, 0, true),
        (6, 59, true),
        (7, 0, false),
        (12, 0, false),
        (21, 59, false),
    ]
    .into_iter()
    .enumerate()
    {
        // Far apart in time, so bursts play no part.
        let now = t0 + Duration::from_secs(60) * u32::try_from(n).expect("small");
        let items = [item(1, "order_update"), login(2, "x")];
        let decision = policy.decide(&items, Origin::Live, false, now, at(hour, minute));
        let expected = if quiet {
            vec![Some(2)]
        } else {
            vec![Some(1), Some(2)]
        };
        assert_eq!(ids(&decision.show), expected, "{hour:02}:{minute:02}");
    }
}

#[test]
fn quiet_hours_within_one_day() {
    let window = QuietHours {
        start: "13:00".into(),
        end: "14:30".into(),
    }
    .validate()
    .expect("valid");
    let time = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid time");
    assert!(in_window(time(13, 0), window));
    assert!(in_window(time(14, 29), window));
    assert!(!in_window(time(14, 30), window));
    assert!(!in_window(time(12, 59), window));
    assert!(!in_window(time(23, 0), window));
}

#[test]
fn bad_quiet_hours_are_explained_and_ignored() {
    let bad = |start: &str, end: &str| {
        QuietHours {
            start: start.into(),
            end: end.into(),
        }
        .validate()
    };
    let err = bad("25:00", "07:00").expect_err("hour 25");
    assert_eq!(
        err,
        PolicyError::BadTime {
            which: "start",
            value: "25:00".into()
        }
    );
    assert!(err.to_string().contains("HH:MM"), "{err}");
    assert!(matches!(
        bad("22:00", "7pm"),
        Err(PolicyError::BadTime { which: "end", .. })
    ));
    assert!(matches!(
        bad("22:00", "22:00"),
        Err(PolicyError::EmptyQuietHours(_))
    ));
    assert!(bad(" 7:05", "08:00").is_ok());

    let config = PolicyConfig {
        quiet_hours: Some(QuietHours {
            start: "late".into(),
            end: "early".into(),
        }),
        ..PolicyConfig::default()
    };
    assert!(config.validate().is_err());
    // Invalid quiet hours are ignored rather than swallowing every toast.
    let mut policy = Policy::new(config);
    let decision = policy.decide(
        &orders(1..=1),
        Origin::Live,
        false,
        Instant::now(),
        at(3, 0),
    );
    assert_eq!(decision.show.len(), 1);
}

#[test]
fn a_disabled_type_shows_nothing() {
    let mut types = BTreeMap::new();
    types.insert(
        "order_update".to_owned(),
        TypeRule {
            enabled: false,
            urgency: None,
        },
    );
    let mut policy = Policy::new(PolicyConfig {
        types,
        ..PolicyConfig::default()
    });
    let items = [item(1, "order_update"), item(2, "announcement")];
    let decision = policy.decide(&items, Origin::Live, false, Instant::now(), noon());
    assert_eq!(ids(&decision.show), [Some(2)]);
    assert_eq!(decision.suppressed, 1);
}

#[test]
fn a_type_disabled_while_held_is_dropped_at_flush() {
    let t0 = Instant::now();
    let mut policy = Policy::new(PolicyConfig::default());
    let mut items = orders(1..=2);
    items.extend([
        item(4, "announcement"),
        item(5, "announcement"),
        item(6, "new_order"),
    ]);
    policy.decide(&items, Origin::Live, false, t0, noon());
    let mut config = policy.config().clone();
    config.types.insert(
        "announcement".into(),
        TypeRule {
            enabled: false,
            urgency: None,
        },
    );
    policy.set_config(config);
    assert_eq!(ids(&policy.flush(false, t0 + ms(2000))), [Some(6)]);
}

#[test]
fn per_type_urgency_overrides_apply() {
    let mut types = BTreeMap::new();
    types.insert(
        "order_update".to_owned(),
        TypeRule {
            enabled: true,
            urgency: Some(Urgency::Critical),
        },
    );
    types.insert(
        "login_notification".to_owned(),
        TypeRule {
            enabled: true,
            urgency: Some(Urgency::Low),
        },
    );
    // Room for all three at once (the default shows two, then holds).
    let mut policy = Policy::new(PolicyConfig {
        types,
        burst_max: 4,
        ..PolicyConfig::default()
    });
    let t0 = Instant::now();
    let items = [
        item(1, "order_update"),
        login(2, "x"),
        item(3, "announcement"),
    ];
    let urgencies: Vec<Urgency> = policy
        .decide(&items, Origin::Live, false, t0, noon())
        .show
        .iter()
        .map(|t| t.urgency)
        .collect();
    assert_eq!(
        urgencies,
        [Urgency::Critical, Urgency::Low, Urgency::Normal]
    );

    // A summary of low-urgency logins is low too.
    let logins = [login(4, "a"), login(5, "b")];
    let summary = policy.decide(&logins, Origin::CatchUp, false, t0 + ms(10_000), noon());
    assert_eq!(summary.show[0].urgency, Urgency::Low);
}

#[test]
fn config_round_trips_and_fills_in_defaults() -> Result<(), Box<dyn std::error::Error>> {
    let empty: PolicyConfig = serde_json::from_str("{}")?;
    assert_eq!(empty, PolicyConfig::default());
    assert_eq!((empty.burst_max, empty.burst_window_ms), (3, 2000));

    let partial: PolicyConfig =
        serde_json::from_str(r#"{"types": {"order_update": {"enabled": false}}, "burst_max": 5}"#)?;
    assert_eq!(
        partial.rule("order_update"),
        TypeRule {
            enabled: false,
            urgency: None
        }
    );
    assert_eq!(partial.rule("unknown_type"), TypeRule::default());
    assert!(partial.rule("unknown_type").enabled);
    assert_eq!((partial.burst_max, partial.burst_window_ms), (5, 2000));

    let mut full = PolicyConfig {
        quiet_hours: Some(QuietHours {
            start: "22:00".into(),
            end: "07:00".into(),
        }),
        paused_until: Some(noon().with_timezone(&Utc)),
        ..partial
    };
    full.types.insert(
        "login_notification".into(),
        TypeRule {
            enabled: true,
            urgency: Some(Urgency::Critical),
        },
    );
    let json = serde_json::to_string(&full)?;
    assert_eq!(serde_json::from_str::<PolicyConfig>(&json)?, full);
    // The settings file is TOML, which has no null: absent options must be
    // omitted, not written.
    assert_eq!(
        toml::from_str::<PolicyConfig>(&toml::to_string(&full)?)?,
        full
    );
    let defaults = toml::to_string(&PolicyConfig::default())?;
    assert_eq!(
        toml::from_str::<PolicyConfig>(&defaults)?,
        PolicyConfig::default()
    );
    Ok(())
}

#[test]
fn own_logins_are_bounded() {
    let mut policy = Policy::new(PolicyConfig::default());
    for n in 0..100 {
        policy.add_own_login(format!("login-{n}"));
    }
    policy.add_own_login("login-99".into());
    assert_eq!(policy.own_logins.len(), OWN_LOGINS);
    assert_eq!(
        policy.own_logins.back().map(String::as_str),
        Some("login-99")
    );
}
