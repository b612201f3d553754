//! The commands. Each reads the settings, acts, and returns an error that
//! says what to do; `main` turns it into exit code 1.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use herald_core::api::normalize_server;
use herald_core::config::{Paths, Settings};
use herald_core::doctor;
use herald_core::engine::{Engine, EngineParts, InboxUpdate};
use herald_core::inbox::{Inbox, Item, ListQuery};
use herald_core::link::LinkConfig;
use herald_core::notify::Notifier;
use herald_core::notify::desktop::{DesktopNotifier, server_info};
use herald_core::secret::{KeyringStore, SecretStore};
use herald_core::session::{self, SessionError};
use herald_core::status::ConnectionState;

use crate::{Cli, Command};

fn keyring() -> Arc<dyn SecretStore> {
    let timeout = std::env::var("HERALD_KEYRING_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10));
    Arc::new(KeyringStore::new("herald", timeout))
}

fn settings(paths: &Paths, server: Option<String>) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(paths)?;
    if let Some(server) = server {
        settings.server = Some(server);
    }
    Ok(settings)
}

fn explain(e: SessionError) -> anyhow::Error {
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
        } => login(&paths, cli.server, &email).await,
        Command::Logout => {
            session::sign_out(&paths, keyring())
                .await
                .map_err(explain)?;
            eprintln!("signed out");
            Ok(())
        }
        Command::Listen { json, no_desktop } => listen(&paths, cli.server, json, no_desktop).await,
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
        Command::Read { ids, unread } => read(&paths, cli.server, &ids, !unread).await,
        Command::Status { json } => status(&paths, cli.server, json).await,
        Command::Doctor => doctor(&paths, cli.server).await,
        Command::Test => {
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

async fn login(paths: &Paths, server: Option<String>, email: &str) -> anyhow::Result<()> {
    let server = match server {
        Some(server) => server,
        None => Settings::load(paths)?
            .server
            .ok_or_else(|| anyhow!("which server? pass --server URL"))?,
    };
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    let session = session::sign_in(paths, keyring(), &server, email, password)
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

fn print_item(item: &Item, json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(item)?)?;
    } else {
        let mark = if item.read { ' ' } else { '*' };
        writeln!(
            out,
            "{mark}{:>6}  {}  [{}] {}: {}",
            item.id, item.created_at, item.kind, item.title, item.message
        )?;
    }
    Ok(())
}

async fn listen(
    paths: &Paths,
    server: Option<String>,
    json: bool,
    no_desktop: bool,
) -> anyhow::Result<()> {
    // Registered first: a SIGTERM that arrives while no listener exists
    // would otherwise be lost, or kill the process.
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let settings = settings(paths, server)?;
    let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut markup = false;
    let notifier: Option<Arc<dyn Notifier>> = if no_desktop || !settings.desktop_notifications {
        None
    } else {
        match tokio::task::spawn_blocking(server_info).await? {
            Ok(info) => {
                markup = info.body_markup;
                Some(Arc::new(DesktopNotifier::new(
                    "Herald", "herald", action_tx,
                )))
            }
            Err(e) => {
                eprintln!("warning: {e}");
                None
            }
        }
    };
    let parts = EngineParts {
        paths: paths.clone(),
        settings,
        store: keyring(),
        notifier,
        link: LinkConfig::default(),
        markup,
    };
    let engine = Engine::start(parts, action_rx).await.map_err(|e| match e {
        herald_core::engine::EngineError::Session(e) => explain(e),
        other => anyhow!(other),
    })?;
    let mut updates = engine.updates();
    let mut status = engine.status();
    let mut last_label = String::new();
    let mut warned = 0;
    let mut rejected = 0;
    let result = loop {
        tokio::select! {
            update = updates.recv() => match update {
                Ok(InboxUpdate::Added(items)) => {
                    for item in &items {
                        print_item(item, json)?;
                    }
                }
                Ok(InboxUpdate::Open { item, url }) => open(&item, url.as_deref()),
                Ok(InboxUpdate::Read { .. } | InboxUpdate::Deleted { .. } | InboxUpdate::Reset) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("warning: {n} updates not printed (see `herald history`)");
                }
                Err(_) => break Ok(()),
            },
            changed = status.changed() => {
                if changed.is_err() {
                    break Ok(());
                }
                let current = status.borrow_and_update().clone();
                let label = current.state.label();
                if label != last_label {
                    eprintln!("status: {label} ({})", current.server.as_deref().unwrap_or("-"));
                    last_label = label;
                }
                for warning in current.warnings.iter().skip(warned) {
                    eprintln!("warning: {warning}");
                }
                warned = current.warnings.len();
                if current.rejected_events > rejected {
                    eprintln!("warning: {} malformed event(s) refused so far", current.rejected_events);
                    rejected = current.rejected_events;
                }
                if let ConnectionState::SignedOut { .. } = current.state {
                    break Err(anyhow!("{}: run `herald login` again", current.state.label()));
                }
            }
            _ = &mut stop => break Ok(()),
        }
    };
    engine.shutdown().await;
    result
}

/// Opens what "View Details" points at: the event's URL with the opener
/// ([`herald_core::opener`]), or the details on stderr.
fn open(item: &Item, url: Option<&str>) {
    eprintln!(
        "details: #{} [{}] {}: {}",
        item.id, item.kind, item.title, item.message
    );
    let Some(url) = url else { return };
    eprintln!("open: {url}");
    if let Err(e) = herald_core::opener::open(url) {
        eprintln!("warning: {e}");
    }
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
    let value = serde_json::json!({
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

/// SIGINT or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal during start-up is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}
