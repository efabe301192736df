//! Audio primitives for callpilot. Everything here is pure computation (no IO) so that the
//! conversation engine and the protocol adapters can share it and test it in isolation.
//!
//! The telephone network's native format is G.711 mu-law at 8 kHz in 20 ms frames; internally we
//! work in signed 16-bit PCM (`i16`) and convert at the edges.

pub mod frame;
pub mod mulaw;
pub mod resample;
pub mod vad;
pub mod wav;

pub use frame::{Frame, FRAME_MS, FRAME_SAMPLES_8K, SAMPLE_RATE_8K};
pub use resample::{resample, resample_i16};
pub use vad::{VadConfig, VoiceDetector};
pub use wav::{read_wav, write_wav, WavError};
