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
pub const LABEL: &str = "dev.herald.desktop";

impl Autostart {
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Autostart {
        Autostart {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// The file that holds the entry (Linux, macOS).
    pub fn entry_file(&self) -> Result<PathBuf, AutostartError> {
        entry_file()
    }

    pub fn is_enabled(&self) -> bool {
        entry_file().is_ok_and(|f| f.exists())
    }

    /// Writes the entry; returns the state it is in afterwards.
    pub fn set(&self, on: bool) -> Result<bool, AutostartError> {
        let file = entry_file()?;
        let io = |source| AutostartError::Io {
            path: file.display().to_string(),
            source,
        };
        if on {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            std::fs::write(&file, self.entry_text()).map_err(io)?;
        } else {
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            }
        }
        Ok(self.is_enabled())
    }

    /// The entry's contents for this OS.
    pub fn entry_text(&self) -> String {
        if cfg!(target_os = "macos") {
            launch_agent(&self.program, &self.args)
        } else {
            desktop_entry(&self.program, &self.args)
        }
    }
}

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

#[cfg(windows)]
fn entry_file() -> Result<PathBuf, AutostartError> {
    let _ = home;
    Err(AutostartError::Unsupported(
        "the registry Run key is not written by this build",
    ))
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
    fn the_launch_agent_lists_the_arguments() {
        let text = launch_agent(Path::new("/Applications/Herald.app/x"), &[]);
        assert!(text.contains("<string>/Applications/Herald.app/x</string>"));
        assert!(text.contains("<key>RunAtLoad</key>"));
    }
}
