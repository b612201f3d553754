//! Where a login came from: a readable device from the `User-Agent`, and a
//! coarse location from the client address and an optional MaxMind database.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use herald_proto::LoginInfo;
use maxminddb::geoip2;

use crate::text::one_line;

const UNKNOWN_DEVICE: &str = "Unknown device";
const UNKNOWN_LOCATION: &str = "Unknown location";
const LOCAL_NETWORK: &str = "Local network";
/// Longest device description; it ends up in emails and notifications.
const MAX_DEVICE_CHARS: usize = 80;
/// Real user agents stay well under this; the cap bounds the parser's work
/// on a hostile header.
const MAX_USER_AGENT_BYTES: usize = 1024;

/// Why a GeoIP database could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the GeoIP database {path}: {reason}")]
pub struct GeoIpError {
    pub path: String,
    pub reason: String,
}

/// A MaxMind (GeoLite2/GeoIP2 City or Country) database, read into memory.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
    path: String,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("path", &self.path)
            .field("database_type", &self.reader.metadata.database_type)
            .finish()
    }
}

impl GeoIp {
    pub fn open(path: &Path) -> Result<GeoIp, GeoIpError> {
        let shown = path.display().to_string();
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| GeoIpError {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let kind = &reader.metadata.database_type;
        if !(kind.contains("City") || kind.contains("Country")) {
            // An ASN or ISP database opens fine but never names a place.
            tracing::warn!(path = %shown, database_type = %kind, "the GeoIP database has no city or country data");
        }
        Ok(GeoIp {
            reader,
            path: shown,
        })
    }

    /// "City, Country", "Country", or `None` when the database knows nothing.
    fn place(&self, ip: IpAddr) -> Option<String> {
        match self.reader.lookup::<geoip2::City>(ip) {
            Ok(record) => record.as_ref().and_then(format_place),
            Err(e) => {
                tracing::debug!(error = %e, %ip, "GeoIP lookup failed");
                None
            }
        }
    }
}

fn format_place(record: &geoip2::City<'_>) -> Option<String> {
    let english = |names: Option<&std::collections::BTreeMap<&str, &str>>| {
        names
            .and_then(|n| n.get("en"))
            .map(|name| one_line(name, MAX_DEVICE_CHARS))
            .filter(|name| !name.is_empty())
    };
    let city = record.city.as_ref().and_then(|c| english(c.names.as_ref()));
    // The registered country stands in when the database has no location for
    // the address itself (common for anycast and mobile ranges).
    let country = record
        .country
        .as_ref()
        .and_then(|c| english(c.names.as_ref()))
        .or_else(|| {
            record
                .registered_country
                .as_ref()
                .and_then(|c| english(c.names.as_ref()))
        });
    match (city, country) {
        (Some(city), Some(country)) => Some(format!("{city}, {country}")),
        (None, Some(country)) => Some(country),
        (Some(city), None) => Some(city),
        (None, None) => None,
    }
}

/// A short description of the browser and system, e.g. "Firefox 128 on Linux".
pub fn describe_device(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent
        .map(|ua| truncate(ua.trim(), MAX_USER_AGENT_BYTES))
        .filter(|ua| !ua.is_empty())
    else {
        return UNKNOWN_DEVICE.to_string();
    };
    let known = |value: &str| !value.is_empty() && value != woothee::woothee::VALUE_UNKNOWN;
    let parsed = woothee::parser::Parser::new()
        .parse(agent)
        .filter(|p| known(p.name));
    // Only browsers read well as "name version on system"; for HTTP libraries
    // woothee puts the library in `version` ("HTTP Library" / "curl").
    if let Some(parsed) = parsed.filter(|p| {
        matches!(
            p.category,
            "pc" | "smartphone" | "mobilephone" | "appliance" | "crawler"
        )
    }) {
        let mut text = parsed.name.to_string();
        // The major version is what a person recognises; "128.0.1" is noise.
        if let Some(major) = parsed.version.split('.').next().filter(|v| known(v)) {
            text.push(' ');
            text.push_str(major);
        }
        if known(parsed.os) {
            text.push_str(" on ");
            text.push_str(parsed.os);
        }
        return one_line(&text, MAX_DEVICE_CHARS);
    }
    // Not a browser woothee knows (a CLI, a script): its first product token
    // still says more than nothing, e.g. "curl/8.5.0".
    let product = agent.split_whitespace().next().unwrap_or_default();
    let product = one_line(product, MAX_DEVICE_CHARS);
    if product.is_empty() {
        UNKNOWN_DEVICE.to_string()
    } else {
        product
    }
}

/// Where `ip` is: "Local network" for addresses that never cross the
/// internet, the GeoIP place when known, else "Unknown location".
pub fn locate(ip: IpAddr, geo: Option<&GeoIp>) -> String {
    let ip = canonical(ip);
    if is_local(ip) {
        return LOCAL_NETWORK.to_string();
    }
    geo.and_then(|geo| geo.place(ip))
        .unwrap_or_else(|| UNKNOWN_LOCATION.to_string())
}

/// Everything a login alert says about a login.
pub fn login_info(
    ip: IpAddr,
    user_agent: Option<&str>,
    geo: Option<&GeoIp>,
    time: DateTime<Utc>,
) -> LoginInfo {
    LoginInfo {
        ip: canonical(ip).to_string(),
        device: describe_device(user_agent),
        location: locate(ip, geo),
        time: time.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`; treat them
/// as the IPv4 addresses they are, for display and for the range checks.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_local_v4(v4),
        IpAddr::V6(v6) => is_local_v6(v6),
    }
}

fn is_local_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        // 100.64.0.0/10, carrier-grade NAT (RFC 6598).
        || (a == 100 && (64..128).contains(&b))
}

fn is_local_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7, unique local (RFC 4193).
        || (first & 0xfe00) == 0xfc00
        // fe80::/10, link-local.
        || (first & 0xffc0) == 0xfe80
}

fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const EDGE_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::BROADCAST))
    }

    #[test]
    fn browsers_are_named_with_their_system() {
        assert_eq!(describe_device(Some(FIREFOX_LINUX)), "Firefox 128 on Linux");
        assert_eq!(
            describe_device(Some(CHROME_ANDROID)),
            "Chrome 126 on Android"
        );
        assert_eq!(describe_device(Some(SAFARI_IPHONE)), "Safari 17 on iPhone");
        assert_eq!(
            describe_device(Some(EDGE_WINDOWS)),
            "Edge 126 on Windows 10"
        );
    }

    #[test]
    fn other_agents_fall_back_to_their_product_token() {
        assert_eq!(describe_device(Some("curl/8.5.0")), "curl/8.5.0");
        assert_eq!(
            describe_device(Some("python-requests/2.32.3")),
            "python-requests/2.32.3"
        );
        assert_eq!(
            describe_device(Some("  herald-cli/0.1 (linux)  ")),
            "herald-cli/0.1"
        );
        assert_eq!(describe_device(Some("evil\r\nBcc: x@example.com")), "evil");
        assert_eq!(
            describe_device(Some("bell\u{7}\u{1b}[2J/1.0 x")),
            "bell [2J/1.0"
        );
        let long = "x".repeat(300);
        assert_eq!(
            describe_device(Some(&long)).chars().count(),
            MAX_DEVICE_CHARS
        );
        assert_eq!(describe_device(None), UNKNOWN_DEVICE);
        assert_eq!(describe_device(Some(" \t ")), UNKNOWN_DEVICE);
        assert_eq!(describe_device(Some("\u{7}\u{1b}")), UNKNOWN_DEVICE);
    }

    #[test]
    fn private_and_special_ranges_are_the_local_network() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.10",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "::1",
            "::",
            "fd12:3456::1",
            "fc00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert_eq!(locate(ip(local), None), LOCAL_NETWORK, "{local}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(locate(ip(public), None), UNKNOWN_LOCATION, "{public}");
        }
    }

    #[test]
    fn places_read_as_city_and_country() -> Result<(), serde_json::Error> {
        let full: geoip2::City = serde_json::from_str(
            r#"{"city":{"names":{"en":"Berlin","de":"Berlin"}},"country":{"names":{"en":"Germany","de":"Deutschland"}}}"#,
        )?;
        assert_eq!(format_place(&full).as_deref(), Some("Berlin, Germany"));
        let country: geoip2::City =
            serde_json::from_str(r#"{"registered_country":{"names":{"en":"Japan"}}}"#)?;
        assert_eq!(format_place(&country).as_deref(), Some("Japan"));
        let foreign: geoip2::City = serde_json::from_str(r#"{"city":{"names":{"de":"Wien"}}}"#)?;
        assert_eq!(format_place(&foreign), None);
        Ok(())
    }

    #[test]
    fn login_info_combines_everything() {
        let time = DateTime::parse_from_rfc3339("2026-03-01T12:34:56.789Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let info = login_info(ip("::ffff:203.0.113.9"), Some(FIREFOX_LINUX), None, time);
        assert_eq!(info.ip, "203.0.113.9");
        assert_eq!(info.device, "Firefox 128 on Linux");
        assert_eq!(info.location, UNKNOWN_LOCATION);
        assert_eq!(info.time, "2026-03-01T12:34:56Z");
    }

    #[test]
    fn missing_or_garbage_databases_are_errors() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!("herald-geoip-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let missing = dir.join("missing.mmdb");
        let err = GeoIp::open(&missing)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("missing.mmdb"), "{err}");
        let garbage = dir.join("garbage.mmdb");
        std::fs::write(&garbage, b"this is not a MaxMind database")?;
        let err = GeoIp::open(&garbage)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("garbage.mmdb"), "{err}");
        std::fs::remove_dir_all(&dir)
    }
}
