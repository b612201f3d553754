//! The window's commands are named in several places that the compiler does
//! not connect: the agent's call table, the capability, the page and the
//! contract document. These tests hold them to the one list of
//! `commands.rs`, from which `build.rs` makes the permissions and
//! `app.rs` the handler, so adding, renaming or dropping a command anywhere
//! but everywhere fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::commands::{COMMANDS, LOCAL};

/// The commands only this process knows (not calls of the agent).
const WINDOW_ONLY: &[&str] = &["start_agent"];

/// What the page may do besides its commands.
const CORE_PERMISSIONS: &[&str] = &[
    "core:event:allow-listen",
    "core:event:allow-unlisten",
    "core:window:allow-close",
];

fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    names.into_iter().map(str::to_owned).collect()
}

fn repo_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every string literal that follows `marker` in `text`: `call("name"` → name.
fn quoted_after(text: &str, marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let tail = rest.trim_start();
        let Some(quote) = tail
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\'' | '`'))
        else {
            continue;
        };
        if let Some(end) = tail[1..].find(quote) {
            found.push(tail[1..=end].to_owned());
        }
    }
    found
}

#[test]
fn the_list_is_the_agents_window_calls_and_the_windows_own() {
    let listed = set(COMMANDS.iter().copied());
    assert_eq!(listed.len(), COMMANDS.len(), "a command is listed twice");
    let mut expected = set(herald_ipc::wire::window_commands());
    expected.extend(set(WINDOW_ONLY.iter().copied()));
    assert_eq!(listed, expected);
    for local in LOCAL {
        assert!(COMMANDS.contains(local), "{local}");
    }
}

#[test]
fn the_capability_grants_exactly_the_commands() {
    let capability: serde_json::Value =
        serde_json::from_str(&repo_file("capabilities/main.json")).expect("main.json is JSON");
    assert_eq!(
        capability["windows"],
        serde_json::json!([crate::window::LABEL])
    );
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .expect("a permissions list")
        .iter()
        .map(|p| p.as_str().expect("plain permission names"))
        .collect();
    assert_eq!(
        set(granted.iter().copied()).len(),
        granted.len(),
        "granted twice"
    );
    let mut expected: BTreeSet<String> = COMMANDS
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .collect();
    expected.extend(set(CORE_PERMISSIONS.iter().copied()));
    assert_eq!(set(granted), expected);
}

#[test]
fn the_page_invokes_only_listed_commands_and_only_from_api_js() {
    let api = repo_file("../ui/js/api.js");
    let called = set(quoted_after(&api, "call(").iter().map(String::as_str));
    // The one invoke passes `command` through: no literal may bypass `call`.
    assert!(
        quoted_after(&api, "invoke(").is_empty(),
        "invoke with a literal name"
    );
    assert_eq!(called, set(COMMANDS.iter().copied()));

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/js");
    for entry in std::fs::read_dir(&dir).expect("ui/js") {
        let path = entry.expect("an entry").path();
        if path.file_name().is_some_and(|n| n == "api.js") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a module");
        assert!(
            !text.contains("__TAURI__") && !text.contains("invoke("),
            "{} touches Tauri; only api.js may",
            path.display()
        );
    }
}

#[test]
fn the_contract_document_lists_each_command() {
    let doc = repo_file("../docs/ui-contract.md");
    let section = doc
        .split("\n## Commands")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Commands section");
    let documented = set(section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next()));
    assert_eq!(documented, set(COMMANDS.iter().copied()));
}

#[test]
fn quoted_names_are_found() {
    assert_eq!(
        quoted_after(
            r#"a: () => call("status"), b: (x) => call( 'item', {x}), c: call(command)"#,
            "call("
        ),
        vec!["status".to_owned(), "item".to_owned()]
    );
}

/// The bundle identifier is the app id the notifiers and the LaunchAgent
/// use: a Windows toast under another id is shown as another app's, or not
/// at all.
#[test]
fn the_bundle_identifier_is_the_cores_app_id() {
    let config: serde_json::Value =
        serde_json::from_str(&repo_file("../tauri.conf.json")).expect("tauri.conf.json is JSON");
    assert_eq!(config["identifier"], herald_core::APP_ID);
}
