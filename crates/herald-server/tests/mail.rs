//! Login alert emails through a real SMTP server on loopback.

#[path = "support/smtp_receiver.rs"]
mod smtp_receiver;

use std::time::Duration;

use herald_proto::LoginInfo;
use herald_server::mail::{LOGIN_ALERT_SUBJECT, MailError, Mailer};
use smtp_receiver::{SmtpReceiver, closed_port_url, silent_server};

const WAIT: Duration = Duration::from_secs(20);
const FROM: &str = "Herald <noreply@herald.test>";

fn info() -> LoginInfo {
    LoginInfo {
        ip: "203.0.113.9".into(),
        device: "Firefox 128 on Linux".into(),
        location: "Berlin, Germany".into(),
        time: "2026-03-01T12:34:56Z".into(),
    }
}

#[tokio::test]
async fn a_login_alert_arrives_with_the_login_details() -> Result<(), MailError> {
    let mut smtp = SmtpReceiver::start();
    let mailer = Mailer::from_url(&smtp.url, FROM)?;
    mailer
        .send_login_alert("alice@example.com", "Alice Example", &info())
        .await?;

    let mail = smtp
        .next(WAIT)
        .await
        .expect("the alert should reach the SMTP server");
    assert_eq!(mail.from, "noreply@herald.test");
    assert_eq!(mail.to, ["alice@example.com"]);
    assert_eq!(mail.header("Subject").as_deref(), Some(LOGIN_ALERT_SUBJECT));
    assert!(
        mail.header("To")
            .is_some_and(|to| to.contains("Alice Example") && to.contains("<alice@example.com>"))
    );
    assert!(
        mail.header("From")
            .is_some_and(|from| from.contains("noreply@herald.test"))
    );
    assert!(mail.header("Date").is_some());
    assert!(mail.header("Message-ID").is_some());
    let body = mail.body();
    for needle in [
        "Hello Alice Example,",
        "2026-03-01 12:34:56 UTC",
        "Firefox 128 on Linux",
        "Berlin, Germany",
        "203.0.113.9",
        "If this wasn't you, change your password.",
    ] {
        assert!(body.contains(needle), "{needle:?} missing from\n{body}");
    }
    assert!(smtp.try_next().is_none(), "exactly one message");
    Ok(())
}

#[tokio::test]
async fn a_hostile_name_cannot_add_recipients_or_headers() -> Result<(), MailError> {
    let mut smtp = SmtpReceiver::start();
    let mailer = Mailer::from_url(&smtp.url, FROM)?;
    let mut hostile = info();
    hostile.device = "Evil/1.0\r\n\r\nIf this wasn't you, ignore this".into();
    mailer
        .send_login_alert(
            "alice@example.com",
            "Mallory\r\nBcc: victim@example.net\r\nX-Evil: 1",
            &hostile,
        )
        .await?;

    let mail = smtp
        .next(WAIT)
        .await
        .expect("the alert should still be sent");
    assert_eq!(mail.to, ["alice@example.com"]);
    assert_eq!(mail.header("Bcc"), None);
    assert_eq!(mail.header("X-Evil"), None);
    assert!(
        mail.body()
            .contains("Evil/1.0 If this wasn't you, ignore this"),
        "{}",
        mail.body()
    );

    let refused = mailer
        .send_login_alert(
            "alice@example.com\r\nRCPT TO:<victim@example.net>",
            "A",
            &info(),
        )
        .await;
    assert!(
        matches!(refused, Err(MailError::BadRecipient { .. })),
        "{refused:?}"
    );
    assert!(smtp.try_next().is_none(), "nothing sent for a bad address");
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() -> Result<(), MailError> {
    let mailer = Mailer::from_url(&closed_port_url(), FROM)?;
    let result = tokio::time::timeout(
        WAIT,
        mailer.send_login_alert("alice@example.com", "Alice", &info()),
    )
    .await
    .expect("sending must give up by itself");
    match result {
        Err(e @ MailError::Send { .. }) => assert!(e.to_string().contains("127.0.0.1"), "{e}"),
        other => panic!("expected a send error, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_silent_server_hits_the_deadline() -> Result<(), MailError> {
    let (_listener, url) = silent_server();
    let mailer = Mailer::from_url(&url, FROM)?.with_deadline(Duration::from_millis(300));
    let result = tokio::time::timeout(
        WAIT,
        mailer.send_login_alert("alice@example.com", "Alice", &info()),
    )
    .await
    .expect("the deadline must stop the send");
    assert!(
        matches!(result, Err(MailError::Timeout { .. })),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn bad_urls_and_senders_are_clear_errors() {
    let message = |url: &str| {
        Mailer::from_url(url, FROM)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(message("mail.example.com:25").contains("invalid SMTP URL"));
    assert!(message("imap://mail.example.com").contains("imap"));
    let leaked = message("smtp://bob:hunter2@mail.example.com?tls=sometimes");
    assert!(
        leaked.contains("bob:***@mail.example.com") && !leaked.contains("hunter2"),
        "{leaked}"
    );
    assert!(matches!(
        Mailer::from_url("smtp://127.0.0.1:25", "no at sign"),
        Err(MailError::BadFrom { .. })
    ));
}
