//! callpilot's benchmark harness (issue 8):
//!
//! - `benches/per_frame.rs` (criterion): what one 20 ms frame costs in VAD, codecs, resampling
//!   and the conversation engine;
//! - [`load`]: N concurrent simulated Twilio Media Streams calls against the real server whose
//!   cloud speech engines are loopback fakes with fixed delays;
//! - [`turns`]: endpointing quality on a labelled, synthesized set of caller turns replayed
//!   through the engine on a virtual clock;
//! - [`local`]: voice-to-voice latency with the embedded local models, split into endpointing,
//!   STT, brain and TTS.
//!
//! [`cli`] runs the last three (`callpilot bench …` or the binary `callpilot-bench …`) and
//! writes results under `docs/benchmarks/`.

pub mod chart;
pub mod cli;
pub mod fake_speech;
pub mod load;
pub mod local;
pub mod proc_stats;
pub mod signal;
pub mod stats;
pub mod turns;
