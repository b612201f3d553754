//! The smallest Tauri 2 app: one window with an empty page. herald-bench
//! measures it beside herald-desktop, as the floor any Tauri app stands on.
fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("tauri-peer: {e}");
        std::process::exit(1);
    }
}
