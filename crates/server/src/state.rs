//! Shared state of the server (cheap to clone: everything is behind `Arc`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
    /// Speech providers by name and the defaults (the pool's local ones unless configured).
    pub speech_providers: Arc<crate::SpeechProviders>,
    active: Arc<AtomicUsize>,
    /// Calls to connect elsewhere once their media stream closes (CallSid → number), read by
    /// the `<Connect action>` handler.
    transfers: Arc<Mutex<HashMap<String, String>>>,
    /// Calls in Gather mode (their brain lives between form posts).
    pub(crate) gather_calls: crate::gather::GatherCalls,
    /// Campaigns this process is dialing.
    pub(crate) campaign_runners: crate::campaigns::CampaignRunners,
    /// The dialer's clock, once dialing is configured.
    pub(crate) dialing_clock: Arc<std::sync::OnceLock<Arc<dyn dialer::Clock>>>,
    /// Bearer token of `/api/v1` (closed when unset).
    pub(crate) api_token: Option<Arc<str>>,
    /// Where call recordings go (recording is off when unset).
    pub(crate) recordings_dir: Option<Arc<std::path::PathBuf>>,
}

impl AppState {
    /// Bundles the server's parts.
    pub fn new(
        config: ServerConfig,
        store: Store,
        agents: AgentRegistry,
        speech: SpeechPool,
    ) -> Self {
        let speech_providers = Arc::new(crate::SpeechProviders::local(&speech));
        AppState {
            speech_providers,
            config: Arc::new(config),
            store,
            agents: Arc::new(agents),
            speech,
            active: Arc::new(AtomicUsize::new(0)),
            transfers: Arc::default(),
            gather_calls: Default::default(),
            campaign_runners: Default::default(),
            dialing_clock: Arc::default(),
            api_token: None,
            recordings_dir: None,
        }
    }

    /// Records every call (both sides, mixed) as a WAV in `dir`.
    pub fn with_recordings(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.recordings_dir = Some(Arc::new(dir.into()));
        self
    }

    /// Opens `/api/v1` to requests bearing `token`.
    pub fn with_api_token(mut self, token: impl Into<String>) -> Self {
        let token: String = token.into();
        self.api_token = (!token.is_empty()).then(|| Arc::from(token.as_str()));
        self
    }

    /// Uses `providers` (cloud engines, per-agent choices) instead of only the local models.
    pub fn with_speech_providers(mut self, providers: crate::SpeechProviders) -> Self {
        self.speech_providers = Arc::new(providers);
        self
    }

    /// Asks for `call_sid` to be connected to `number` when its stream ends.
    pub(crate) fn set_transfer(&self, call_sid: &str, number: &str) {
        if let Ok(mut t) = self.transfers.lock() {
            t.insert(call_sid.to_owned(), number.to_owned());
        }
    }

    /// The pending transfer of `call_sid`, if any, left in place.
    pub(crate) fn peek_transfer(&self, call_sid: &str) -> Option<String> {
        self.transfers
            .lock()
            .ok()
            .and_then(|t| t.get(call_sid).cloned())
    }

    /// Takes the pending transfer of `call_sid`, if any.
    pub(crate) fn take_transfer(&self, call_sid: &str) -> Option<String> {
        self.transfers
            .lock()
            .ok()
            .and_then(|mut t| t.remove(call_sid))
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
