//! Signing in and out, and keeping the access token fresh.
//!
//! Tokens go from the login answer straight into the [`SecretStore`]; only
//! the server URL and the account email are written to the settings file.

use std::sync::Arc;
use std::time::Duration;

use crate::api::{Api, ApiError, Session};
use crate::auth::{refresh_delay, token_expiry, token_issued_at};
use crate::config::{ConfigError, Paths, Settings};
use crate::plain_http::exposes_secrets;
use crate::secret::{SecretError, SecretKey, SecretStore, Tokens};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("not signed in: run `herald login` first")]
    NotSignedIn,
    /// The server is plain `http://` to another machine and the user has not
    /// allowed that for it ([`crate::plain_http`]).
    #[error("{}", crate::plain_http::refusal(.server))]
    InsecureHttp { server: String },
}

/// Whether the user lets Herald send secrets to a server without TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `https://`, or `http://` to this machine only.
    #[default]
    Secure,
    /// Plain `http://` to any host too: the user said `--insecure-http`.
    AllowPlainHttp,
}

impl Transport {
    /// From the user's `--insecure-http` (the sign-in form's box).
    pub fn allowing_plain_http(allowed: bool) -> Transport {
        if allowed {
            Transport::AllowPlainHttp
        } else {
            Transport::Secure
        }
    }
}

/// Refuses `api`'s server when it is plain HTTP to another machine, unless
/// `allowed` is its origin (the consent saved at sign-in).
fn check_transport(api: &Api, allowed: Option<&str>) -> Result<(), SessionError> {
    let origin = api.origin();
    if exposes_secrets(api.origin_url()) && allowed != Some(origin.as_str()) {
        return Err(SessionError::InsecureHttp { server: origin });
    }
    Ok(())
}

/// The keyring entry of `account` on `server`.
pub fn secret_key(api: &Api, account: &str) -> SecretKey {
    SecretKey {
        server: api.origin(),
        account: account.to_owned(),
    }
}

/// Runs a blocking keyring call off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, SecretError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SecretError::Other(e.to_string()))?
}

/// Signs in, stores the tokens in the keyring, then the server, the account
/// and `ca_pem` (a CA trusted for this server, PEM text) in the settings.
/// Nothing is saved unless the sign-in succeeded and the keyring took the
/// tokens, and nothing is sent to a plain-HTTP server on another machine
/// unless `transport` allows it.
pub async fn sign_in(
    paths: &Paths,
    store: Arc<dyn SecretStore>,
    server: &str,
    email: &str,
    password: &str,
    transport: Transport,
    ca_pem: Option<String>,
) -> Result<Session, SessionError> {
    if let Some(pem) = &ca_pem {
        crate::net::check_ca(pem).map_err(ApiError::from)?;
    }
    let mut settings = Settings::load(paths)?;
    let options = crate::net::NetOptions {
        ca_pem: ca_pem.clone(),
        proxy: settings.proxy.clone(),
    };
    let api = Api::with_options(server, options)?;
    let consent = api.origin();
    let insecure = exposes_secrets(api.origin_url());
    if transport == Transport::Secure {
        check_transport(&api, None)?;
    } else if insecure {
        tracing::warn!(server = %consent, "signing in over plain http:// as the user allowed");
    }
    let session = api.login(email, password).await?;
    let key = secret_key(&api, email);
    let tokens = session.tokens.clone();
    if let Err(e) = blocking(move || store.save(&key, &tokens)).await {
        // Nowhere to keep the tokens: do not leave a live session behind.
        if let Err(logout) = api.logout(&session.tokens).await {
            tracing::warn!(error = %logout, "the unusable session could not be revoked");
        }
        return Err(e.into());
    }
    settings.server = Some(api.origin());
    settings.ca_pem = ca_pem;
    settings.account = Some(email.to_owned());
    settings.login_id = session.login_id.clone();
    settings.insecure_http = insecure.then_some(consent);
    settings.save(paths)?;
    tracing::info!(server = %api.origin(), "signed in");
    Ok(session)
}

/// The stored tokens of the configured account.
pub async fn stored_tokens(
    settings: &Settings,
    store: Arc<dyn SecretStore>,
) -> Result<(Api, SecretKey, Tokens), SessionError> {
    let (Some(server), Some(account)) = (&settings.server, &settings.account) else {
        return Err(SessionError::NotSignedIn);
    };
    let api = Api::with_options(server, settings.net_options())?;
    check_transport(&api, settings.insecure_http.as_deref())?;
    let key = secret_key(&api, account);
    let lookup = key.clone();
    let tokens = blocking(move || store.load(&lookup))
        .await?
        .ok_or(SessionError::NotSignedIn)?;
    Ok((api, key, tokens))
}

/// Revokes the session on the server (best effort), deletes the tokens from
/// the keyring and forgets the account.
pub async fn sign_out(paths: &Paths, store: Arc<dyn SecretStore>) -> Result<(), SessionError> {
    let mut settings = Settings::load(paths)?;
    match stored_tokens(&settings, store.clone()).await {
        Ok((api, key, tokens)) => {
            if let Err(e) = api.logout(&tokens).await {
                tracing::warn!(error = %e, "the server did not confirm the sign-out");
            }
            blocking(move || store.delete(&key)).await?;
        }
        Err(SessionError::NotSignedIn) => {}
        Err(e) => return Err(e),
    }
    settings.account = None;
    settings.login_id = None;
    settings.ca_pem = None;
    settings.save(paths)?;
    Ok(())
}

/// When the current access token should be renewed, if it can expire. Its
/// life counts from its `iat` claim (after a restart we do not know when it
/// arrived), else from now.
pub fn next_refresh(tokens: &Tokens) -> Option<Duration> {
    let expires = token_expiry(&tokens.access)?;
    let now = chrono::Utc::now();
    let obtained = token_issued_at(&tokens.access).unwrap_or(now);
    Some(refresh_delay(obtained, expires, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::MemoryStore;

    fn temp_paths() -> Paths {
        let dir = std::env::temp_dir().join(format!(
            "herald-session-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        Paths {
            config_dir: dir.join("config"),
            data_dir: dir.join("data"),
        }
    }

    #[tokio::test]
    async fn plain_http_to_another_machine_is_refused_before_anything_is_sent() {
        let paths = temp_paths();
        let store = Arc::new(MemoryStore::new());
        // `.invalid` never resolves: had sign-in tried the network, this
        // would be an "unreachable" error, not the refusal.
        let refused = sign_in(
            &paths,
            store.clone(),
            "http://herald.invalid:3000",
            "alice@example.com",
            "pw",
            Transport::Secure,
            None,
        )
        .await;
        match refused {
            Err(SessionError::InsecureHttp { server }) => {
                assert_eq!(server, "http://herald.invalid:3000");
            }
            other => panic!("not refused: {other:?}"),
        }
        assert!(!paths.settings_file().exists(), "nothing saved");

        // Allowed, the same sign-in does try the network (and fails there).
        let tried = sign_in(
            &paths,
            store,
            "http://herald.invalid:3000",
            "alice@example.com",
            "pw",
            Transport::AllowPlainHttp,
            None,
        )
        .await;
        assert!(
            matches!(tried, Err(SessionError::Api(ApiError::Unreachable { .. }))),
            "{tried:?}"
        );
    }

    #[tokio::test]
    async fn stored_tokens_go_only_to_the_plain_http_server_the_user_allowed() {
        let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
        let signed_in = |server: &str, allowed: Option<&str>| Settings {
            server: Some(server.into()),
            account: Some("alice@example.com".into()),
            insecure_http: allowed.map(str::to_owned),
            ..Settings::default()
        };
        let remote = "http://herald.example.com:3000";
        for allowed in [None, Some("http://herald.example.com:3001")] {
            let refused = stored_tokens(&signed_in(remote, allowed), store.clone()).await;
            assert!(
                matches!(refused, Err(SessionError::InsecureHttp { .. })),
                "{allowed:?}: {refused:?}"
            );
        }
        // The allowed server, this machine, and TLS get as far as the
        // keyring (empty here).
        for (server, allowed) in [
            (remote, Some(remote)),
            ("http://127.0.0.1:3000", None),
            ("https://herald.example.com", None),
        ] {
            let looked_up = stored_tokens(&signed_in(server, allowed), store.clone()).await;
            assert!(
                matches!(looked_up, Err(SessionError::NotSignedIn)),
                "{server}: {looked_up:?}"
            );
        }
    }
}
