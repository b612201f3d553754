//! Signing in and out, and keeping the access token fresh.
//!
//! Tokens go from the login answer straight into the [`SecretStore`]; only
//! the server URL and the account email are written to the settings file.

use std::sync::Arc;
use std::time::Duration;

use crate::api::{Api, ApiError, Session};
use crate::auth::{refresh_delay, token_expiry, token_issued_at};
use crate::config::{ConfigError, Paths, Settings};
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

/// Signs in, stores the tokens in the keyring, then the server and account
/// in the settings. Nothing is saved unless the keyring took the tokens.
pub async fn sign_in(
    paths: &Paths,
    store: Arc<dyn SecretStore>,
    server: &str,
    email: &str,
    password: &str,
) -> Result<Session, SessionError> {
    let api = Api::new(server)?;
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
    let mut settings = Settings::load(paths)?;
    settings.server = Some(api.origin());
    settings.account = Some(email.to_owned());
    settings.login_id = session.login_id.clone();
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
    let api = Api::new(server)?;
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
