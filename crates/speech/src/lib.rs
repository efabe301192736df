//! Speech for callpilot: the [`Stt`] and [`Tts`] traits, and their providers.
//!
//! Providers are blocking, CPU-bound and shared by every call (models load once per process);
//! [`pool::SpeechPool`] runs them on a bounded set of blocking workers so one slow transcription
//! never stalls another call's audio.

mod cloud_http;
pub mod ct2_to_ggml;
pub mod deepgram_config;
pub mod deepgram_live;
pub mod deepgram_live_messages;
pub mod deepgram_live_turns;
pub mod deepgram_speak;
pub mod error;
pub mod espeak;
pub mod fallback;
pub mod local;
pub mod models;
pub mod openai_speech;
pub mod piper;
pub mod pool;
pub mod whisper;

pub use deepgram_config::DeepgramConfig;
pub use deepgram_live::{DeepgramLive, LiveReceiver, LiveSender};
pub use deepgram_live_messages::{parse_server_message, ControlMessage, LiveEvent, LiveOptions};
pub use deepgram_live_turns::TurnAssembler;
pub use deepgram_speak::{DeepgramSpeaker, DeepgramTts, SpeakEncoding, SpeakEvent, SpeakOptions};
pub use error::SpeechError;
pub use espeak::{phonemize, EspeakTts};
pub use fallback::FallbackTts;
pub use local::{load_local, load_local_with, ModelOverrides};
pub use models::{check, install, InstallEvent, InstallReport, ModelDir, ModelSource};
pub use openai_speech::{OpenAiSpeechConfig, OpenAiStt, OpenAiTts};
pub use piper::PiperTts;
pub use whisper::WhisperStt;

/// Audio produced by a [`Tts`].
#[derive(Debug, Clone)]
pub struct SpeechAudio {
    /// Mono PCM16 samples.
    pub samples: Vec<i16>,
    /// Sample rate of `samples` in Hz.
    pub sample_rate: u32,
}

/// Speech-to-text over one complete utterance.
pub trait Stt: Send + Sync {
    /// Transcribes mono PCM16 `pcm` sampled at `sample_rate` Hz. Returns the text (possibly empty
    /// when nothing intelligible was said). Blocking and CPU-bound.
    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError>;
    /// Provider name for logs and call events (e.g. "whisper-tiny.en").
    fn name(&self) -> &str;
    /// Whether a call burns local CPU (models) rather than waiting on the network: only
    /// CPU-bound providers are limited to the pool's parallel slots.
    fn cpu_bound(&self) -> bool {
        true
    }
}

/// Text-to-speech of one sentence (or a few). Blocking and CPU-bound.
pub trait Tts: Send + Sync {
    /// Synthesises `text`.
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError>;
    /// Provider name for logs and call events (e.g. "piper:en_US-joe-medium").
    fn name(&self) -> &str;
    /// Whether a call burns local CPU (models) rather than waiting on the network: only
    /// CPU-bound providers are limited to the pool's parallel slots.
    fn cpu_bound(&self) -> bool {
        true
    }
}
