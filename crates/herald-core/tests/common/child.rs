//! Re-running one test of the current test binary in a child process.
//!
//! The session bus address is process-wide state that a test cannot change
//! for itself, so a test that needs another bus runs its scenario in a child
//! with its own `DBUS_SESSION_BUS_ADDRESS`.

use std::process::Command;

/// Re-runs `test` alone in a child process of this test binary, with the
/// session bus at `address` and `child_env` set so the test knows it is the
/// child. `setup` adds whatever else the scenario needs. Panics unless the
/// child ran exactly that test and it passed.
pub fn run_test_in_child(
    test: &str,
    child_env: &str,
    address: &str,
    setup: impl FnOnce(&mut Command),
) {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([test, "--exact", "--nocapture"])
        .env(child_env, "1")
        .env("DBUS_SESSION_BUS_ADDRESS", address);
    setup(&mut command);
    let out = command.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child on {address} failed:\n{stdout}\n{stderr}"
    );
    // A filter that matched nothing would also "succeed".
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test:\n{stdout}"
    );
}
