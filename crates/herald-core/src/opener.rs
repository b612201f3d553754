//! Opening a link in the user's browser.

/// Why a link could not be handed to the opener.
#[derive(Debug, thiserror::Error)]
#[error("cannot run {opener}: {source}")]
pub struct OpenError {
    pub opener: String,
    pub source: std::io::Error,
}

/// The program that opens links: `HERALD_OPENER` when set (tests point it
/// at a recorder), else the desktop's own.
pub fn opener() -> String {
    std::env::var("HERALD_OPENER")
        .ok()
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".into()
            } else if cfg!(windows) {
                "explorer".into()
            } else {
                "xdg-open".into()
            }
        })
}

/// Hands `url` to the opener without waiting for it. The caller has already
/// checked that the URL is safe to open.
pub fn open(url: &str) -> Result<(), OpenError> {
    let opener = opener();
    std::process::Command::new(&opener)
        .arg(url)
        .spawn()
        .map(drop)
        .map_err(|source| OpenError { opener, source })
}
