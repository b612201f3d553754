//! `herald`: a headless Herald client. A client of the running engine (the
//! agent) when there is one; with none, `listen` runs the engine itself.
// A command-line tool: printing to stdout is its output, not a stray debug print.
#![allow(clippy::print_stdout)]

mod attach;
mod command;
mod listen;
mod print;
mod remote;

use clap::{Parser, Subcommand};

/// Herald: real-time notifications on the desktop.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli {
    /// The server URL (saved by `login`).
    #[arg(long, global = true, env = "HERALD_SERVER")]
    server: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in and keep the tokens in the OS keyring.
    Login {
        #[arg(long)]
        email: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Allow a plain http:// server on another machine: the password and
        /// tokens then cross the network unencrypted.
        #[arg(long)]
        insecure_http: bool,
        /// Trust this CA certificate (PEM) for this server, beside the
        /// system's: for a private CA or a self-signed server. Its text is
        /// kept with the account, so the file need not be.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<std::path::PathBuf>,
    },
    /// Sign out: revoke the session and delete the tokens.
    Logout,
    /// Connect and print each new notification until interrupted.
    Listen {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Do not show desktop notifications (the history is still kept).
        #[arg(long)]
        no_desktop: bool,
    },
    /// Show the notification history, newest first.
    History {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only this event type.
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        unread: bool,
        /// Only items whose title or message contains this.
        #[arg(long)]
        search: Option<String>,
    },
    /// Mark history items read (by the id `history` shows).
    Read {
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Mark them unread instead.
        #[arg(long)]
        unread: bool,
    },
    /// Show the account, the server and the history's state.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Check the keyring, the notification server, the tray host and the server.
    Doctor,
    /// Ask the server to send one test notification of each type.
    Test,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("herald: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
