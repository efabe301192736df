//! Shared state of the server (cheap to clone: everything is behind `Arc`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use speech::pool::SpeechPool;
use store::Store;

use crate::{AgentRegistry, ServerConfig};

/// What every route and call driver shares.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub store: Store,
    pub agents: Arc<AgentRegistry>,
    pub speech: SpeechPool,
    active: Arc<AtomicUsize>,
}

impl AppState {
    /// Bundles the server's parts.
    pub fn new(
        config: ServerConfig,
        store: Store,
        agents: AgentRegistry,
        speech: SpeechPool,
    ) -> Self {
        AppState {
            config: Arc::new(config),
            store,
            agents: Arc::new(agents),
            speech,
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Calls currently streaming.
    pub fn active_calls(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a call as active until the guard drops.
    pub(crate) fn call_guard(&self) -> ActiveCallGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveCallGuard(self.active.clone())
    }
}

/// Decrements the active-call count on drop.
pub(crate) struct ActiveCallGuard(Arc<AtomicUsize>);

impl Drop for ActiveCallGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
