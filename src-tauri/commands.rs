// The window's commands: the one list that `build.rs` (a permission per
// command), the crate (the handlers and `generate_handler!`) and the contract
// test read. A name is spelt once, here; a command missing from any of them
// cannot compile or fails `contract.rs`.
//
// This file is `include!`d, so it holds only items and no `//!` docs.

/// Calls `$then!` with the window's commands: first those forwarded to the
/// agent as they are, then those this process answers itself (`status` and
/// `defaults` add to the agent's answer; `start_agent` is the window's own).
#[allow(unused_macros)]
macro_rules! window_commands {
    ($then:ident) => {
        $then! {
            forwarded: sign_in, sign_out, history, item, mark_read, mark_all_read,
                delete_items, open_link, settings, save_settings, pause, reconnect_now,
                doctor, send_test;
            local: status, defaults, start_agent;
        }
    };
}

#[allow(unused_macros)]
macro_rules! command_names {
    (forwarded: $($f:ident),* ; local: $($l:ident),* ;) => {
        /// Every command the page may invoke, forwarded ones first.
        #[allow(dead_code)]
        pub const COMMANDS: &[&str] = &[$(stringify!($f),)* $(stringify!($l),)*];
        /// The commands this process answers without (only) forwarding them.
        #[allow(dead_code)]
        pub const LOCAL: &[&str] = &[$(stringify!($l),)*];
    };
}

window_commands!(command_names);
