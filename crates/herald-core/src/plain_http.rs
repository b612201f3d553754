//! Whether a server URL would carry secrets unencrypted, and the user's
//! explicit consent to it.
//!
//! Signing in sends the password, and every later request and the socket's
//! handshake send a token. Over `http://` to another machine anyone on the
//! path can read them and hijack the account, so Herald refuses plain HTTP
//! unless the host is this machine (a loopback address or `localhost`, where
//! the bytes never leave it), or the user said `--insecure-http` (the
//! "Allow plain http://" box in the window) for that very server. The consent
//! is saved with the account ([`crate::config::Settings::insecure_http`]) and
//! checked again before each use of the stored tokens, so pointing Herald at
//! another plain-HTTP server later needs consent again.

use std::net::IpAddr;

use url::{Host, Url};

/// The command-line flag that gives the consent.
pub const FLAG: &str = "--insecure-http";

/// Whether traffic to `url`'s host stays on this machine: `localhost` (and
/// `*.localhost`, which RFC 6761 reserves for it) or a loopback address.
/// Judged by the name as written, never by resolving it: a name that happens
/// to resolve to 127.0.0.1 today may not tomorrow.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Whether secrets sent to `url` would cross a network unencrypted.
pub fn exposes_secrets(url: &Url) -> bool {
    url.scheme() == "http" && !is_loopback(url)
}

/// The refusal's sentence for the user, naming both ways to consent.
pub fn refusal(origin: &str) -> String {
    format!(
        "{origin} is plain http:// to another machine, so your password and tokens \
         would cross the network unencrypted. Use https://, or allow plain http:// \
         (herald login {FLAG}, or the box in the sign-in form)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn only_this_machine_may_be_reached_over_plain_http() {
        for local in [
            "http://localhost:3000",
            "http://LOCALHOST.:3000",
            "http://api.localhost",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:8080",
        ] {
            assert!(!exposes_secrets(&url(local)), "{local}");
        }
        for remote in [
            "http://example.com",
            "http://localhost.example.com",
            "http://mylocalhost",
            "http://192.168.1.10:3000",
            "http://10.0.0.1",
            "http://0.0.0.0:3000",
            "http://[::ffff:127.0.0.1]",
            "http://[fe80::1]",
        ] {
            assert!(exposes_secrets(&url(remote)), "{remote}");
        }
        // TLS is fine anywhere.
        assert!(!exposes_secrets(&url("https://example.com")));
    }

    #[test]
    fn the_refusal_names_the_server_and_the_way_out() {
        let text = refusal("http://example.com");
        assert!(text.starts_with("http://example.com is plain http://"));
        assert!(text.contains(FLAG) && text.contains("https://"), "{text}");
    }
}
