//! "Start at login": the OS's own way of running the agent when the user
//! signs in to the desktop.
//!
//! - Linux and the BSDs: an XDG autostart entry, `~/.config/autostart/Herald.desktop`.
//! - macOS: a LaunchAgent, `~/Library/LaunchAgents/<id>.plist`.
//! - Windows: the `Run` key of the current user (see [`Autostart::enable`]).
//!
//! The entry runs whatever program the caller names: the agent passes its own
//! path, so an installed package points at the installed agent.

use std::path::{Path, PathBuf};

/// Why the entry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    #[error("no home directory to write the start-at-login entry in")]
    NoHome,
    #[error("cannot write the start-at-login entry {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("start at login is not available on this system: {0}")]
    Unsupported(&'static str),
}

/// The start-at-login entry of one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autostart {
    program: PathBuf,
    args: Vec<String>,
}

/// The entry's name: what a desktop's "Startup Applications" list shows.
pub const NAME: &str = "Herald";
/// The macOS LaunchAgent label (the bundle identifier).
pub const LABEL: &str = crate::APP_ID;

impl Autostart {
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Autostart {
        Autostart {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Whether the entry is there.
    pub fn is_enabled(&self) -> bool {
        store::exists()
    }

    /// Writes the entry; returns the state it is in afterwards.
    pub fn set(&self, on: bool) -> Result<bool, AutostartError> {
        if on {
            store::write(&self.entry_text())?;
        } else {
            store::remove()?;
        }
        Ok(self.is_enabled())
    }

    /// The entry's contents for this OS: a desktop entry, a LaunchAgent
    /// plist, or the command line of a `Run` value.
    pub fn entry_text(&self) -> String {
        if cfg!(windows) {
            command_line(&self.program, &self.args)
        } else if cfg!(target_os = "macos") {
            launch_agent(&self.program, &self.args)
        } else {
            desktop_entry(&self.program, &self.args)
        }
    }
}

#[cfg(not(windows))]
mod store {
    //! Linux, the BSDs and macOS: the entry is a file.

    use std::path::Path;

    use super::AutostartError;

    pub(super) fn exists() -> bool {
        super::entry_file().is_ok_and(|f| f.exists())
    }

    pub(super) fn write(text: &str) -> Result<(), AutostartError> {
        let file = super::entry_file()?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(&file, e))?;
        }
        std::fs::write(&file, text).map_err(|e| io(&file, e))
    }

    pub(super) fn remove() -> Result<(), AutostartError> {
        let file = super::entry_file()?;
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&file, e)),
            _ => Ok(()),
        }
    }

    fn io(file: &Path, source: std::io::Error) -> AutostartError {
        AutostartError::Io {
            path: file.display().to_string(),
            source,
        }
    }
}

#[cfg(windows)]
mod store {
    //! Windows: a value named [`NAME`](super::NAME) under the current user's
    //! `Run` key, which Explorer runs at sign-in.

    use super::{AutostartError, NAME};

    pub(super) const RUN_KEY: &str = r"Software\Microsoft\Windows\CurrentVersion\Run";

    fn io(source: impl std::error::Error + Send + Sync + 'static) -> AutostartError {
        AutostartError::Io {
            path: format!(r"HKCU\{RUN_KEY}\{NAME}"),
            source: std::io::Error::other(source),
        }
    }

    pub(super) fn exists() -> bool {
        windows_registry::CURRENT_USER
            .open(RUN_KEY)
            .and_then(|key| key.get_string(NAME))
            .is_ok()
    }

    pub(super) fn write(command: &str) -> Result<(), AutostartError> {
        let key = windows_registry::CURRENT_USER.create(RUN_KEY).map_err(io)?;
        key.set_string(NAME, command).map_err(io)
    }

    pub(super) fn remove() -> Result<(), AutostartError> {
        let Ok(key) = windows_registry::CURRENT_USER.create(RUN_KEY) else {
            return Ok(());
        };
        if !exists() {
            return Ok(());
        }
        key.remove_value(NAME).map_err(io)
    }
}

#[cfg(not(windows))]
fn home() -> Result<PathBuf, AutostartError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or(AutostartError::NoHome)
}

#[cfg(target_os = "macos")]
fn entry_file() -> Result<PathBuf, AutostartError> {
    Ok(home()?.join(format!("Library/LaunchAgents/{LABEL}.plist")))
}

#[cfg(not(any(windows, target_os = "macos")))]
fn entry_file() -> Result<PathBuf, AutostartError> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .map_or_else(|| home().map(|h| h.join(".config")), Ok)?;
    Ok(config.join("autostart").join(format!("{NAME}.desktop")))
}

/// One argument of an `Exec` line, quoted as the Desktop Entry spec asks
/// when it holds anything a shell or the launcher would split on.
fn exec_arg(arg: &str) -> String {
    let plain = arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@".contains(c));
    if plain && !arg.is_empty() {
        return arg.to_owned();
    }
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        if c == '%' {
            quoted.push('%');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fn desktop_entry(program: &Path, args: &[String]) -> String {
    let mut exec = exec_arg(&program.to_string_lossy());
    for arg in args {
        exec.push(' ');
        exec.push_str(&exec_arg(arg));
    }
    format!(
        "[Desktop Entry]\nType=Application\nName={NAME}\n\
         Comment=Real-time notifications in the tray\nExec={exec}\nTerminal=false\n\
         X-GNOME-Autostart-enabled=true\n"
    )
}

/// One argument of a Windows command line, quoted the way the C runtime's
/// `CommandLineToArgvW` splits it back: in quotes when it holds a space, a
/// tab or a quote, with quotes and the backslashes before them escaped.
fn windows_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_owned();
    }
    let mut quoted = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                quoted.push_str(&"\\".repeat(backslashes * 2 + 1));
                backslashes = 0;
            }
            _ => {
                quoted.push_str(&"\\".repeat(backslashes));
                backslashes = 0;
            }
        }
        if c != '\\' {
            quoted.push(c);
        }
    }
    // Backslashes before the closing quote are doubled, so it stays a quote.
    quoted.push_str(&"\\".repeat(backslashes * 2));
    quoted.push('"');
    quoted
}

/// The `Run` value: the program, always quoted (its path usually holds
/// "Program Files"; a Windows path has no quote in it, and an executable's
/// does not end in a backslash), then the arguments.
fn command_line(program: &Path, args: &[String]) -> String {
    let mut line = format!("\"{}\"", program.to_string_lossy());
    for arg in args {
        line.push(' ');
        line.push_str(&windows_arg(arg));
    }
    line
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn launch_agent(program: &Path, args: &[String]) -> String {
    let mut argv = format!("    <string>{}</string>\n", xml(&program.to_string_lossy()));
    for arg in args {
        argv.push_str(&format!("    <string>{}</string>\n", xml(arg)));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n  <key>Label</key>\n  <string>{LABEL}</string>\n  \
         <key>ProgramArguments</key>\n  <array>\n{argv}  </array>\n  \
         <key>RunAtLoad</key>\n  <true/>\n</dict>\n</plist>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desktop_entry_runs_the_program_and_quotes_what_needs_it() {
        let text = desktop_entry(
            Path::new("/usr/bin/herald-agent"),
            &["--from-login".to_owned()],
        );
        assert!(
            text.lines()
                .any(|l| l == "Exec=/usr/bin/herald-agent --from-login"),
            "{text}"
        );
        assert_eq!(exec_arg("/opt/My Apps/herald"), "\"/opt/My Apps/herald\"");
        assert_eq!(exec_arg("50%$"), "\"50%%\\$\"");
    }

    #[test]
    fn the_run_value_quotes_as_windows_splits_it() {
        let line = command_line(
            Path::new(r"C:\Program Files\Herald\herald-agent.exe"),
            &["--from-login".to_owned(), "a b".to_owned()],
        );
        assert_eq!(
            line,
            r#""C:\Program Files\Herald\herald-agent.exe" --from-login "a b""#
        );
        assert_eq!(windows_arg(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(
            windows_arg(r"C:\dir with space\"),
            r#""C:\dir with space\\""#
        );
        assert_eq!(windows_arg(r#"a\"b"#), r#""a\\\"b""#);
        assert_eq!(windows_arg(""), r#""""#);
    }

    #[test]
    fn the_launch_agent_lists_the_arguments() {
        let text = launch_agent(Path::new("/Applications/Herald.app/x"), &[]);
        assert!(text.contains("<string>/Applications/Herald.app/x</string>"));
        assert!(text.contains("<key>RunAtLoad</key>"));
    }
}

/// The registry itself (wine's, under scripts/cross.sh): the `Run` value is
/// written with the quoted command line and removed again.
#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;

    #[test]
    fn start_at_login_writes_and_removes_the_run_value() {
        let run = || {
            windows_registry::CURRENT_USER
                .create(store::RUN_KEY)
                .expect("the Run key")
        };
        // A developer's own setting survives the test.
        let before = run().get_string(NAME).ok();
        let autostart = Autostart::new(r"C:\Program Files\Herald\herald-agent.exe", &[]);
        assert!(autostart.set(true).expect("enable"));
        assert_eq!(
            run().get_string(NAME).expect("the value"),
            r#""C:\Program Files\Herald\herald-agent.exe""#
        );
        assert!(!autostart.set(false).expect("disable"));
        assert!(run().get_string(NAME).is_err(), "the value is gone");
        assert!(!autostart.set(false).expect("disabling twice is fine"));
        if let Some(value) = before {
            run().set_string(NAME, value).expect("restore");
        }
    }
}
