//! Test doubles for callpilot's cloud providers. Each fake listens on loopback and speaks the same
//! wire protocol as the real service (see `shared/specs/`), so a client tested against a fake
//! works against the real service by changing only its base URL.

pub mod deepgram_speak;
pub use deepgram_speak::{FakeDeepgramSpeak, FakeDeepgramSpeakConfig};
pub mod openai_audio;
pub use openai_audio::{FakeOpenAiAudio, FakeOpenAiAudioConfig};

pub mod deepgram_listen;
pub use deepgram_listen::{
    FakeDeepgramListen, FakeError, FakeListenConfig, FakeListenHandle, ListenParams,
};
