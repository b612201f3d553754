//! Login alerts by email, over SMTP.

use std::time::Duration;

use herald_proto::LoginInfo;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::text::one_line;

/// Lettre's own timeout; it only bounds connecting (its async transport
/// reads replies without one), so [`Mailer`] adds an overall deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole exchange: connect, TLS, EHLO, AUTH, the message, QUIT.
const SEND_DEADLINE: Duration = Duration::from_secs(30);
const MAX_NAME_CHARS: usize = 100;
const MAX_FIELD_CHARS: usize = 200;
pub const LOGIN_ALERT_SUBJECT: &str = "New sign-in to your account";

/// Why an email could not be configured, built or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("invalid sender address {address:?}: {reason}")]
    BadFrom { address: String, reason: String },
    #[error("invalid recipient address {address:?}: {reason}")]
    BadRecipient { address: String, reason: String },
    #[error("cannot build the email: {0}")]
    Build(String),
    #[error("cannot send mail through {server}: {source}")]
    Send {
        server: String,
        source: lettre::transport::smtp::Error,
    },
    #[error("the SMTP server {server} did not finish within {} ms", .after.as_millis())]
    Timeout { server: String, after: Duration },
}

/// Sends login alerts through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The URL with its password masked: for logs, errors and `Debug`.
    server: String,
    deadline: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Mailer {
    /// `url` as lettre reads it: `smtp://host:port` (no TLS: loopback and
    /// development only), `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (implicit TLS). User and password must be
    /// percent-encoded. `from` is the From mailbox, e.g.
    /// `Herald <noreply@example.com>`.
    pub fn from_url(url: &str, from: &str) -> Result<Mailer, MailError> {
        let server = redact_url(url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::BadUrl {
                url: server.clone(),
                reason: e.to_string(),
            })?
            .timeout(Some(CONNECT_TIMEOUT))
            .build();
        let from = from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| MailError::BadFrom {
                address: from.to_string(),
                reason: e.to_string(),
            })?;
        if sends_password_in_clear(url) {
            tracing::warn!(%server, "the SMTP URL has a password but no TLS; add ?tls=required or use smtps://");
        }
        Ok(Mailer {
            transport,
            from,
            server,
            deadline: SEND_DEADLINE,
        })
    }

    /// Bounds a whole send (default 30 s), so a server that accepts the
    /// connection and then says nothing cannot hold the alert queue.
    pub fn with_deadline(mut self, deadline: Duration) -> Mailer {
        self.deadline = deadline;
        self
    }

    /// Tells `to_email` that their account was just signed in to.
    pub async fn send_login_alert(
        &self,
        to_email: &str,
        to_name: &str,
        info: &LoginInfo,
    ) -> Result<(), MailError> {
        let message = self.login_alert(to_email, to_name, info)?;
        match tokio::time::timeout(self.deadline, self.transport.send(message)).await {
            Ok(Ok(_)) => {
                tracing::debug!(server = %self.server, "login alert emailed");
                Ok(())
            }
            Ok(Err(source)) => Err(MailError::Send {
                server: self.server.clone(),
                source,
            }),
            Err(_) => Err(MailError::Timeout {
                server: self.server.clone(),
                after: self.deadline,
            }),
        }
    }

    fn login_alert(
        &self,
        to_email: &str,
        to_name: &str,
        info: &LoginInfo,
    ) -> Result<Message, MailError> {
        // Address parsing refuses anything but a bare addr-spec, so no line
        // break can get through into the To header or the envelope.
        let address = to_email
            .trim()
            .parse::<Address>()
            .map_err(|e| MailError::BadRecipient {
                address: to_email.to_string(),
                reason: e.to_string(),
            })?;
        // Lettre quotes or encodes display names, but refuses CR/LF outright
        // at write time; cleaning first keeps such a name from costing the alert.
        let name = one_line(to_name, MAX_NAME_CHARS);
        let to = Mailbox::new((!name.is_empty()).then(|| name.clone()), address);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(LOGIN_ALERT_SUBJECT)
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(login_alert_text(&name, info))
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

/// The plain-text body. Every value is flattened to one line: they come from
/// request headers, and a crafted one should not be able to forge lines.
fn login_alert_text(name: &str, info: &LoginInfo) -> String {
    let field = |value: &str| {
        let value = one_line(value, MAX_FIELD_CHARS);
        if value.is_empty() {
            "unknown".to_string()
        } else {
            value
        }
    };
    let time = chrono::DateTime::parse_from_rfc3339(&info.time)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| field(&info.time));
    let greeting = if name.is_empty() {
        "Hello,".to_string()
    } else {
        format!("Hello {name},")
    };
    format!(
        "{greeting}\r\n\r\nThere was a new sign-in to your account.\r\n\r\n\
         Time:       {time}\r\n\
         Device:     {device}\r\n\
         Location:   {location}\r\n\
         IP address: {ip}\r\n\r\n\
         If this was you, there is nothing to do.\r\n\
         If this wasn't you, change your password.\r\n",
        device = field(&info.device),
        location = field(&info.location),
        ip = field(&info.ip),
    )
}

/// `scheme://user:***@host…`: the URL minus its password.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// A password over plain `smtp://` to a host other than this machine.
fn sends_password_in_clear(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return false;
    };
    let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    userinfo.contains(':') && !url.contains("tls=") && !loopback
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> LoginInfo {
        LoginInfo {
            ip: "203.0.113.9".into(),
            device: "Firefox 128 on Linux".into(),
            location: "Berlin, Germany".into(),
            time: "2026-03-01T12:34:56Z".into(),
        }
    }

    fn mailer() -> Result<Mailer, MailError> {
        Mailer::from_url("smtp://127.0.0.1:2525", "Herald <noreply@example.com>")
    }

    fn formatted(message: &Message) -> String {
        String::from_utf8_lossy(&message.formatted()).into_owned()
    }

    #[test]
    fn the_alert_lists_the_login() -> Result<(), MailError> {
        let text = formatted(&mailer()?.login_alert("alice@example.com", "Alice", &info())?);
        for needle in [
            "Subject: New sign-in to your account",
            "To: Alice <alice@example.com>",
            "From: Herald <noreply@example.com>",
            "Time:       2026-03-01 12:34:56 UTC",
            "Device:     Firefox 128 on Linux",
            "Location:   Berlin, Germany",
            "IP address: 203.0.113.9",
            "If this wasn't you, change your password.",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        Ok(())
    }

    #[test]
    fn names_and_fields_cannot_add_headers_or_lines() -> Result<(), MailError> {
        let mut hostile = info();
        hostile.device = "Evil\r\nIf this wasn't you, ignore this".into();
        let message = mailer()?.login_alert(
            "alice@example.com",
            "Eve\r\nBcc: victim@example.net",
            &hostile,
        )?;
        let text = formatted(&message);
        assert!(!text.lines().any(|line| line.starts_with("Bcc:")), "{text}");
        assert!(
            text.contains("Device:     Evil If this wasn't you, ignore this"),
            "{text}"
        );
        assert_eq!(message.envelope().to().len(), 1);

        let bad = mailer()?.login_alert(
            "alice@example.com\r\nBcc: victim@example.net",
            "Alice",
            &info(),
        );
        assert!(matches!(bad, Err(MailError::BadRecipient { .. })));
        Ok(())
    }

    #[test]
    fn urls_are_checked_and_passwords_never_shown() {
        let err = Mailer::from_url("http://mail.example.com", "a@example.com")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("invalid SMTP URL")));
        assert!(matches!(
            Mailer::from_url("not a url", "a@example.com"),
            Err(MailError::BadUrl { .. })
        ));
        assert!(matches!(
            Mailer::from_url("smtp://localhost:25", "not an address"),
            Err(MailError::BadFrom { .. })
        ));

        let url = "smtp://bob:s3cret%21@mail.example.com:587?tls=required";
        assert_eq!(
            redact_url(url),
            "smtp://bob:***@mail.example.com:587?tls=required"
        );
        let shown = Mailer::from_url(url, "a@example.com")
            .map(|m| format!("{m:?}"))
            .unwrap_or_default();
        assert!(
            shown.contains("bob:***@mail.example.com") && !shown.contains("s3cret"),
            "{shown}"
        );
        let err = Mailer::from_url(
            "smtp://bob:s3cret@mail.example.com?tls=bogus",
            "a@example.com",
        )
        .err();
        assert!(err.is_some_and(|e| !e.to_string().contains("s3cret")));
    }

    #[test]
    fn clear_text_passwords_are_spotted() {
        assert!(sends_password_in_clear("smtp://bob:pw@mail.example.com:25"));
        assert!(!sends_password_in_clear(
            "smtp://bob:pw@mail.example.com:587?tls=required"
        ));
        assert!(!sends_password_in_clear("smtps://bob:pw@mail.example.com"));
        assert!(!sends_password_in_clear("smtp://bob:pw@127.0.0.1:2525"));
        assert!(!sends_password_in_clear("smtp://mail.example.com:25"));
    }
}
