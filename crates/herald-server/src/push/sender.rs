//! Posting encrypted pushes to push services.

use std::sync::Arc;
use std::time::Duration;

use herald_proto::api::PushSubscription;

use super::guard::{EndpointGuard, refusal_in};
use super::{PushError, TTL_SECONDS, Vapid, encrypt, parse_endpoint};

/// How long a push service has to take a message: 10 s.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Delivered,
    /// The push service no longer knows the subscription (404 or 410): the
    /// caller should delete it.
    Gone,
}

/// Sends encrypted pushes, signed with the server's VAPID key, to the
/// addresses its [`EndpointGuard`] allows.
#[derive(Clone)]
pub struct PushSender {
    client: reqwest::Client,
    guard: EndpointGuard,
    vapid: Arc<Vapid>,
    subject: String,
}

impl std::fmt::Debug for PushSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSender")
            .field("vapid", &self.vapid)
            .field("subject", &self.subject)
            .field("guard", &self.guard)
            .finish()
    }
}

impl PushSender {
    /// A sender to public addresses only, found by the system resolver.
    /// `subject` is the VAPID `sub` claim, a `mailto:` or `https:` URL a push
    /// service operator can use to reach the sender.
    pub fn new(vapid: Arc<Vapid>, subject: impl Into<String>) -> Result<PushSender, PushError> {
        PushSender::with_guard(vapid, subject, EndpointGuard::default())
    }

    /// A sender whose destinations `guard` resolves and vets. Fails only
    /// when the HTTP client cannot be built (no TLS backend): better than a
    /// client without the guard's resolver.
    pub fn with_guard(
        vapid: Arc<Vapid>,
        subject: impl Into<String>,
        guard: EndpointGuard,
    ) -> Result<PushSender, PushError> {
        let subject = subject.into();
        if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
            // Apple's push service refuses such tokens; the others accept them.
            tracing::warn!(%subject, "the VAPID subject should be a mailto: or https: URL");
        }
        let client = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            // Endpoints come from browsers, i.e. from users: do not let a
            // redirect take the request somewhere the endpoint check never saw.
            .redirect(reqwest::redirect::Policy::none())
            // The guard's resolver answers with vetted addresses only, and
            // the client connects to nothing else.
            .dns_resolver(guard.client_resolver())
            // Through a proxy, the proxy would resolve the endpoint and the
            // guard would only ever see the proxy's name.
            .no_proxy()
            .build()
            .map_err(PushError::Http)?;
        Ok(PushSender {
            client,
            guard,
            vapid,
            subject,
        })
    }

    /// Encrypts `payload` for `sub` and posts it to the subscription's push service.
    pub async fn send(
        &self,
        sub: &PushSubscription,
        payload: &[u8],
    ) -> Result<SendOutcome, PushError> {
        let url = parse_endpoint(&sub.endpoint)?;
        // A host written as an address never reaches the client's resolver.
        self.guard.check_literal(&url)?;
        let body = encrypt(payload, sub)?;
        let authorization = self.vapid.authorization_for(&url, &self.subject)?;
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header("TTL", TTL_SECONDS.to_string())
            .header("Urgency", "high")
            .header(reqwest::header::AUTHORIZATION, authorization)
            .body(body)
            .send()
            .await
            .map_err(|e| match refusal_in(&e) {
                Some(refused) => PushError::Destination(refused),
                // The endpoint is a capability for the user's browser: keep it out of logs.
                None => PushError::Http(e.without_url()),
            })?;
        let status = response.status();
        match status.as_u16() {
            _ if status.is_success() => Ok(SendOutcome::Delivered),
            404 | 410 => Ok(SendOutcome::Gone),
            code => Err(PushError::Refused {
                status: code,
                body: error_text(response).await,
            }),
        }
    }
}

/// The start of a refusal's body: push services explain themselves there
/// (e.g. FCM's "the key in the authorization header does not correspond…").
async fn error_text(mut response: reqwest::Response) -> String {
    const LIMIT: usize = 300;
    let mut bytes = Vec::new();
    while bytes.len() < LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(LIMIT)
        .collect();
    text.trim().to_string()
}
