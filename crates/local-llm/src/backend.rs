//! [`LlamaBackend`]: a GGUF model behind [`brain::llm::LlmBackend`].
//!
//! llama.cpp is synchronous and CPU-bound, and a context (with its KV cache) is not `Sync`, so
//! each backend owns one dedicated worker thread that loads the model, creates the context and
//! then serves requests one at a time from a queue. Keeping the context on that thread for the
//! backend's whole life is what lets the KV cache of the system prompt survive between turns;
//! the queue serialises requests the way a mutex around the context would, without blocking
//! any async runtime thread. Tokens travel back through an unbounded channel as they decode.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use brain::llm::{ChatRequest, LlmBackend, LlmError, LlmEvent, LlmStream};
use llama_cpp_2::llama_backend::LlamaBackend as LlamaCppBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use crate::session::{EventSender, Session};
use crate::LocalLlmError;

/// How the model runs. `Default` suits a small model on a 2-core host.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// CPU threads for prompt evaluation and generation (default 2).
    pub threads: u32,
    /// Context window in tokens: prompt plus reply (default 2048).
    pub context: u32,
    /// Reply length cap when the request sets none (default 120).
    pub max_tokens: u32,
    /// Sampling temperature when the request sets none; 0 means greedy (default 0).
    pub temperature: f32,
    /// Penalty for tokens repeated within the last 64 (1.0 = off; default 1.1): small models
    /// otherwise loop on open questions.
    pub repeat_penalty: f32,
    /// Strings that end the reply; they and anything after them are not emitted (default none:
    /// the model's end-of-turn token already ends a reply).
    pub stop: Vec<String>,
}

impl Default for LlamaConfig {
    fn default() -> Self {
        LlamaConfig {
            threads: 2,
            context: 2048,
            max_tokens: 120,
            temperature: 0.0,
            repeat_penalty: 1.1,
            stop: Vec::new(),
        }
    }
}

/// What one completed request cost, for logs, measurements and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnStats {
    /// Tokens in the rendered prompt.
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV cache was kept from earlier requests (not evaluated again).
    pub reused_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// Time to evaluate the prompt's new tokens.
    pub prompt_eval: Duration,
    /// Time from the request reaching the worker to the first sampled token.
    pub first_token: Duration,
    /// Time for the whole request.
    pub total: Duration,
}

/// One queued request.
struct Job {
    request: ChatRequest,
    events: EventSender,
}

/// An embedded GGUF chat model (llama.cpp) implementing [`LlmBackend`].
///
/// Tools in a [`ChatRequest`] are ignored: the small models this targets cannot call functions
/// reliably, so the backend only ever yields text and `Done`.
pub struct LlamaBackend {
    name: String,
    jobs: mpsc::Sender<Job>,
    last_turn: Arc<Mutex<Option<TurnStats>>>,
    load_time: Duration,
}

impl std::fmt::Debug for LlamaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaBackend")
            .field("name", &self.name)
            .finish()
    }
}

/// llama.cpp's global state may be initialised once per process; every backend shares it.
pub(crate) fn process_backend() -> Result<&'static LlamaCppBackend, LocalLlmError> {
    static BACKEND: OnceLock<Result<LlamaCppBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every tensor at load to stderr; route it through `tracing` instead.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaCppBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|message| LocalLlmError::Load {
            path: PathBuf::new(),
            message: format!("llama.cpp backend init: {message}"),
        })
}

impl LlamaBackend {
    /// Loads `gguf` on a new worker thread and waits until it is ready to answer.
    pub fn load(gguf: &Path, config: LlamaConfig) -> Result<Self, LocalLlmError> {
        let started = Instant::now();
        let backend = process_backend()?;
        if !gguf.is_file() {
            return Err(LocalLlmError::Load {
                path: gguf.to_path_buf(),
                message: "no such file".into(),
            });
        }
        let path = gguf.to_path_buf();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let last_turn = Arc::new(Mutex::new(None));
        let stats = Arc::clone(&last_turn);
        thread::Builder::new()
            .name("local-llm".into())
            .spawn(move || worker(backend, &path, config, ready_tx, job_rx, stats))?;
        let load_error = |message: String| LocalLlmError::Load {
            path: gguf.to_path_buf(),
            message,
        };
        ready_rx
            .recv()
            .map_err(|_| load_error("the worker thread died while loading".into()))?
            .map_err(load_error)?;
        let stem = gguf.file_stem().unwrap_or_default().to_string_lossy();
        Ok(LlamaBackend {
            name: format!("llama.cpp:{stem}"),
            jobs,
            last_turn,
            load_time: started.elapsed(),
        })
    }

    /// How long [`LlamaBackend::load`] took (model file, context, chat template).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Statistics of the most recently finished request, if any. Recorded before that request's
    /// `Done` event is sent, so a caller that has seen `Done` reads its own request's figures.
    pub fn last_turn(&self) -> Option<TurnStats> {
        *self.last_turn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LlmBackend for LlamaBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream_chat(&self, request: ChatRequest) -> LlmStream {
        let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let job = Job {
            request,
            events: events.clone(),
        };
        if self.jobs.send(job).is_err() {
            let _ = events.send(Err(LocalLlmError::WorkerStopped.into()));
        }
        drop(events);
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}

/// The worker thread: owns the model and its context, answers jobs until the backend is dropped.
fn worker(
    backend: &'static LlamaCppBackend,
    path: &Path,
    config: LlamaConfig,
    ready: mpsc::Sender<Result<(), String>>,
    jobs: mpsc::Receiver<Job>,
    last_turn: Arc<Mutex<Option<TurnStats>>>,
) {
    let model = match LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()) {
        Ok(model) => model,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let mut session = match Session::new(backend, &model, config) {
        Ok(session) => session,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    // Ends when every sender is gone, i.e. when the LlamaBackend is dropped.
    for job in jobs {
        if job.events.is_closed() {
            continue; // The caller gave up while the job was queued.
        }
        match session.run(&job.request, &job.events) {
            Ok(finished) => {
                tracing::debug!(stats = ?finished.stats, "local model turn");
                *last_turn.lock().unwrap_or_else(|e| e.into_inner()) = Some(finished.stats);
                let _ = job.events.send(Ok(LlmEvent::Done {
                    finish_reason: finished.finish_reason.to_string(),
                    usage: Some(finished.usage),
                }));
            }
            Err(e) => {
                let _ = job.events.send(Err(LlmError::from(e)));
            }
        }
    }
}
