//! Tauri's build step. The config sits at the repository root (beside
//! `ui/` and `icons/`), so it is named here.
//!
//! Listing the app's commands makes Tauri generate one permission per
//! command (`allow-<name>`); `capabilities/main.json` then grants the page
//! exactly the ones it uses, and no command is reachable without one.
const COMMANDS: &[&str] = &[
    "status",
    "sign_in",
    "sign_out",
    "history",
    "item",
    "mark_read",
    "mark_all_read",
    "delete_items",
    "open_link",
    "settings",
    "save_settings",
    "pause",
    "reconnect_now",
    "doctor",
    "send_test",
    "defaults",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {e:#}");
    }
}
