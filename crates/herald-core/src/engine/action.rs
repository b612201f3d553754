//! What a click on a notification does.

use super::InboxUpdate;
use super::worker::Worker;
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
        // Sent after the read update: the item must not carry its old state.
        let mut item = item;
        item.read = true;
        let _ = self.updates.send(InboxUpdate::Open {
            item: Box::new(item),
            url,
        });
    }
}
