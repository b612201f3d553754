//! How Herald reaches one server: the TLS trust (the platform's store, plus
//! the account's own CA), the proxy, the one HTTP client, and the socket's
//! tunnel through the proxy ([`tunnel`]).
//!
//! Each native-tls connector parses the platform's CA bundle (3.8 MB of
//! heap, about 0.5 G instructions), and reqwest and tokio-tungstenite each
//! built their own: one per client, and one per `wss://` connect. A [`Net`]
//! builds one connector on first use and hands the same one to REST (reqwest,
//! as a preconfigured connector) and to the socket (rust_socketio's
//! `tls_config`, or the tunnel's TLS through a proxy); its reqwest client is
//! built once too, and cloned. One `Net` serves one server, so the
//! account's CA is trusted for that server only; a process keeps its last
//! one, so the sign-in's is the engine's.

pub mod cert;
pub mod proxy;
pub mod tunnel;

use std::sync::{Arc, Mutex, OnceLock};

use url::Url;

pub use cert::{CertError, CertProblem};
pub use tunnel::{Tunnel, TunnelError};

/// How long any one REST request may take.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Why a connector or client cannot be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    #[error("the CA certificate is not a PEM certificate: {0}")]
    BadCa(String),
    #[error("the proxy {0:?} is not a URL such as http://proxy.example:3128")]
    BadProxy(String),
    #[error("TLS cannot be set up on this machine: {0}")]
    Tls(String),
    #[error("the socket's way through the proxy cannot be opened: {0}")]
    Tunnel(String),
}

/// What a [`Net`] is made from: the account's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetOptions {
    /// A CA (PEM text) trusted for this server, beside the platform's store.
    pub ca_pem: Option<String>,
    /// The proxy set in `config.toml`; else the environment's.
    pub proxy: Option<String>,
}

/// The connector and the HTTP client of one server, each built on first use.
#[derive(Debug)]
pub struct Net {
    origin: Url,
    options: NetOptions,
    tls: OnceLock<Result<native_tls::TlsConnector, NetError>>,
    http: OnceLock<Result<reqwest::Client, NetError>>,
    /// The socket's way through the proxy: opened when a connect needs it,
    /// and opened anew when the proxy changed or its runtime ended.
    tunnel: Mutex<Option<Tunnel>>,
}

/// Checks that `pem` holds a certificate, before anything is stored.
pub fn check_ca(pem: &str) -> Result<(), NetError> {
    native_tls::Certificate::from_pem(pem.as_bytes())
        .map(|_| ())
        .map_err(|e| NetError::BadCa(e.to_string()))
}

/// The last `Net` made in this process: a sign-in and the engine that
/// follows it (the agent, `herald listen`) reach the same server with the
/// same options, and share it instead of parsing the trust store again.
static LAST: Mutex<Option<Arc<Net>>> = Mutex::new(None);

impl Net {
    /// The `Net` for `origin` with `options`: the process's last one when it
    /// is for the same, else a new one (which replaces it).
    pub fn new(origin: Url, options: NetOptions) -> Arc<Net> {
        Net::shared(&LAST, origin, options)
    }

    fn shared(cache: &Mutex<Option<Arc<Net>>>, origin: Url, options: NetOptions) -> Arc<Net> {
        let mut last = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(net) = last
            .as_ref()
            .filter(|n| n.origin == origin && n.options == options)
        {
            return net.clone();
        }
        let net = Arc::new(Net {
            origin,
            options,
            tls: OnceLock::new(),
            http: OnceLock::new(),
            tunnel: Mutex::new(None),
        });
        *last = Some(net.clone());
        net
    }

    /// The one TLS connector: the platform's trust store, and the CA.
    pub fn tls(&self) -> Result<native_tls::TlsConnector, NetError> {
        self.tls
            .get_or_init(|| {
                let mut builder = native_tls::TlsConnector::builder();
                if let Some(pem) = &self.options.ca_pem {
                    let ca = native_tls::Certificate::from_pem(pem.as_bytes())
                        .map_err(|e| NetError::BadCa(e.to_string()))?;
                    builder.add_root_certificate(ca);
                }
                builder.build().map_err(|e| NetError::Tls(e.to_string()))
            })
            .clone()
    }

    /// The proxy this server is reached through, if any ([`proxy::select`]).
    pub fn proxy(&self) -> Result<Option<Url>, NetError> {
        proxy::select(&self.origin, self.options.proxy.as_deref(), |name| {
            std::env::var(name).ok()
        })
    }

    /// Where the socket connects: the server itself, or, when a proxy
    /// applies, this process's loopback tunnel to it through that proxy
    /// ([`tunnel`]). The tunnel is opened (on the current Tokio runtime) by
    /// the first connect that needs it, kept while it serves the proxy that
    /// applies, and replaced when it does not; with no proxy it is closed.
    pub fn socket_url(&self) -> Result<String, NetError> {
        let mut tunnel = self
            .tunnel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(proxy) = self.proxy()? else {
            *tunnel = None;
            return Ok(self.origin.to_string());
        };
        let port = match tunnel.as_ref() {
            Some(open) if open.serves(&proxy) => open.addr().port(),
            _ => {
                let tls = match self.origin.scheme() {
                    "https" => Some(self.tls()?),
                    _ => None,
                };
                let opened = Tunnel::start(&self.origin, proxy, tls)?;
                let port = opened.addr().port();
                *tunnel = Some(opened);
                port
            }
        };
        // The server's path and query stay; only where it is dialled changes.
        let mut url = self.origin.clone();
        let moved = url.set_scheme("http").is_ok()
            && url.set_host(Some("127.0.0.1")).is_ok()
            && url.set_port(Some(port)).is_ok();
        if !moved {
            return Err(NetError::Tunnel(format!(
                "{} cannot be moved to loopback",
                self.origin
            )));
        }
        Ok(url.to_string())
    }

    /// Why the socket's last connection through the proxy failed, once.
    pub fn take_tunnel_failure(&self) -> Option<Arc<TunnelError>> {
        self.tunnel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()?
            .take_failure()
    }

    /// The one HTTP client (a clone shares its connections).
    pub fn http(&self) -> Result<reqwest::Client, NetError> {
        self.http
            .get_or_init(|| {
                let mut builder = reqwest::Client::builder()
                    .timeout(REQUEST_TIMEOUT)
                    .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
                    .use_preconfigured_tls(self.tls()?);
                // The proxy is chosen here, by one rule for REST and the
                // socket, not by reqwest's own reading of the environment.
                builder = match self.proxy()? {
                    Some(url) => builder.proxy(
                        reqwest::Proxy::all(url.as_str())
                            .map_err(|_| NetError::BadProxy(url.to_string()))?,
                    ),
                    None => builder.no_proxy(),
                };
                builder.build().map_err(|e| NetError::Tls(e.to_string()))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_same_server_and_options_share_one_net_and_others_do_not() {
        // A cache of its own: tests running beside this one make theirs.
        let cache = Mutex::new(None);
        let a = Net::shared(&cache, origin("https://a.example"), NetOptions::default());
        let again = Net::shared(&cache, origin("https://a.example"), NetOptions::default());
        assert!(Arc::ptr_eq(&a, &again));
        let with_ca = NetOptions {
            ca_pem: Some("x".into()),
            proxy: None,
        };
        let other = Net::shared(&cache, origin("https://a.example"), with_ca);
        assert!(!Arc::ptr_eq(&a, &other), "another CA is another trust");
        let elsewhere = Net::shared(&cache, origin("https://b.example"), NetOptions::default());
        assert!(!Arc::ptr_eq(&a, &elsewhere), "another server");
    }

    #[test]
    fn the_tunnel_is_kept_while_it_serves_and_opened_anew_when_its_runtime_ends() {
        let cache = Mutex::new(None);
        let through = NetOptions {
            ca_pem: None,
            proxy: Some("http://127.0.0.1:9".into()),
        };
        // No NO_PROXY can name this server, so the configured proxy applies.
        let net = Net::shared(&cache, origin("http://herald.invalid:8080/base/"), through);
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let first = runtime();
        let (url, again) = first.block_on(async {
            let url = net.socket_url().unwrap_or_else(|e| panic!("{e}"));
            (url, net.socket_url().unwrap_or_else(|e| panic!("{e}")))
        });
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/base/"),
            "{url}"
        );
        assert_eq!(url, again, "one tunnel while it serves");
        // Its runtime ends, and with it the accept loop: a new one is opened.
        drop(first);
        let second = runtime();
        let fresh = second.block_on(async {
            let fresh = net.socket_url().unwrap_or_else(|e| panic!("{e}"));
            let addr = fresh
                .trim_start_matches("http://")
                .trim_end_matches("/base/")
                .to_owned();
            let connected = tokio::net::TcpStream::connect(addr).await;
            assert!(connected.is_ok(), "the new tunnel accepts: {connected:?}");
            fresh
        });
        assert_ne!(url, fresh, "a tunnel whose runtime ended is replaced");
    }
}
