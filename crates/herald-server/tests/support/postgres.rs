//! A private Postgres server from the system's packages, for tests.
//!
//! Each [`TestPostgres`] runs `initdb` on a temporary directory and starts
//! its own server on a free port of 127.0.0.1 (trust authentication, no
//! fsync: quick, and gone with the test). Postgres refuses to run as root,
//! so as root it runs as the `postgres` user, which owns the directory.
//! Dropping the guard stops the server at once and deletes the directory.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running (or stopped, on demand) private Postgres server.
pub struct TestPostgres {
    root: PathBuf,
    bindir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir`, or the
/// newest `/usr/lib/postgresql/*/bin` (Debian does not put them on PATH).
fn bindir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    candidates.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(newest) = candidates.pop() {
        return newest;
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("Postgres is not installed: no /usr/lib/postgresql/*/bin and no pg_config");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl TestPostgres {
    /// Makes and starts a new server; panics if it cannot.
    pub fn start() -> TestPostgres {
        let root = std::env::temp_dir().join(format!(
            "herald-pg-{}-{}",
            std::process::id(),
            herald_server::token::random_token(6)
        ));
        std::fs::create_dir_all(&root).expect("create the Postgres directory");
        let as_postgres = std::fs::metadata(&root).expect("stat").uid() == 0;
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&root)
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "cannot give {} to postgres",
                root.display()
            );
        }
        let pg = TestPostgres {
            root,
            bindir: bindir(),
            port: free_port(),
            as_postgres,
        };
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ],
        );
        pg.start_again();
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// One of the server's programs, as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let binary = self.bindir.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(binary);
            c
        } else {
            Command::new(binary)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .current_dir(&self.root)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.root.join("log")).unwrap_or_default()
        );
    }

    /// Starts the server (again) on the same port, and waits until it takes
    /// connections (`pg_ctl -w`).
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            path_str(&self.root)
        );
        let data = self.data_dir();
        let log = self.root.join("log");
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
            ],
        );
    }

    /// Stops the server at once (`-m immediate`: connections are cut, as
    /// in a crash), and waits until it is down.
    pub fn stop(&self) {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["stop", "-w", "-m", "immediate", "-D", path_str(&data)],
        );
    }

    /// The URL of the `postgres` database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name],
        );
        self.url_of(name)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        if data.join("postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .args(["stop", "-w", "-m", "immediate", "-D"])
                .arg(&data)
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
