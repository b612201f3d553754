//! What a click on a notification does.

use super::InboxUpdate;
use super::worker::Worker;
use crate::inbox::InboxError;
use crate::notify::{ACTION_THIS_WAS_ME, ActionInvoked};

impl Worker {
    pub(super) async fn handle_action(&mut self, action: ActionInvoked) {
        let Some(id) = action.item_id else {
            return;
        };
        let inbox = self.inbox.clone();
        let item = tokio::task::spawn_blocking(move || {
            inbox.lock().unwrap_or_else(|e| e.into_inner()).get(id)
        })
        .await;
        let Ok(Ok(Some(item))) = item else { return };
        if action.action == ACTION_THIS_WAS_ME {
            self.mark_read(vec![item.id], true).await;
            return;
        }
        let url = item
            .url
            .as_deref()
            .and_then(|u| crate::notify::render::safe_action_url(u, &self.api.origin()))
            .map(|u| u.to_string());
        self.mark_read(vec![item.id], true).await;
        let _ = self.updates.send(InboxUpdate::Open {
            item: Box::new(item),
            url,
        });
    }

    /// Marks items read locally, then tells the server (when it can listen).
    pub(super) async fn mark_read(&mut self, ids: Vec<i64>, read: bool) {
        let inbox = self.inbox.clone();
        let local = ids.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
            inbox.set_read(&local, read)?;
            let server_ids: Vec<u64> = local
                .iter()
                .filter_map(|id| inbox.get(*id).ok().flatten())
                .filter_map(|i| i.server_id)
                .collect();
            Ok::<_, InboxError>((server_ids, inbox.unread_count()?))
        })
        .await;
        let Ok(Ok((server_ids, unread))) = result else {
            return;
        };
        self.update(|s| s.unread = unread);
        let _ = self.updates.send(InboxUpdate::Read { ids, read });
        if !server_ids.is_empty()
            && let Err(e) = self
                .api
                .mark_read(&self.tokens.access, &server_ids, read)
                .await
        {
            tracing::debug!(error = %e, "read state not synced to the server");
        }
    }
}
