//! What the user asks of a running engine: read state, deletes, settings and
//! the self-test. Anything that waits on the network runs in its own task, so
//! a slow server never holds up incoming events.

use super::on_inbox;
use super::worker::Worker;
use super::{Command, InboxUpdate};
use crate::inbox::Inbox;

impl Worker {
    pub(super) async fn handle_command(&mut self, command: Command) {
        match command {
            Command::Shutdown => {}
            Command::MarkRead { ids, read } => self.mark_read(ids, read).await,
            Command::MarkAllRead => self.mark_all_read().await,
            Command::Delete { ids } => self.delete(ids).await,
            Command::Notifications { desktop, policy } => {
                self.settings.desktop_notifications = desktop;
                self.settings.notifications = policy.clone();
                self.policy.set_config(policy);
            }
            Command::SelfTest(reply) => {
                let (api, token) = (self.api.clone(), self.tokens.access.clone());
                tokio::spawn(async move {
                    let _ = reply.send(api.self_test(&token).await);
                });
            }
        }
    }

    async fn mark_all_read(&mut self) {
        let Some(items) = on_inbox(&self.inbox, "cannot mark all read", Inbox::mark_all_read).await
        else {
            return;
        };
        if items.is_empty() {
            return;
        }
        let server_ids: Vec<u64> = items.iter().filter_map(|i| i.server_id).collect();
        let ids = items.iter().map(|i| i.id).collect();
        self.update(|s| s.unread = 0);
        let _ = self.updates.send(InboxUpdate::Read { ids, read: true });
        self.sync_read(server_ids, true);
    }

    async fn delete(&mut self, ids: Vec<i64>) {
        let local = ids.clone();
        let Some(unread) = on_inbox(&self.inbox, "cannot delete", move |inbox| {
            inbox.delete(&local)?;
            inbox.unread_count()
        })
        .await
        else {
            return;
        };
        self.update(|s| s.unread = unread);
        let _ = self.updates.send(InboxUpdate::Deleted { ids });
    }

    /// Marks items read locally, then tells the server (when it can listen).
    pub(super) async fn mark_read(&mut self, ids: Vec<i64>, read: bool) {
        let local = ids.clone();
        let Some((server_ids, unread)) = on_inbox(&self.inbox, "cannot mark read", move |inbox| {
            inbox.set_read(&local, read)?;
            let server_ids: Vec<u64> = local
                .iter()
                .filter_map(|id| inbox.get(*id).ok().flatten())
                .filter_map(|i| i.server_id)
                .collect();
            Ok((server_ids, inbox.unread_count()?))
        })
        .await
        else {
            return;
        };
        self.update(|s| s.unread = unread);
        let _ = self.updates.send(InboxUpdate::Read { ids, read });
        self.sync_read(server_ids, read);
    }

    /// Tells the server, in the background: read state is a convenience
    /// across devices, and a seed server has no endpoint for it at all.
    fn sync_read(&self, server_ids: Vec<u64>, read: bool) {
        if server_ids.is_empty() {
            return;
        }
        let (api, token) = (self.api.clone(), self.tokens.access.clone());
        tokio::spawn(async move {
            if let Err(e) = api.mark_read(&token, &server_ids, read).await {
                tracing::debug!(error = %e, "read state not synced to the server");
            }
        });
    }
}
