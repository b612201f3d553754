//! The state every part of the shell shares, kept in Tauri's state.

use std::sync::Arc;

use herald_core::controller::Controller;

use crate::Launch;
use crate::tray::Tray;

pub struct Shell {
    pub controller: Arc<Controller>,
    pub launch: Launch,
    /// `None` until set up, and when the tray could not be made.
    pub tray: std::sync::Mutex<Option<Tray>>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("launch", &self.launch)
            .finish_non_exhaustive()
    }
}

impl Shell {
    /// Runs `f` on the tray, if there is one.
    pub fn with_tray(&self, f: impl FnOnce(&mut Tray)) {
        if let Some(tray) = self.tray.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            f(tray);
        }
    }
}
