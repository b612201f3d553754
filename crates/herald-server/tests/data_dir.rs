//! The data directory and the database are the server's alone.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::TestServer;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_directory_is_0700_and_the_database_files_0600() {
    let server = TestServer::start().await;
    // A write, so the WAL and its index exist.
    server.login(&server.admin).await;
    let dir = &server.config.data_dir;
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for name in [
        "herald.db",
        "herald.db-wal",
        "herald.db-shm",
        "vapid-private-key",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[tokio::test]
async fn database_files_left_readable_by_an_older_version_are_tightened() {
    let dir = std::env::temp_dir().join(format!(
        "herald-perm-{}-{}",
        std::process::id(),
        herald_server::token::random_token(6)
    ));
    std::fs::create_dir_all(&dir).expect("create");
    for name in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        let path = dir.join(name);
        std::fs::write(&path, b"").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let mut config = herald_server::Config::new(&dir);
    config.jwt_secret = Some(support::server::JWT_SECRET.into());
    let server = herald_server::Server::open(config).await.expect("open");
    for name in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
