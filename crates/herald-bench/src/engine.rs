//! Herald's engine as the client scenarios run it: signed in with an
//! in-memory secret store, and a counting notifier in place of D-Bus.
//!
//! The figure is "emit → notifier call": the notifier is where the engine
//! hands a toast to the desktop, so counting and timestamping that call
//! measures the engine, not the notification daemon.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_core::config::{Paths, Settings};
use herald_core::engine::{Engine, EngineParts};
use herald_core::link::LinkConfig;
use herald_core::notify::{ActionInvoked, Notifier, NotifyError, Toast};
use herald_core::secret::{MemoryStore, SecretStore};
use herald_core::status::ConnectionState;
use tokio::sync::mpsc;

use crate::clock::now_ns;
use crate::probe::Marks;

/// Counts toasts and timestamps each by its inbox item id.
#[derive(Debug, Default)]
pub struct CountingNotifier {
    pub shown: AtomicU64,
    pub at: Arc<Marks>,
    /// The first toasts' summaries, to say what a burst showed.
    pub first: std::sync::Mutex<Vec<String>>,
}

impl Notifier for CountingNotifier {
    fn show(&self, toast: &Toast) -> Result<(), NotifyError> {
        let at = now_ns();
        if let Some(item) = toast.item_id.and_then(|id| u64::try_from(id).ok()) {
            self.at.mark(item, at);
        }
        if self.shown.fetch_add(1, Ordering::Relaxed) < 10 {
            self.first
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(toast.summary.clone());
        }
        Ok(())
    }
}

/// A running engine and what the bench reads off it.
#[derive(Debug)]
pub struct BenchEngine {
    pub engine: Engine,
    pub notifier: Arc<CountingNotifier>,
    // Held so the engine's action channel stays open, as in the CLI.
    _actions: mpsc::UnboundedSender<ActionInvoked>,
}

/// Signs in to `url` as `email` in `dir`, starts the engine and waits until
/// it is connected.
pub async fn start(
    dir: &Path,
    url: &str,
    email: &str,
    password: &str,
    tune: impl FnOnce(&mut Settings),
) -> anyhow::Result<BenchEngine> {
    let paths = Paths {
        config_dir: dir.join("config"),
        data_dir: dir.join("data"),
    };
    let store = Arc::new(MemoryStore::new());
    herald_core::session::sign_in(
        &paths,
        store.clone(),
        url,
        email,
        password,
        herald_core::session::Transport::Secure,
        None,
    )
    .await?;
    let mut settings = Settings::load(&paths)?;
    tune(&mut settings);
    let notifier = Arc::new(CountingNotifier::default());
    let parts = EngineParts {
        paths,
        settings,
        store: store as Arc<dyn SecretStore>,
        notifier: Some(notifier.clone() as Arc<dyn Notifier>),
        link: LinkConfig::default(),
        markup: false,
    };
    let (actions, action_rx) = mpsc::unbounded_channel();
    let engine = Engine::start(parts, action_rx).await?;
    let mut status = engine.status();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while status.borrow_and_update().state != ConnectionState::Connected {
            if status.changed().await.is_err() {
                break;
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the engine did not connect in 30 s"))?;
    Ok(BenchEngine {
        engine,
        notifier,
        _actions: actions,
    })
}
