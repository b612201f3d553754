//! Which addresses a push may reach.
//!
//! Push endpoints come from browsers, that is from users, so without a check
//! a user could make the server POST to its own loopback services, to the
//! cloud metadata address or to anything else on its private network. An
//! endpoint is checked when it is saved (so the user gets a clear refusal)
//! and again on every send, through the HTTP client's own resolver: the
//! addresses vetted are the only ones it may connect to, so DNS cannot hand
//! out a public address to the check and a private one to the connection.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What [`PushResolver::lookup`] returns.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a push endpoint's host name into addresses. The server uses
/// [`SystemResolver`]; tests put in their own to play DNS.
pub trait PushResolver: Send + Sync {
    fn lookup(&self, host: String) -> Lookup;
}

/// The operating system's resolver, through `tokio::net::lookup_host`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl PushResolver for SystemResolver {
    fn lookup(&self, host: String) -> Lookup {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

/// Why an endpoint's host may not be pushed to.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EndpointRefused {
    #[error(
        "the push endpoint's host {host} is {addr}, which is not a public address (loopback, private, link-local and other special ranges are refused)"
    )]
    NotPublic { host: String, addr: IpAddr },
    #[error("cannot resolve the push endpoint's host {host}: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// The check every push endpoint passes, and the resolver that enforces it
/// at connect time. Cheap to clone.
#[derive(Clone)]
pub struct EndpointGuard {
    resolver: Arc<dyn PushResolver>,
    /// The operator's opt-in for a push gateway on an internal network:
    /// every address is then allowed.
    allow_private: bool,
}

impl std::fmt::Debug for EndpointGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointGuard")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Default for EndpointGuard {
    /// The system resolver, public addresses only.
    fn default() -> EndpointGuard {
        EndpointGuard::new(Arc::new(SystemResolver), false)
    }
}

impl EndpointGuard {
    pub fn new(resolver: Arc<dyn PushResolver>, allow_private: bool) -> EndpointGuard {
        EndpointGuard {
            resolver,
            allow_private,
        }
    }

    /// Resolves `url`'s host and refuses it unless every address is public.
    pub async fn check(&self, url: &Url) -> Result<(), EndpointRefused> {
        match (literal(url), url.host_str()) {
            (None, Some(name)) => self.resolve(name).await.map(drop),
            _ => self.check_literal(url),
        }
    }

    /// Checks a host written as an IP address. The HTTP client connects to
    /// such a host without asking its resolver, so [`PushSender`] calls
    /// this before every send.
    ///
    /// [`PushSender`]: crate::push::PushSender
    pub fn check_literal(&self, url: &Url) -> Result<(), EndpointRefused> {
        match literal(url) {
            Some(addr) => self.vet(url.host_str().unwrap_or_default(), addr),
            None => Ok(()),
        }
    }

    /// `host`'s addresses, all of them public (unless private ones are allowed).
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, EndpointRefused> {
        let unresolvable = |reason: String| EndpointRefused::Unresolvable {
            host: host.to_owned(),
            reason,
        };
        let addrs = self
            .resolver
            .lookup(host.to_owned())
            .await
            .map_err(|e| unresolvable(e.to_string()))?;
        if addrs.is_empty() {
            return Err(unresolvable("no address".into()));
        }
        // One bad address refuses the name: the client may try any of them.
        for addr in &addrs {
            self.vet(host, *addr)?;
        }
        Ok(addrs)
    }

    fn vet(&self, host: &str, addr: IpAddr) -> Result<(), EndpointRefused> {
        if self.allow_private || is_public(addr) {
            Ok(())
        } else {
            Err(EndpointRefused::NotPublic {
                host: host.to_owned(),
                addr,
            })
        }
    }

    /// This guard as the HTTP client's resolver.
    pub fn client_resolver(&self) -> Arc<PinnedResolver> {
        Arc::new(PinnedResolver(self.clone()))
    }
}

/// The host of `url` when it is an IP address. The URL parser has already
/// turned forms like `127.1` or `0x7f000001` into dotted quads, and IPv6
/// hosts come in brackets.
fn literal(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// The push client's resolver: it answers only with vetted addresses, so the
/// connection goes where the check looked.
#[derive(Debug)]
pub struct PinnedResolver(EndpointGuard);

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard.resolve(&host).await?;
            // Port 0: the client puts in the URL's port or the scheme's.
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The refusal inside a failed request, if the guard caused the failure.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<EndpointRefused> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<EndpointRefused>() {
            return Some(refused.clone());
        }
        current = e.source();
    }
    None
}

/// Whether `ip` is an ordinary address on the internet: not loopback,
/// private, link-local, shared (CGNAT), documentation, benchmarking,
/// multicast, broadcast, reserved or unspecified, nor an IPv6 form of one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0 included
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_loopback() // 127/8
        || ip.is_link_local() // 169.254/16, the cloud metadata address included
        || (a == 100 && (64..128).contains(&b)) // 100.64/10, carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24, IETF protocol assignments
        || ip.is_documentation() // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || (a == 198 && (b == 18 || b == 19)) // 198.18/15, benchmarking
        || ip.is_multicast() // 224/4
        || a >= 240) // 240/4 reserved, 255.255.255.255 included
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Forms that carry an IPv4 address are as public as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // 64:ff9b::/96, NAT64 (RFC 6052).
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 2002::/16, 6to4: the IPv4 address follows the prefix.
        return is_public_v4(embedded(s[1], s[2]));
    }
    // Only global unicast (2000::/3) reaches the internet; that leaves out
    // ::1, ::, IPv4-compatible ::/96, fc00::/7, fe80::/10, ff00::/8 and more.
    (s[0] & 0xe000) == 0x2000
        // 2001::/23, IETF protocol assignments (Teredo's 2001::/32 included).
        && !(s[0] == 0x2001 && s[1] < 0x200)
        // 2001:db8::/32 and 3fff::/20, documentation.
        && !(s[0] == 0x2001 && s[1] == 0xdb8)
        && (s[0] & 0xfff0) != 0x3ff0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    #[test]
    fn special_ranges_are_not_public() {
        for addr in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2001:1ff::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(!is_public(ip(addr)), "{addr} must not count as public");
        }
    }

    #[test]
    fn internet_addresses_are_public() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "142.250.185.78",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "100.63.255.255",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2a00:1450:4001::200e",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(addr)), "{addr} should be public");
        }
    }

    /// Answers every name with `addrs`, or fails when there are none.
    struct FixedDns(Vec<IpAddr>);

    impl PushResolver for FixedDns {
        fn lookup(&self, host: String) -> Lookup {
            let addrs = self.0.clone();
            Box::pin(async move {
                if addrs.is_empty() {
                    Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no {host}"),
                    ))
                } else {
                    Ok(addrs)
                }
            })
        }
    }

    fn guard(addrs: &[&str], allow_private: bool) -> EndpointGuard {
        let addrs = addrs.iter().map(|a| ip(a)).collect();
        EndpointGuard::new(Arc::new(FixedDns(addrs)), allow_private)
    }

    async fn check(guard: &EndpointGuard, endpoint: &str) -> Result<(), EndpointRefused> {
        match Url::parse(endpoint) {
            Ok(url) => guard.check(&url).await,
            Err(e) => Err(EndpointRefused::Unresolvable {
                host: endpoint.into(),
                reason: e.to_string(),
            }),
        }
    }

    #[tokio::test]
    async fn address_hosts_are_checked_in_every_spelling_without_dns() {
        // DNS would say "public" for anything: it must not be asked.
        let guard = guard(&["8.8.8.8"], false);
        for endpoint in [
            "http://127.0.0.1:9000/internal",
            "http://127.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://10.0.0.5/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fe80::1]/",
        ] {
            assert!(
                matches!(
                    check(&guard, endpoint).await,
                    Err(EndpointRefused::NotPublic { .. })
                ),
                "{endpoint}"
            );
        }
        assert!(check(&guard, "https://142.250.185.78/push").await.is_ok());
        assert!(
            check(&guard, "https://[2001:4860:4860::8888]/push")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_name_is_refused_if_any_of_its_addresses_is_private() {
        let mixed = guard(&["8.8.8.8", "10.0.0.1"], false);
        assert!(matches!(
            check(&mixed, "https://push.example.net/x").await,
            Err(EndpointRefused::NotPublic { addr, .. }) if addr == ip("10.0.0.1")
        ));
        let public = guard(&["8.8.8.8", "2606:4700::1111"], false);
        assert!(check(&public, "https://push.example.net/x").await.is_ok());
        let nothing = guard(&[], false);
        assert!(matches!(
            check(&nothing, "https://push.example.net/x").await,
            Err(EndpointRefused::Unresolvable { .. })
        ));
    }

    #[tokio::test]
    async fn the_opt_in_allows_private_addresses() {
        let internal = guard(&["10.0.0.1"], true);
        assert!(check(&internal, "https://push.internal/x").await.is_ok());
        assert!(check(&internal, "http://127.0.0.1:9000/x").await.is_ok());
    }
}
