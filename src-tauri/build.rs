//! Tauri's build step. The config sits at the repository root (beside
//! `ui/` and `icons/`), so it is named here.
//!
//! Listing the window's commands makes Tauri generate one permission per
//! command (`allow-<name>`); `capabilities/main.json` then grants the page
//! exactly those, and no command is reachable without one. The list is
//! `commands.rs`, the same one the crate builds its handler from.

include!("commands.rs");

fn main() {
    println!("cargo:rerun-if-changed=commands.rs");
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {e:#}");
    }
}
