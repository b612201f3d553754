//! The `herald-server` binary.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use herald_proto::api::Role;
use herald_server::{Config, Server, demo};

/// The Herald reference hub: JWT login, Socket.IO rooms, catch-up, and login
/// alerts over Socket.IO, Web Push and email.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "HERALD_BIND")]
    bind: SocketAddr,
    /// Directory of the database, the JWT secret and the VAPID keys.
    #[arg(long, default_value = "herald-data", env = "HERALD_SERVER_DATA_DIR")]
    data_dir: PathBuf,
    /// Keep the database in Postgres, postgres://user:password@host:port/db,
    /// instead of SQLite in the data directory: for several nodes sharing
    /// one set of users. The data directory still holds the JWT secret
    /// (unless HERALD_JWT_SECRET is set) and the VAPID keys.
    #[arg(
        long,
        global = true,
        env = "HERALD_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// SMTP server for login alert emails, e.g. smtp://127.0.0.1:2525 or
    /// smtps://user:pass@mail.example.com.
    #[arg(long, env = "HERALD_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// From: address of login alert emails.
    #[arg(long, default_value = "Herald <herald@localhost>")]
    mail_from: String,
    /// A MaxMind-format (mmdb) database to locate logins by IP address.
    #[arg(long)]
    geoip_db: Option<PathBuf>,
    /// Contact for push services, sent in the VAPID claims.
    #[arg(long, default_value = "mailto:admin@localhost")]
    vapid_subject: String,
    /// Create demo accounts and send a sample event every few seconds.
    #[arg(long)]
    demo: bool,
    /// Life of access tokens, in seconds (default 900). Short lives exercise
    /// clients' refresh paths.
    #[arg(long, default_value_t = 900, hide = true)]
    access_ttl_secs: u64,
    /// Open connections at most (WebSockets included); one more is closed
    /// at once.
    #[arg(long, default_value_t = herald_server::config::MAX_CONNECTIONS)]
    max_connections: usize,
    /// Allow push endpoints on loopback, private and other non-public
    /// addresses, for a push gateway on an internal network. Off, such
    /// endpoints are refused, whatever their names resolve to.
    #[arg(long)]
    push_allow_private_networks: bool,
    /// Days events are kept; older ones are deleted (hourly). A client
    /// offline longer catches up on what is left.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    event_retention_days: u32,
    /// Redis, for several nodes sharing one Postgres database: e.g.
    /// redis://127.0.0.1:6379. Nodes tell each other through it what they
    /// stored and which sessions ended, and share the login limit.
    #[arg(long, env = "HERALD_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Serve Socket.IO over WebSocket only (no long-polling), so that a
    /// plain load balancer can send any connection to any node.
    #[arg(long, env = "HERALD_WEBSOCKET_ONLY")]
    websocket_only: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs
    /// --tls-key. Without both, plain HTTP.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add an account; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "user")]
        role: RoleArg,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    User,
    Admin,
}

fn main() -> anyhow::Result<()> {
    // RUST_LOG applies, but never lets socketioxide's packets (tokens
    // among them) into the log.
    herald_server::logging::init();
    let cli = Cli::parse();
    let mut config = Config::new(&cli.data_dir);
    config.database_url = cli.database_url.clone();
    config.smtp_url = cli.smtp_url.clone();
    config.mail_from = cli.mail_from.clone();
    config.geoip_db = cli.geoip_db.clone();
    config.vapid_subject = cli.vapid_subject.clone();
    config.jwt_secret = std::env::var("HERALD_JWT_SECRET").ok();
    config.access_ttl = Duration::from_secs(cli.access_ttl_secs.max(1));
    config.http.max_connections = cli.max_connections.max(1);
    config.push_allow_private = cli.push_allow_private_networks;
    config.retention.events = Duration::from_secs(u64::from(cli.event_retention_days) * 24 * 3600);
    config.redis_url = cli.redis_url.clone();
    config.websocket_only = cli.websocket_only;
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        config.tls = Some(herald_server::TlsIdentity::load(cert, key)?);
    }
    if cli.demo {
        config.demo_interval = Some(Duration::from_secs(5));
    }
    // One runtime for every command: opening the database is async (a
    // Postgres pool), `user add` included.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli, config))
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let server = Server::open(config)
        .await
        .with_context(|| format!("cannot open the data directory {}", cli.data_dir.display()))?;

    match cli.command {
        Some(Command::User {
            command:
                UserCommand::Add {
                    email,
                    name,
                    role,
                    password_stdin: _,
                },
        }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let role = match role {
                RoleArg::User => Role::User,
                RoleArg::Admin => Role::Admin,
            };
            let user = server.add_user(&email, &name, role, password).await?;
            eprintln!(
                "added user {} <{}> ({}) with id {}",
                user.name,
                user.email,
                role.as_str(),
                user.id
            );
            Ok(())
        }
        None => {
            if cli.demo {
                print_demo(&server, cli.bind).await?;
            }
            let listener = tokio::net::TcpListener::bind(cli.bind)
                .await
                .with_context(|| format!("cannot listen on {}", cli.bind))?;
            server.run(listener, shutdown_signal()).await?;
            Ok(())
        }
    }
}

async fn print_demo(server: &Server, bind: SocketAddr) -> anyhow::Result<()> {
    let accounts = demo::ensure_accounts(server).await?;
    let scheme = if server.config().tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{bind}");
    let mut out = String::new();
    out.push_str(&format!("\nherald-server demo at {url}\n"));
    for account in &accounts {
        match &account.password {
            Some(password) => out.push_str(&format!(
                "  {:<20} password: {password}   ({})\n",
                account.email,
                account.role.as_str()
            )),
            None => out.push_str(&format!(
                "  {:<20} exists already; its password was shown when it was made\n",
                account.email
            )),
        }
    }
    out.push_str("A sample event goes out every 5 s. Watch them live with:\n");
    let alice = accounts
        .iter()
        .find(|a| a.email == demo::ALICE)
        .and_then(|a| a.password.clone());
    out.push_str(&format!(
        "  node tests/compat/watch.mjs {url} {} {}\n\n",
        demo::ALICE,
        alice.as_deref().unwrap_or("<password>")
    ));
    // The one place passwords are shown: the operator's terminal, once.
    eprint!("{out}");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
