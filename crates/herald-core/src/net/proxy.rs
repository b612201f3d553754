//! Which proxy reaches a server: the one in `config.toml` (`proxy = "…"`),
//! else `HTTPS_PROXY` (for https://) or `HTTP_PROXY` (for http://), each in
//! upper or lower case, unless `NO_PROXY` names the host.
//!
//! One rule for REST and the socket, so both take the same path.

use url::Url;

use super::NetError;

/// The proxy for `target`, given the configured one and the environment
/// (`env` looks a variable up; tests pass their own).
pub fn select(
    target: &Url,
    configured: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Url>, NetError> {
    let var = |upper: &str| {
        env(upper)
            .or_else(|| env(&upper.to_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    if var("NO_PROXY").is_some_and(|list| bypassed(target, &list)) {
        return Ok(None);
    }
    let chosen = match configured.filter(|c| !c.trim().is_empty()) {
        Some(c) => Some(c.to_owned()),
        None if target.scheme() == "https" => var("HTTPS_PROXY"),
        None => var("HTTP_PROXY"),
    };
    chosen.map(|p| parse(&p)).transpose()
}

/// `host:port` or `http://host:port`; only http:// proxies (CONNECT).
fn parse(proxy: &str) -> Result<Url, NetError> {
    let text = proxy.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    match Url::parse(&with_scheme) {
        Ok(url) if url.scheme() == "http" && url.host_str().is_some() => Ok(url),
        _ => Err(NetError::BadProxy(proxy.to_owned())),
    }
}

/// Whether `NO_PROXY` (comma-separated: `*`, names matching themselves and
/// their subdomains, a leading dot or `*.` allowed, addresses, each with an
/// optional `:port`) covers `target`.
pub fn bypassed(target: &Url, no_proxy: &str) -> bool {
    let Some(host) = target.host_str() else {
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_lowercase();
    let port = target.port_or_known_default();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let (name, entry_port) = split_port(entry);
        if entry_port.is_some() && entry_port != port {
            return false;
        }
        let name = name
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_lowercase();
        !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
    })
}

/// `host:port` → (host, port); a bare IPv6 address has no port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((addr, port)) = rest.split_once("]:")
    {
        return (addr, port.parse().ok());
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn chosen(target: &str, configured: Option<&str>, vars: &[(&str, &str)]) -> Option<String> {
        select(&url(target), configured, env(vars))
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|u| u.to_string())
    }

    #[test]
    fn the_scheme_picks_the_variable_in_either_case() {
        let vars = [("HTTPS_PROXY", "http://s:1"), ("http_proxy", "p:2")];
        assert_eq!(
            chosen("https://a.example", None, &vars).as_deref(),
            Some("http://s:1/")
        );
        assert_eq!(
            chosen("http://a.example", None, &vars).as_deref(),
            Some("http://p:2/")
        );
        assert_eq!(chosen("https://a.example", None, &[]), None);
    }

    #[test]
    fn the_configured_proxy_wins_but_no_proxy_still_bypasses() {
        let vars = [
            ("HTTPS_PROXY", "http://env:1"),
            ("no_proxy", "intra.example"),
        ];
        let configured = Some("http://cfg:3128");
        assert_eq!(
            chosen("https://a.example", configured, &vars).as_deref(),
            Some("http://cfg:3128/")
        );
        assert_eq!(chosen("https://hub.intra.example", configured, &vars), None);
    }

    #[test]
    fn no_proxy_matches_names_subdomains_addresses_and_ports() {
        let list = "localhost, .corp.example, *.lab.example, 10.0.0.7, [::1], other.example:8443";
        assert!(bypassed(&url("http://localhost:3000"), list));
        assert!(bypassed(&url("https://hub.corp.example"), list));
        assert!(bypassed(&url("https://corp.example"), list));
        assert!(bypassed(&url("https://a.lab.example"), list));
        assert!(bypassed(&url("https://10.0.0.7:9"), list));
        assert!(bypassed(&url("http://[::1]:3000"), list));
        assert!(bypassed(&url("https://other.example:8443"), list));
        assert!(
            !bypassed(&url("https://other.example"), list),
            "another port"
        );
        assert!(
            !bypassed(&url("https://notcorp.example"), list),
            "a suffix is not a subdomain"
        );
        assert!(!bypassed(&url("https://10.0.0.70"), list));
        assert!(bypassed(&url("https://anything.example"), "*"));
        assert!(!bypassed(&url("https://anything.example"), ""));
    }

    #[test]
    fn a_bad_proxy_is_an_error_not_a_direct_connection() {
        let bad = select(&url("https://a.example"), Some("socks5://x:1"), env(&[]));
        assert!(matches!(bad, Err(NetError::BadProxy(_))));
    }
}
