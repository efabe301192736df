//! callpilot's benchmark harness (issue 8):
//!
//! - `benches/per_frame.rs` (criterion): what one 20 ms frame costs in VAD, codecs, resampling
//!   and the conversation engine;
//! - [`load`]: N concurrent simulated Twilio Media Streams calls against the real server whose
//!   cloud speech engines are loopback fakes with fixed delays;
//! - [`turns`]: endpointing quality on a labelled, synthesized set of caller turns replayed
//!   through the engine on a virtual clock.
//!
//! The binary `callpilot-bench` runs the last two and writes results under `docs/benchmarks/`.

pub mod chart;
pub mod fake_speech;
pub mod load;
pub mod proc_stats;
pub mod signal;
pub mod stats;
pub mod turns;
