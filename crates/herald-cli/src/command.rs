//! The commands. Each reads the settings, acts, and returns an error that
//! says what to do; `main` turns it into exit code 1.
//!
//! The commands that change the engine's state run in the engine when one
//! runs, else here under the engine lock ([`crate::remote`]); `listen` is in
//! [`crate::listen`]. `history` and `doctor` only read, so they read the
//! history file directly (SQLite in WAL mode lets them beside a writer).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use herald_core::api::normalize_server;
use herald_core::config::{Paths, Settings};
use herald_core::doctor;
use herald_core::inbox::{Inbox, ListQuery};
use herald_core::plain_http;
use herald_core::secret::{KeyringStore, SecretStore};
use herald_core::session::{self, SessionError, Transport};

use crate::print::print_item;
use crate::remote::{self, Engine};
use crate::{Cli, Command};

pub fn keyring() -> Arc<dyn SecretStore> {
    let timeout = std::env::var("HERALD_KEYRING_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10));
    Arc::new(KeyringStore::new("herald", timeout))
}

pub fn settings(paths: &Paths, server: Option<String>) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(paths)?;
    if let Some(server) = server {
        settings.server = Some(server);
    }
    Ok(settings)
}

pub fn explain(e: SessionError) -> anyhow::Error {
    match e {
        SessionError::NotSignedIn => {
            anyhow!("not signed in: run `herald --server URL login --email EMAIL --password-stdin`")
        }
        other => anyhow!(other),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::resolve()?;
    match cli.command {
        Command::Login {
            email,
            password_stdin: _,
            insecure_http,
            ca_file,
        } => {
            login(
                &paths,
                cli.server,
                &email,
                insecure_http,
                ca_file.as_deref(),
            )
            .await
        }
        Command::Logout => match remote::engine(&paths).await? {
            Engine::Agent(client) => remote::sign_out(&client).await,
            Engine::Local(_lock) => {
                session::sign_out(&paths, keyring())
                    .await
                    .map_err(explain)?;
                eprintln!("signed out");
                Ok(())
            }
        },
        Command::Listen { json, no_desktop } => {
            crate::listen::listen(&paths, cli.server, json, no_desktop).await
        }
        Command::History {
            json,
            limit,
            kind,
            unread,
            search,
        } => {
            let inbox = open_inbox(&paths, &settings(&paths, cli.server)?)?;
            let query = ListQuery {
                kind,
                unread_only: unread,
                search,
                before_id: None,
                limit,
                unread_first: false,
            };
            for item in inbox.list(&query)? {
                print_item(&item, json)?;
            }
            Ok(())
        }
        Command::Read { ids, unread } => match remote::engine(&paths).await? {
            Engine::Agent(client) => remote::mark_read(&client, &ids, !unread).await,
            Engine::Local(_lock) => read(&paths, cli.server, &ids, !unread).await,
        },
        Command::Status { json } => status(&paths, cli.server, json).await,
        Command::Doctor => doctor(&paths, cli.server).await,
        Command::Test => {
            let _lock = match remote::engine(&paths).await? {
                Engine::Agent(client) => return remote::send_test(&client).await,
                Engine::Local(lock) => lock,
            };
            let settings = settings(&paths, cli.server)?;
            let (api, _, tokens) = session::stored_tokens(&settings, keyring())
                .await
                .map_err(explain)?;
            api.self_test(&tokens.access).await?;
            eprintln!(
                "asked {} for one test notification of each type",
                api.origin()
            );
            Ok(())
        }
    }
}

async fn login(
    paths: &Paths,
    server: Option<String>,
    email: &str,
    insecure_http: bool,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let ca_pem = ca_file
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))
        })
        .transpose()?;
    let server = match server {
        Some(server) => server,
        None => Settings::load(paths)?
            .server
            .ok_or_else(|| anyhow!("which server? pass --server URL"))?,
    };
    // Whether plain http:// is refused is the core's call (the agent's, or
    // session::sign_in's below); allowed, it deserves a word here.
    let origin = normalize_server(&server)?;
    if insecure_http && plain_http::exposes_secrets(&origin) {
        eprintln!(
            "warning: {} is plain http:// to another machine; the password and tokens cross the network unencrypted ({})",
            origin.as_str().trim_end_matches('/'),
            plain_http::FLAG
        );
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    // A running engine switches to the new session at once. Without one,
    // no lock is taken: signing in writes nothing an engine holds open, and
    // a failed sign-in leaves no file behind.
    if let Ok(client) = herald_ipc::Client::connect(&herald_ipc::Endpoint::of(paths)).await {
        return remote::sign_in(&client, &server, email, password, insecure_http, ca_pem).await;
    }
    let session = session::sign_in(
        paths,
        keyring(),
        &server,
        email,
        password,
        Transport::allowing_plain_http(insecure_http),
        ca_pem,
    )
    .await
    .map_err(explain)?;
    let who = session
        .user
        .as_ref()
        .and_then(|u| u.name.clone())
        .unwrap_or_else(|| email.to_owned());
    eprintln!(
        "signed in to {} as {who}; the tokens are in the OS keyring",
        normalize_server(&server)?.as_str().trim_end_matches('/')
    );
    Ok(())
}

/// The history of the configured server (the inbox normalises the origin).
fn open_inbox(paths: &Paths, settings: &Settings) -> anyhow::Result<Inbox> {
    let server = settings
        .server
        .as_deref()
        .ok_or_else(|| anyhow!("no server yet: run `herald --server URL login ...`"))?;
    Ok(Inbox::open(&paths.inbox_file(), server)?)
}

async fn read(
    paths: &Paths,
    server: Option<String>,
    ids: &[i64],
    read: bool,
) -> anyhow::Result<()> {
    let settings = settings(paths, server)?;
    let mut inbox = open_inbox(paths, &settings)?;
    let changed = inbox.set_read(ids, read)?;
    let server_ids: Vec<u64> = ids
        .iter()
        .filter_map(|id| inbox.get(*id).ok().flatten())
        .filter_map(|item| item.server_id)
        .collect();
    eprintln!("{changed} marked {}", if read { "read" } else { "unread" });
    if server_ids.is_empty() {
        return Ok(());
    }
    match session::stored_tokens(&settings, keyring()).await {
        Ok((api, _, tokens)) => {
            if let Err(e) = api.mark_read(&tokens.access, &server_ids, read).await {
                eprintln!("note: not synced to the server: {e}");
            }
        }
        Err(e) => eprintln!("note: not synced to the server: {e}"),
    }
    Ok(())
}

async fn status(paths: &Paths, server: Option<String>, json: bool) -> anyhow::Result<()> {
    let settings = settings(paths, server)?;
    let credentials = match session::stored_tokens(&settings, keyring()).await {
        Ok(_) => "in the keyring".to_owned(),
        Err(SessionError::NotSignedIn) => "none (not signed in)".to_owned(),
        Err(e) => format!("unreadable: {e}"),
    };
    let (unread, total) = match open_inbox(paths, &settings) {
        Ok(inbox) => (inbox.unread_count()?, inbox.count()?),
        Err(_) => (0, 0),
    };
    let agent = remote::agent_state(paths).await?;
    let (agent_json, connection) = agent.json();
    let value = serde_json::json!({
        "agent": agent_json,
        "connection": connection,
        "server": settings.server,
        "account": settings.account,
        "credentials": credentials,
        "unread": unread,
        "total": total,
        "configFile": paths.settings_file(),
        "history": paths.inbox_file(),
    });
    if json {
        println!("{value}");
    } else {
        println!(
            "server:      {}",
            settings.server.as_deref().unwrap_or("(none)")
        );
        println!(
            "account:     {}",
            settings.account.as_deref().unwrap_or("(none)")
        );
        println!("credentials: {credentials}");
        println!(
            "history:     {total} items, {unread} unread ({})",
            paths.inbox_file().display()
        );
        for line in agent.lines() {
            println!("{line}");
        }
    }
    Ok(())
}

async fn doctor(paths: &Paths, server: Option<String>) -> anyhow::Result<()> {
    let settings = settings(paths, server)?;
    let checks = doctor::check_all(&settings, keyring()).await;
    let mut failed = 0;
    for check in &checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        println!("{mark} {:<16} {}", check.name, check.detail);
        if let (false, Some(hint)) = (check.ok, &check.hint) {
            println!("     {:<16} → {hint}", "");
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}
