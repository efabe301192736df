//! The local carrier: places a phone call against a Twilio-compatible server with no phone bill.
//!
//! The sim plays Twilio's part of an inbound call using only the public Twilio protocols
//! (spec sections 1-4): it POSTs the signed voice webhook, reads the TwiML, opens the
//! `<Connect><Stream>` WebSocket with a signed handshake, streams the scripted caller's audio in
//! real time (one 20 ms `media` message per tick), plays the server's audio through a Twilio-like
//! playback buffer (echoing `mark`s, honouring `clear`), follows the TwiML after the stream,
//! posts the status callback, and finally transcribes what the caller heard into a
//! [`SimReport`] with per-turn latencies and every protocol deviation it noticed.
//!
//! It also plays Twilio for *outbound* calls: [`OutboundCarrier`] serves a Twilio-compatible
//! REST API (`Calls.json` create/update/fetch) and plays each callee by a per-number
//! [`FarEnd`] plan (busy, no answer, a scripted person, an answering machine with AMD), sending
//! the signed status and AMD callbacks Twilio would.
//!
//! [`run_call_in_mode`] plays the same caller script in ConversationRelay or Gather mode ([`CallMode`]).
//!
//! It is deliberately independent of the server's own code, so that it checks the server rather
//! than agreeing with it.
//!
//! ```no_run
//! # async fn demo(tts: std::sync::Arc<dyn speech::Tts>, stt: std::sync::Arc<dyn speech::Stt>) -> Result<(), Box<dyn std::error::Error>> {
//! let script = sim::CallerScript::load("scripts/callers/quick.yaml".as_ref())?;
//! let cfg = sim::SimConfig { server: "http://127.0.0.1:8080".into(), ..Default::default() };
//! let report = sim::run_call(&cfg, &script, tts, stt).await?;
//! println!("{}", report.render());
//! # Ok(()) }
//! ```

mod call;
pub mod error;
mod gather_call;
mod ids;
pub mod outbound;
mod outbound_call;
mod playback;
mod relay_call;
pub mod report;
mod rest_api;
pub mod script;
mod session;
pub mod signature;
mod text_log;
mod text_mode;
mod text_twiml;
mod twiml;
mod urls;
mod webhook;
mod wire;

pub use call::{run_call, SimConfig};
pub use error::{ScriptError, SimError};
pub use outbound::{FarEnd, LogEntry, LogKind, OutboundCall, OutboundCarrier, OutboundConfig};
pub use report::{EndReason, Entry, Issue, SimReport, StatusCallback, Turn};
pub use script::{CallerScript, Interrupt, Listen, Step};
pub use text_mode::{run_call_in_mode, CallMode};
