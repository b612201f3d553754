//! `--demo`: two accounts, and a sample event every few seconds.

use std::time::Duration;

use herald_proto::api::{Role, User};
use herald_proto::{EventType, Severity};
use tokio::sync::watch;

use crate::error::ServerError;
use crate::sample::sample;
use crate::server::Server;
use crate::state::AppState;
use crate::store::event::{Audience, NewEvent};
use crate::token::random_token;

pub const ALICE: &str = "alice@example.com";
pub const ADMIN: &str = "admin@example.com";

/// A demo account and, when it was just made, its password.
#[derive(Clone)]
pub struct DemoAccount {
    pub email: &'static str,
    pub role: Role,
    /// `None` when the account already existed: its password was shown when
    /// it was made and is not stored anywhere in plaintext.
    pub password: Option<String>,
}

impl std::fmt::Debug for DemoAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoAccount")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish()
    }
}

/// Makes the demo accounts that do not exist yet, with random passwords.
pub async fn ensure_accounts(server: &Server) -> Result<Vec<DemoAccount>, ServerError> {
    let mut accounts = Vec::new();
    for (email, name, role) in [(ALICE, "Alice", Role::User), (ADMIN, "Admin", Role::Admin)] {
        let password = if server.has_user(email).await? {
            None
        } else {
            let password = random_token(12);
            server.add_user(email, name, role, &password).await?;
            Some(password)
        };
        accounts.push(DemoAccount {
            email,
            role,
            password,
        });
    }
    Ok(accounts)
}

/// Sends a sample event every `every` until `stop` turns true.
pub async fn tick(state: AppState, every: Duration, mut stop: watch::Receiver<bool>) {
    let users = match state.db.find_user_by_email(ALICE).await {
        Ok(alice) => state
            .db
            .find_user_by_email(ADMIN)
            .await
            .map(|admin| (alice, admin)),
        Err(e) => Err(e),
    };
    let Ok((Some(alice), admin)) = users else {
        tracing::warn!("demo: no alice@example.com account; no sample events");
        return;
    };
    let admin: Option<User> = admin.map(|r| r.user);
    let rotation = [
        EventType::OrderUpdate,
        EventType::NewOrder,
        EventType::PaymentUpdate,
        EventType::OrderUpdate,
        EventType::Notification,
        EventType::Announcement,
    ];
    let mut interval = tokio::time::interval(every);
    interval.tick().await;
    for n in 0u64.. {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let kind = rotation[(n % rotation.len() as u64) as usize];
        let audience = match kind {
            EventType::NewOrder if admin.is_some() => Audience::Admins,
            EventType::Announcement => Audience::All,
            _ => Audience::User(alice.user.id),
        };
        let (title, message, data) = sample(kind, n);
        let event = NewEvent {
            audience,
            kind: kind.as_str().to_owned(),
            title,
            message,
            url: None,
            severity: Some(Severity::default_for(kind)),
            data,
        };
        match state.hub.publish(event).await {
            Ok(e) => tracing::info!(id = e.id, kind = %e.kind, "demo event sent"),
            Err(e) => tracing::warn!(error = %e, "demo event not sent"),
        }
    }
}
