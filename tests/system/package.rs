//! The Linux packages as a user gets them: what the .deb and the .rpm hold,
//! what lintian says of the .deb, and the installed programs finding each
//! other in /usr/bin.
//!
//! The packages are `scripts/package.sh`'s output in `target/packages/`;
//! scripts/test.sh makes them before the tests run. The install test runs
//! `dpkg -i` and `dpkg -r`, so it needs root (CI's throwaway machine is) and
//! a machine where Herald is not installed otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use herald_system_tests::client::Herald;
use herald_system_tests::proc::{self, ProcInfo};
use herald_system_tests::tray::Watcher;
use herald_system_tests::{WAIT, agent, temp_dir, wait_for, x11};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Debian and RPM package name.
const PACKAGE: &str = "herald";
/// What each package installs in /usr/bin, side by side: the window looks
/// for the agent beside itself, and the agent for the window.
const PROGRAMS: [&str; 3] = ["herald-desktop", "herald-agent", "herald"];

/// `target/`, where the test binary was built.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// A package `scripts/package.sh` wrote, by its file name.
fn package(file: &str) -> PathBuf {
    let path = target_dir().join("packages").join(file);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/package.sh first (scripts/test.sh does)",
        path.display()
    );
    path
}

fn deb() -> PathBuf {
    let arch = run("dpkg", &["--print-architecture"]);
    package(&format!("{PACKAGE}_{VERSION}_{}.deb", arch.trim()))
}

fn rpm() -> PathBuf {
    package(&format!(
        "{PACKAGE}-{VERSION}-1.{}.rpm",
        std::env::consts::ARCH
    ))
}

/// Runs a command to completion; panics with its output unless it succeeds.
fn run_in(dir: Option<&Path>, program: &str, args: &[&str]) -> String {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {program} (scripts/setup.sh installs it): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn run(program: &str, args: &[&str]) -> String {
    run_in(None, program, args)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The .deb's files, unpacked under a fresh directory `<dir>/<prefix>`.
fn unpack_deb(prefix: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir("deb");
    let root = dir.join(prefix);
    std::fs::create_dir_all(&root).expect("create the unpack directory");
    run("dpkg-deb", &["-x", path_str(&deb()), path_str(&root)]);
    (dir, root)
}

/// Every regular file under `root`, as paths relative to it.
fn files_under(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a package directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under the root");
                found.insert(path_str(relative).to_owned());
            }
        }
    }
    found
}

/// The `[Desktop Entry]` value of `key`.
fn desktop_value<'a>(entry: &'a str, key: &str) -> Option<&'a str> {
    entry
        .lines()
        .skip_while(|l| l.trim() != "[Desktop Entry]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn the_deb_installs_the_programs_side_by_side_with_the_menu_entry_and_its_icon() {
    let (_dir, root) = unpack_deb("root");
    for program in PROGRAMS {
        let path = root.join("usr/bin").join(program);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("the package has no /usr/bin/{program}: {e}"))
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o755, "/usr/bin/{program}");
    }

    let entries: Vec<String> = files_under(&root)
        .into_iter()
        .filter(|f| f.starts_with("usr/share/applications/") && f.ends_with(".desktop"))
        .collect();
    assert_eq!(entries.len(), 1, "one menu entry: {entries:?}");
    let text = std::fs::read_to_string(root.join(&entries[0])).expect("read the entry");
    assert_eq!(desktop_value(&text, "Type"), Some("Application"), "{text}");
    assert_eq!(desktop_value(&text, "Name"), Some("Herald"), "{text}");
    // The menu opens the window, which starts the agent when none runs.
    let exec = desktop_value(&text, "Exec").expect("an Exec line");
    let program = exec.split_whitespace().next().expect("a program");
    assert_eq!(program, "herald-desktop", "{text}");
    assert!(root.join("usr/bin").join(program).is_file(), "{text}");

    let icon = desktop_value(&text, "Icon").expect("an Icon line");
    assert!(
        !icon.contains('/'),
        "a themed icon name, not a path: {icon}"
    );
    let hicolor = root.join("usr/share/icons/hicolor");
    let sizes: BTreeSet<String> = std::fs::read_dir(&hicolor)
        .expect("the package has hicolor icons")
        .map(|e| e.expect("an icon size").file_name())
        .filter(|size| {
            hicolor
                .join(size)
                .join("apps")
                .join(format!("{icon}.png"))
                .is_file()
        })
        .map(|size| size.to_string_lossy().into_owned())
        .collect();
    for size in ["32x32", "128x128", "512x512"] {
        assert!(sizes.contains(size), "no {size} {icon}.png, only {sizes:?}");
    }

    // What Debian asks of every package, and lintian's notes on it.
    let doc = root.join("usr/share/doc").join(PACKAGE);
    assert!(doc.join("copyright").is_file());
    assert!(doc.join("changelog.gz").is_file());
    assert!(
        root.join("usr/share/lintian/overrides")
            .join(PACKAGE)
            .is_file()
    );
}

#[test]
fn the_packaged_programs_run_and_say_the_package_version() {
    let (_dir, root) = unpack_deb("root");
    let bin = root.join("usr/bin");
    let agent = run(path_str(&bin.join("herald-agent")), &["--version"]);
    assert_eq!(agent.trim(), format!("herald-agent {VERSION}"));
    let cli = run(path_str(&bin.join("herald")), &["--version"]);
    assert_eq!(cli.trim(), format!("herald-cli {VERSION}"));

    let field = |name: &str| run("dpkg-deb", &["-f", path_str(&deb()), name]);
    assert_eq!(field("Package").trim(), PACKAGE);
    assert_eq!(field("Version").trim(), VERSION);
}

#[test]
fn lintian_finds_no_error_and_no_warning_the_package_does_not_override() {
    let deb = deb();
    let out = Command::new("lintian")
        .args(["--info", "--show-overrides", path_str(&deb)])
        .stdin(Stdio::null())
        .output()
        .expect("run lintian (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let flagged: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(
        flagged.is_empty(),
        "lintian {}:\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lintian {}:\n{text}", out.status);
    // The shipped overrides are where lintian reads them.
    let overridden = text.lines().filter(|l| l.starts_with("O:")).count();
    assert_eq!(overridden, PROGRAMS.len(), "one per manual page:\n{text}");
}

/// `name (>= version)` entries of a Depends line (no alternatives here).
fn relations(line: &str) -> Vec<(String, Option<String>)> {
    line.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            assert!(!r.contains('|'), "an alternative: {r}");
            match r.split_once(" (>= ") {
                Some((name, version)) => (
                    name.to_owned(),
                    Some(version.trim_end_matches(')').to_owned()),
                ),
                None => (r.to_owned(), None),
            }
        })
        .collect()
}

fn version_at_least(have: &str, want: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", have, "ge", want])
        .status()
        .expect("run dpkg --compare-versions")
        .success()
}

#[test]
fn the_deb_depends_on_every_library_its_programs_link() {
    // dpkg-shlibdeps, as a Debian build runs it: from a package directory
    // under debian/, beside a debian/control.
    let (dir, root) = unpack_deb(&format!("debian/{PACKAGE}"));
    std::fs::write(
        dir.join("debian/control"),
        format!("Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n"),
    )
    .expect("write debian/control");
    let bins: Vec<String> = PROGRAMS
        .iter()
        .map(|p| format!("debian/{PACKAGE}/usr/bin/{p}"))
        .collect();
    let mut args = vec!["-O"];
    args.extend(bins.iter().map(String::as_str));
    let computed = run_in(Some(&dir), "dpkg-shlibdeps", &args);
    let computed = computed
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .expect("dpkg-shlibdeps prints shlibs:Depends");
    let declared = run("dpkg-deb", &["-f", path_str(&deb()), "Depends"]);
    let declared = relations(&declared);
    assert!(root.join("usr/bin/herald-agent").is_file());

    for (name, version) in relations(computed) {
        let ok = declared.iter().any(|(have, have_version)| {
            *have == name
                && match (&version, have_version) {
                    (None, _) => true,
                    (Some(want), Some(have)) => version_at_least(have, want),
                    (Some(_), None) => false,
                }
        });
        assert!(
            ok,
            "the programs need {name} {version:?}; the package declares {declared:?}. \
             dpkg-shlibdeps says: {computed} (tauri.conf.json: bundle.linux.deb.depends)"
        );
    }
}

/// The shared libraries (`NEEDED`) of an ELF file.
fn needed(file: &Path) -> Vec<String> {
    run("objdump", &["-p", path_str(file)])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("NEEDED"))
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn the_rpm_holds_what_the_deb_does_and_requires_every_library_its_programs_link() {
    let rpm = rpm();
    let rpm = path_str(&rpm);
    let info = run(
        "rpm",
        &["-qp", "--qf", "%{NAME} %{VERSION} %{LICENSE}", rpm],
    );
    assert_eq!(info, format!("{PACKAGE} {VERSION} MIT OR Apache-2.0"));

    let (_dir, root) = unpack_deb("root");
    // Debian's own files aside, the two hold the same.
    let debian_only = [
        format!("usr/share/doc/{PACKAGE}/changelog.gz"),
        format!("usr/share/lintian/overrides/{PACKAGE}"),
    ];
    let from_deb: BTreeSet<String> = files_under(&root)
        .into_iter()
        .filter(|f| !debian_only.contains(f))
        .collect();
    let from_rpm: BTreeSet<String> = run("rpm", &["-qpl", rpm])
        .lines()
        .map(|l| l.trim_start_matches('/').to_owned())
        .collect();
    assert_eq!(from_rpm, from_deb);

    let requires = run("rpm", &["-qpR", rpm]);
    let requires: BTreeSet<&str> = requires.lines().map(str::trim).collect();
    for program in PROGRAMS {
        let libraries = needed(&root.join("usr/bin").join(program));
        assert!(
            libraries.iter().any(|l| l.starts_with("libc.so")),
            "{libraries:?}"
        );
        for library in libraries {
            // The dynamic loader is glibc's own; RPM names it only by path.
            if library.starts_with("ld-linux") {
                continue;
            }
            let capability = format!("{library}()(64bit)");
            assert!(
                requires.contains(capability.as_str()),
                "{program} links {library}; the rpm requires only {requires:?} \
                 (tauri.conf.json: bundle.linux.rpm.depends)"
            );
        }
    }
}

/// The package, installed for one test: purged again however the test ends,
/// after the processes it started from it are stopped.
struct Installed {
    pids: Vec<u32>,
}

impl Installed {
    fn install(deb: &Path) -> Installed {
        assert!(
            rustix::process::geteuid().is_root(),
            "installing the package needs root (CI runs the tests as root)"
        );
        assert!(
            !installed(),
            "{PACKAGE} is installed on this machine; this test installs and removes its own \
             package, so remove that one first (dpkg -r {PACKAGE})"
        );
        for program in PROGRAMS {
            let path = Path::new("/usr/bin").join(program);
            assert!(!path.exists(), "{} exists already", path.display());
        }
        let guard = Installed { pids: Vec::new() };
        run("dpkg", &["-i", path_str(deb)]);
        guard
    }

    /// Stopped (with everything under it) before the package goes.
    fn track(&mut self, pid: u32) {
        self.pids.push(pid);
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        for pid in &self.pids {
            proc::kill_tree(*pid);
        }
        if installed() || Path::new("/usr/bin/herald-agent").exists() {
            let _ = Command::new("dpkg").args(["--purge", PACKAGE]).status();
        }
    }
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", PACKAGE])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("ok installed"))
}

#[tokio::test(flavor = "multi_thread")]
async fn installed_the_window_starts_the_installed_agent_and_start_at_login_runs_it() {
    let mut package = Installed::install(&deb());
    assert!(installed(), "dpkg -i left {PACKAGE} not installed");
    let listed = run("dpkg", &["-L", PACKAGE]);
    for program in PROGRAMS {
        assert!(listed.lines().any(|l| l == format!("/usr/bin/{program}")));
    }
    let cli = run("/usr/bin/herald", &["--version"]);
    assert_eq!(cli.trim(), format!("herald-cli {VERSION}"));

    // The desktop's menu entry runs the window, alone: it finds the agent
    // beside itself and starts it. Signed out is enough for all of this.
    let watcher = Watcher::start().await;
    let user = Herald::new("package");
    let log = temp_dir("package-window").join("window.log");
    let out = std::fs::File::create(&log).expect("create the window log");
    let mut window = tokio::process::Command::new("/usr/bin/herald-desktop")
        .envs(user.envs())
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone the log"))
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .expect("start the installed herald-desktop");
    package.track(window.id().expect("a pid"));
    let agent_pid = agent::started_by_others(&user).await;
    package.track(agent_pid);
    let agent = ProcInfo::read(agent_pid).expect("the agent runs");
    assert_eq!(
        agent.exe.as_deref(),
        Some(Path::new("/usr/bin/herald-agent")),
        "{agent:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Its tray item registers, from that process.
    let item = watcher.wait_item().await;
    let dbus = zbus::fdo::DBusProxy::new(watcher.connection())
        .await
        .expect("a D-Bus proxy");
    let owner = dbus
        .get_connection_unix_process_id(
            zbus::names::BusName::try_from(item.bus.as_str()).expect("a bus name"),
        )
        .await
        .expect("the item's owner");
    assert_eq!(owner, agent_pid);
    x11::wait_window_mapped("Herald", true, WAIT).await;

    // "Start at login" runs the installed agent, not the window.
    let entry = user.home().join(".config/autostart/Herald.desktop");
    assert!(!entry.exists());
    item.click_label("Start at login").await;
    let text = wait_for("the autostart entry", WAIT, || async {
        std::fs::read_to_string(&entry).ok()
    })
    .await;
    assert_eq!(
        desktop_value(&text, "Exec"),
        Some("/usr/bin/herald-agent"),
        "{text}"
    );

    assert_eq!(x11::close_window_named("Herald"), 1, "one Herald window");
    let status = tokio::time::timeout(WAIT, window.wait())
        .await
        .expect("the window exits once closed")
        .expect("wait for the window");
    assert!(status.success(), "the window: {status}");
    item.click_label("Quit").await;
    item.wait_gone().await;
    wait_for("the agent to exit", WAIT, || async {
        (!proc::is_running(agent_pid)).then_some(())
    })
    .await;

    run("dpkg", &["-r", PACKAGE]);
    assert!(!installed());
    for program in PROGRAMS {
        let path = Path::new("/usr/bin").join(program);
        assert!(!path.exists(), "{} is still there", path.display());
    }
    drop(package);
}
