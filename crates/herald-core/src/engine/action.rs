//! What a click on a notification does.

use super::worker::Worker;
use super::{InboxUpdate, on_inbox};
use crate::notify::{ACTION_THIS_WAS_ME, ActionInvoked};

impl Worker {
    pub(super) async fn handle_action(&mut self, action: ActionInvoked) {
        let Some(id) = action.item_id else {
            return;
        };
        let Some(Some(item)) =
            on_inbox(&self.inbox, "cannot read the clicked item", move |inbox| {
                inbox.get(id)
            })
            .await
        else {
            return;
        };
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
