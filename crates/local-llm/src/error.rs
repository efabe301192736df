//! Why installing, loading or running the embedded model failed.

use std::path::PathBuf;

/// Errors of the `local-llm` crate.
#[derive(Debug, thiserror::Error)]
pub enum LocalLlmError {
    /// Fetching or unpacking the model package failed.
    #[error("model install failed: {0}")]
    Install(String),
    /// A file-system operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// llama.cpp could not load the GGUF file or create an inference context for it.
    #[error("cannot load {path}: {message}")]
    Load { path: PathBuf, message: String },
    /// The conversation cannot be turned into a prompt (bad template, NUL bytes, no messages).
    #[error("cannot build the prompt: {0}")]
    Prompt(String),
    /// The prompt does not fit the context window.
    #[error("prompt has {prompt_tokens} tokens but the context holds {context} tokens")]
    PromptTooLong { prompt_tokens: usize, context: u32 },
    /// llama.cpp failed while evaluating tokens.
    #[error("llama.cpp decode failed: {0}")]
    Decode(String),
    /// The thread that owns the model is gone (it panicked or the backend was dropped).
    #[error("the model worker thread stopped")]
    WorkerStopped,
}

impl From<LocalLlmError> for brain::llm::LlmError {
    fn from(e: LocalLlmError) -> Self {
        brain::llm::LlmError::Backend(e.to_string())
    }
}
