//! Keeping the access token fresh, and ending a session that cannot be.

use std::time::Duration;

use super::worker::Worker;
use crate::api::ApiError;
use crate::auth::token_expiry;
use crate::link::LinkCommand;
use crate::session::{blocking, next_refresh};

/// How soon to try again after a renewal failed for a passing reason.
const RETRY: Duration = Duration::from_secs(30);
/// "Never", for a token that cannot expire or a session that has ended.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);
use crate::status::{ConnectionState, SignOutReason};

impl Worker {
    /// Sets when to act on the token next: at 80% of its life; without a
    /// refresh token (the seed's servers), just after it expires, to tell the
    /// user; after a failed attempt, in [`RETRY`], not every second while
    /// offline. Every path that changes the token comes through here.
    pub(super) fn schedule_refresh(&mut self, failed: bool) {
        let delay = if failed {
            Some(RETRY)
        } else if self.tokens.refresh.is_some() {
            next_refresh(&self.tokens)
        } else {
            token_expiry(&self.tokens.access).map(|expiry| {
                (expiry - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    + Duration::from_secs(1)
            })
        };
        self.refresh_at = tokio::time::Instant::now() + delay.unwrap_or(NEVER);
    }

    /// Renews the access token; on refusal the session is over.
    pub(super) async fn refresh(&mut self) {
        let Some(refresh) = self.tokens.refresh.clone() else {
            // A seed server: no refresh token. Once the token has expired,
            // the user must sign in again.
            let expired =
                token_expiry(&self.tokens.access).is_some_and(|t| t <= chrono::Utc::now());
            if expired
                || matches!(
                    self.status.borrow().state,
                    ConnectionState::AuthFailed { .. }
                )
            {
                self.end_session(SignOutReason::SessionExpired).await;
            }
            self.schedule_refresh(false);
            return;
        };
        match self.api.refresh(&refresh).await {
            Ok(session) => {
                let (store, key, tokens) =
                    (self.store.clone(), self.key.clone(), session.tokens.clone());
                if let Err(e) = blocking(move || store.save(&key, &tokens)).await {
                    tracing::error!(error = %e, "cannot store the renewed token");
                    self.update(|s| s.warn(format!("the renewed token could not be stored: {e}")));
                }
                self.tokens = session.tokens;
                let _ = self.token_tx.send(Some(self.tokens.access.clone()));
                tracing::info!("access token renewed");
                self.schedule_refresh(false);
            }
            Err(ApiError::SessionExpired | ApiError::Unsupported(_)) => {
                self.end_session(SignOutReason::SessionExpired).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the token now; retrying later");
                self.schedule_refresh(true);
            }
        }
    }

    pub(super) async fn end_session(&mut self, reason: SignOutReason) {
        tracing::warn!(?reason, "signed out");
        // The dead tokens go first, so whoever sees "signed out" finds none.
        let (store, key) = (self.store.clone(), self.key.clone());
        if let Err(e) = blocking(move || store.delete(&key)).await {
            tracing::warn!(error = %e, "cannot delete the dead token from the keyring");
        }
        self.update(|s| {
            s.state = ConnectionState::SignedOut { reason };
            s.connected_since = None;
            s.next_retry_at = None;
            s.cause = None;
        });
        let _ = self.token_tx.send(None);
        self.link.send(LinkCommand::Shutdown);
        // Nothing left to renew.
        self.refresh_at = tokio::time::Instant::now() + NEVER;
    }
}
