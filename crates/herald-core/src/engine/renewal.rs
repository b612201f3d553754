//! Keeping the access token fresh, and ending a session that cannot be.

use std::time::Duration;

use super::worker::Worker;
use crate::api::ApiError;
use crate::link::LinkCommand;
use crate::session::{blocking, next_refresh};
use crate::status::{ConnectionState, SignOutReason};

impl Worker {
    pub(super) fn refresh_deadline(&self) -> tokio::time::Instant {
        let delay = next_refresh(&self.tokens).unwrap_or(Duration::from_secs(365 * 24 * 3600));
        tokio::time::Instant::now() + delay
    }

    /// Renews the access token; on refusal the session is over.
    pub(super) async fn refresh(&mut self) {
        let Some(refresh) = self.tokens.refresh.clone() else {
            // A seed server: no refresh token. Once the token has expired,
            // the user must sign in again.
            let expired = crate::auth::token_expiry(&self.tokens.access)
                .is_some_and(|t| t <= chrono::Utc::now());
            if expired
                || matches!(
                    self.status.borrow().state,
                    ConnectionState::AuthFailed { .. }
                )
            {
                self.end_session(SignOutReason::SessionExpired).await;
            }
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
            }
            Err(ApiError::SessionExpired | ApiError::Unsupported(_)) => {
                self.end_session(SignOutReason::SessionExpired).await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew the token now; retrying later"),
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
        });
        let _ = self.token_tx.send(None);
        self.link.send(LinkCommand::Shutdown);
    }
}
