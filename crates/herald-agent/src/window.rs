//! Starting the window: the `herald-desktop` process beside this one.
//!
//! The window is single-instance, so starting it while one is open only
//! brings that one to the front (and, with `--open ID`, to the item). It is
//! started detached: its own process group, so a signal aimed at the agent's
//! terminal does not close it, and it exits by itself when its window closes.

/// The window program's name, installed beside the agent.
pub const PROGRAM: &str = "herald-desktop";

/// Shows the window; at the history item `item` when there is one.
pub fn open(item: Option<i64>) {
    let program = herald_ipc::sibling(PROGRAM);
    let id = item.map(|id| id.to_string());
    let args: Vec<&str> = match &id {
        Some(id) => vec!["--open", id],
        None => Vec::new(),
    };
    match herald_ipc::start_detached(&program, &args) {
        Ok(()) => tracing::info!(program = %program.display(), ?item, "started the window"),
        Err(e) => tracing::error!(
            program = %program.display(),
            error = %e,
            "cannot start the window"
        ),
    }
}
