//! `KeyringStore` against a real Secret Service (gnome-keyring).
//!
//! Run inside `scripts/desktop-session.sh`, which provides the session bus and
//! an unlocked keyring. The "unavailable" tests re-run this test binary as a
//! child process pointed at a private bus, because the session bus address is
//! process-wide state that a test cannot change for itself.
// The freedesktop services under test (D-Bus, the Secret Service, a
// notification server) are Linux desktop parts; scripts/cross.sh runs the
// rest of the crate under wine.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald_core::secret::{KeyringStore, SecretError, SecretKey, SecretStore, Tokens};

#[path = "common/child.rs"]
mod child;
#[path = "common/private_bus.rs"]
mod private_bus;

use child::run_test_in_child;
use private_bus::{PrivateBus, TempDir, unique};

/// The keyring service name the tests use, so they never touch "herald".
const SERVICE: &str = "herald-test";
const TIMEOUT: Duration = Duration::from_secs(10);
/// The timeout in the child runs, short to keep the test quick.
const CHILD_TIMEOUT: Duration = Duration::from_secs(2);
/// Slack on top of a timeout for thread start-up and a loaded machine.
const MARGIN: Duration = Duration::from_millis(1500);

/// Set in a child run: which scenario the child is in.
const CHILD_ENV: &str = "HERALD_TEST_KEYRING_CHILD";
const TOKEN_ENV: &str = "HERALD_TEST_KEYRING_TOKEN";

fn tokens(access: &str) -> Tokens {
    Tokens {
        access: access.to_owned(),
        refresh: Some(format!("{access}-refresh")),
    }
}

fn store() -> KeyringStore {
    KeyringStore::new(SERVICE, TIMEOUT)
}

/// `secret-tool lookup`: the secret as another Secret Service client sees it.
fn secret_tool_lookup(key: &SecretKey) -> Option<String> {
    let user = format!("{} @ {}", key.account, key.server);
    let out = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", &user])
        .output()
        .expect("run secret-tool (scripts/setup.sh installs libsecret-tools)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `secret-tool search --all`: (stdout with labels and secrets, stderr with attributes).
fn secret_tool_search(key: &SecretKey) -> (String, String) {
    let user = format!("{} @ {}", key.account, key.server);
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", SERVICE, "username", &user])
        .output()
        .expect("run secret-tool");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn round_trip_through_the_secret_service() {
    let store = store();
    let key = SecretKey::new(
        format!("https://{}.example", unique("hub")),
        "alice@example.com",
    );
    assert_eq!(store.load(&key).expect("load before save"), None);

    let first = tokens(&unique("access"));
    store.save(&key, &first).expect("save");
    assert_eq!(store.load(&key).expect("load"), Some(first.clone()));

    // Another Secret Service client finds it under the documented attributes.
    let json = secret_tool_lookup(&key).expect("secret-tool finds the entry");
    let seen: Tokens = serde_json::from_str(&json).expect("the secret is the tokens as JSON");
    assert_eq!(seen, first);
    let (items, attributes) = secret_tool_search(&key);
    assert!(
        items.contains("label = Herald: alice@example.com on https://"),
        "{items}"
    );
    assert!(
        attributes.contains("attribute.target = default"),
        "{attributes}"
    );

    // Saving again replaces the entry rather than adding a second one.
    let second = tokens(&unique("access"));
    store.save(&key, &second).expect("save again");
    assert_eq!(store.load(&key).expect("load"), Some(second));
    let (items, _) = secret_tool_search(&key);
    assert_eq!(
        items.matches("label = ").count(),
        1,
        "exactly one item: {items}"
    );

    store.delete(&key).expect("delete");
    assert_eq!(store.load(&key).expect("load after delete"), None);
    assert_eq!(
        secret_tool_lookup(&key),
        None,
        "the item is gone from the keyring"
    );
    store.delete(&key).expect("deleting a missing entry is Ok");
}

#[test]
fn servers_and_accounts_do_not_collide() {
    let store = store();
    let (s1, s2) = (
        format!("https://{}.example", unique("a")),
        format!("https://{}.example", unique("b")),
    );
    let keys = [
        SecretKey::new(&s1, "alice@example.com"),
        SecretKey::new(&s2, "alice@example.com"),
        SecretKey::new(&s1, "bob@example.com"),
    ];
    let values: Vec<Tokens> = keys.iter().map(|_| tokens(&unique("access"))).collect();
    for (key, value) in keys.iter().zip(&values) {
        store.save(key, value).expect("save");
    }
    for (key, value) in keys.iter().zip(&values) {
        assert_eq!(
            store.load(key).expect("load").as_ref(),
            Some(value),
            "{key:?}"
        );
    }
    store.delete(&keys[0]).expect("delete the first");
    assert_eq!(store.load(&keys[0]).expect("load"), None);
    assert_eq!(
        store.load(&keys[1]).expect("load").as_ref(),
        Some(&values[1])
    );
    assert_eq!(
        store.load(&keys[2]).expect("load").as_ref(),
        Some(&values[2])
    );
    for key in &keys[1..] {
        store.delete(key).expect("clean up");
    }
}

#[test]
fn a_foreign_entry_is_corrupt_not_a_panic() {
    let store = store();
    let key = SecretKey::new(
        format!("https://{}.example", unique("hub")),
        "carol@example.com",
    );
    let user = format!("{} @ {}", key.account, key.server);
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=not herald",
            "service",
            SERVICE,
            "username",
            &user,
            "target",
            "default",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run secret-tool store");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"hunter2-not-json")
            .expect("write the secret");
    }
    assert!(child.wait().expect("secret-tool store").success());

    let err = store.load(&key).expect_err("a non-JSON secret is refused");
    assert!(matches!(err, SecretError::Corrupt(_)), "{err:?}");
    assert!(
        !err.to_string().contains("hunter2"),
        "the secret stays out of the message: {err}"
    );
    store.delete(&key).expect("delete the foreign entry");
    assert_eq!(secret_tool_lookup(&key), None);
}

// ---------------------------------------------------------------------------
// No Secret Service: each test runs its scenario in a child process.
// ---------------------------------------------------------------------------

#[test]
fn a_bus_without_a_secret_service_is_unavailable() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let store = KeyringStore::new(SERVICE, CHILD_TIMEOUT);
        return child_expects_failure(&store, |e| matches!(e, SecretError::Unavailable { .. }));
    }
    let bus = PrivateBus::start();
    run_child(
        "a_bus_without_a_secret_service_is_unavailable",
        &bus.address,
    );
}

#[test]
fn an_address_nobody_listens_on_is_unavailable() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let store = KeyringStore::new(SERVICE, CHILD_TIMEOUT);
        return child_expects_failure(&store, |e| matches!(e, SecretError::Unavailable { .. }));
    }
    let dir = TempDir::new("keyring-nobody");
    let address = format!("unix:path={}", dir.path().join("no-bus-here").display());
    run_child("an_address_nobody_listens_on_is_unavailable", &address);
}

#[test]
fn a_secret_service_that_never_answers_times_out() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_times_out_then_recovers();
    }
    let bus = PrivateBus::start();
    run_child(
        "a_secret_service_that_never_answers_times_out",
        &bus.address,
    );
}

/// In the child: a hung Secret Service costs each call one timeout; once the
/// hung service goes away, the stranded calls end and the store answers again
/// (here: Unavailable, as the bus now has no Secret Service at all).
fn child_times_out_then_recovers() {
    let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("the parent sets the bus");
    let mute = MuteSecretService::start(&address);
    let store = KeyringStore::new(SERVICE, CHILD_TIMEOUT);
    child_expects_failure(
        &store,
        |e| matches!(e, SecretError::Timeout(t) if *t == CHILD_TIMEOUT),
    );

    drop(mute);
    let key = SecretKey::new("https://child.example", "dave@example.com");
    let deadline = Instant::now() + TIMEOUT;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match store.load(&key) {
            Err(SecretError::Unavailable { .. }) => break,
            Err(SecretError::Timeout(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => panic!("after the hung service left: {other:?}"),
        }
    }
    eprintln!("the store answered again after {attempts} attempt(s)");
}

/// In the child: every store call fails as `expected` says, within the
/// timeout, with a message that tells the user what to do.
fn child_expects_failure(store: &KeyringStore, expected: impl Fn(&SecretError) -> bool) {
    let token = std::env::var(TOKEN_ENV).expect("the parent passes a token");
    let key = SecretKey::new("https://child.example", "dave@example.com");
    type Call<'a> = Box<dyn Fn() -> Result<(), SecretError> + 'a>;
    let calls: [(&str, Call<'_>); 3] = [
        ("save", Box::new(|| store.save(&key, &tokens(&token)))),
        ("load", Box::new(|| store.load(&key).map(|_| ()))),
        ("delete", Box::new(|| store.delete(&key))),
    ];
    for (name, call) in calls {
        let started = Instant::now();
        let err = call().expect_err("there is no usable keyring");
        let elapsed = started.elapsed();
        eprintln!("{name} failed after {elapsed:?}: {err}");
        assert!(elapsed < CHILD_TIMEOUT + MARGIN, "{name} took {elapsed:?}");
        assert!(expected(&err), "{name}: unexpected {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("gnome-keyring") && text.contains("KeePassXC"),
            "{name}: {text}"
        );
        assert!(!text.contains(&token), "{name}: {text}");
    }
}

/// Re-runs `test` alone in a child with the session bus at `address` and an
/// empty HOME, then checks that the child passed and wrote the token nowhere.
fn run_child(test: &str, address: &str) {
    let home = TempDir::new("keyring-home");
    let token = unique("child-token");
    run_test_in_child(test, CHILD_ENV, address, |child| {
        child
            .arg("--test-threads=1")
            .current_dir(home.path())
            .env(TOKEN_ENV, &token)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join(".local/share"))
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("XDG_CACHE_HOME", home.path().join(".cache"));
    });

    let written = files_under(home.path());
    for file in &written {
        let bytes = std::fs::read(file).expect("read a file the child wrote");
        let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
        assert!(!found, "the token was written to {}", file.display());
    }
    assert!(
        written.is_empty(),
        "the child wrote files under HOME: {written:?}"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("list a directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path)
            } else {
                found.push(path)
            }
        }
    }
    found
}

/// Owns `org.freedesktop.secrets` on a bus and never answers a call: what a
/// hung keyring daemon looks like. dbus-python without a main loop queues
/// incoming calls and never dispatches them.
struct MuteSecretService(Child);

impl MuteSecretService {
    fn start(address: &str) -> MuteSecretService {
        let mut child = Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import dbus, sys\n\
                 bus = dbus.SessionBus()\n\
                 bus.request_name('org.freedesktop.secrets')\n\
                 print('owned', flush=True)\n\
                 sys.stdin.read()\n",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start /usr/bin/python3 (scripts/setup.sh installs python3-dbus)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("python stdout"))
            .read_line(&mut line)
            .expect("read from python");
        assert_eq!(line.trim(), "owned", "the mute service owns the name");
        MuteSecretService(child)
    }
}

impl Drop for MuteSecretService {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
