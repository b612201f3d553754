//! Where Herald keeps things, and its settings file.
//!
//! Settings live in `config.toml` in the OS config directory; the history in
//! the OS data directory. `HERALD_CONFIG_DIR` and `HERALD_DATA_DIR` override
//! the directories (tests use them), and `HERALD_SERVER` / `HERALD_ACCOUNT`
//! override the settings. Tokens are never here: they live in the keyring.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::notify::policy::PolicyConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no home directory to keep settings in; set HERALD_CONFIG_DIR and HERALD_DATA_DIR")]
    NoHome,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid settings: {reason}")]
    Invalid { path: String, reason: String },
}

/// The directories Herald uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// The OS directories, or the `HERALD_*_DIR` overrides.
    pub fn resolve() -> Result<Paths, ConfigError> {
        let env = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let project = directories::ProjectDirs::from("", "", "Herald");
        let config_dir = env("HERALD_CONFIG_DIR")
            .or_else(|| project.as_ref().map(|p| p.config_dir().to_path_buf()))
            .ok_or(ConfigError::NoHome)?;
        let data_dir = env("HERALD_DATA_DIR")
            .or_else(|| project.as_ref().map(|p| p.data_dir().to_path_buf()))
            .ok_or(ConfigError::NoHome)?;
        Ok(Paths {
            config_dir,
            data_dir,
        })
    }

    pub fn settings_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    pub fn inbox_file(&self) -> PathBuf {
        self.data_dir.join("inbox.db")
    }
}

/// Everything the user can set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The server URL, e.g. `https://notify.example.com`.
    pub server: Option<String>,
    /// The signed-in account's email; its tokens are in the keyring.
    pub account: Option<String>,
    /// The `loginId` of this device's own sign-in: its login alert is not shown.
    pub login_id: Option<String>,
    /// The plain `http://` server (its origin) the user chose to sign in to
    /// without TLS (`--insecure-http`); see [`crate::plain_http`].
    pub insecure_http: Option<String>,
    /// The CA certificate (PEM text) trusted for `server`, given at sign-in
    /// (`--ca-file`): kept here, so the file itself need not be.
    pub ca_pem: Option<String>,
    /// `http://host:port`: reach servers through this proxy (CONNECT)
    /// rather than `HTTPS_PROXY`/`HTTP_PROXY`; `NO_PROXY` still applies.
    pub proxy: Option<String>,
    /// Show desktop notifications (the history is kept either way).
    pub desktop_notifications: bool,
    /// Keep at most this many items in the history.
    pub history_limit: usize,
    pub notifications: PolicyConfig,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            server: None,
            account: None,
            login_id: None,
            insecure_http: None,
            ca_pem: None,
            proxy: None,
            desktop_notifications: true,
            history_limit: 20_000,
            notifications: PolicyConfig::default(),
        }
    }
}

impl Settings {
    /// How to reach `server`: its CA and the proxy.
    pub fn net_options(&self) -> crate::net::NetOptions {
        crate::net::NetOptions {
            ca_pem: self.ca_pem.clone(),
            proxy: self.proxy.clone(),
        }
    }

    /// Reads the settings file (defaults when there is none), then the
    /// `HERALD_SERVER` and `HERALD_ACCOUNT` overrides.
    pub fn load(paths: &Paths) -> Result<Settings, ConfigError> {
        let path = paths.settings_file();
        let mut settings = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        if let Some(server) = std::env::var("HERALD_SERVER")
            .ok()
            .filter(|s| !s.is_empty())
        {
            settings.server = Some(server);
        }
        if let Some(account) = std::env::var("HERALD_ACCOUNT")
            .ok()
            .filter(|s| !s.is_empty())
        {
            settings.account = Some(account);
        }
        Ok(settings)
    }

    /// Writes the settings file atomically (a temp file, then a rename).
    pub fn save(&self, paths: &Paths) -> Result<(), ConfigError> {
        let path = paths.settings_file();
        let io = |source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&paths.config_dir).map_err(io)?;
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension("toml.tmp");
        write_file(&tmp, &text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_paths() -> Paths {
        let dir = std::env::temp_dir().join(format!(
            "herald-config-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        Paths {
            config_dir: dir.join("config"),
            data_dir: dir.join("data"),
        }
    }

    #[test]
    fn settings_round_trip_and_default_when_missing() -> Result<(), ConfigError> {
        let paths = temp_paths();
        assert_eq!(Settings::load(&paths)?.server, None);
        let settings = Settings {
            server: Some("http://127.0.0.1:3000".into()),
            history_limit: 5,
            ..Settings::default()
        };
        settings.save(&paths)?;
        let loaded = Settings::load(&paths)?;
        assert_eq!(loaded.history_limit, 5);
        assert_eq!(loaded.server, settings.server);
        let _ = std::fs::remove_dir_all(paths.config_dir.parent().unwrap_or(&paths.config_dir));
        Ok(())
    }

    #[test]
    fn a_broken_file_is_a_clear_error() -> Result<(), ConfigError> {
        let paths = temp_paths();
        std::fs::create_dir_all(&paths.config_dir).map_err(|source| ConfigError::Io {
            path: "t".into(),
            source,
        })?;
        std::fs::write(paths.settings_file(), "server = [").map_err(|source| ConfigError::Io {
            path: "t".into(),
            source,
        })?;
        let error = Settings::load(&paths)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("config.toml"), "{error}");
        Ok(())
    }
}
