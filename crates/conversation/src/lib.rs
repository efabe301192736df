//! The per-call conversation engine of callpilot, as a sans-IO state machine (in the manner of
//! `quinn-proto` and `str0m`): one [`Conversation`] per call takes [`Input`]s stamped with the
//! instant they happened and yields [`Output`]s. It owns no sockets, threads or clock, so every
//! turn-taking rule runs on a virtual clock in tests; a thin async driver (in the server)
//! turns bytes into inputs and outputs into bytes.
//!
//! ```no_run
//! # use conversation::{Conversation, Input, Output, TurnConfig};
//! # use std::time::Instant;
//! let mut call = Conversation::new(TurnConfig::default(), Instant::now());
//! call.handle(Input::Start, Instant::now());
//! while let Some(out) = call.poll_output() {
//!     match out {
//!         Output::SendAudio(frame) => { /* Twilio `media` */ }
//!         Output::Synthesize { .. } => { /* start TTS, answer with Input::SpeechAudio */ }
//!         _ => {}
//!     }
//! }
//! // ... and when nothing arrives: sleep until `call.poll_timeout()`, then handle(Input::Tick).
//! ```
//!
//! # Rules the engine implements
//!
//! **Caller turns.** Every 20 ms frame gets a voice decision (earshot by default, injectable via
//! [`VoiceDecision`]). `speech_onset` of consecutive voiced frames starts an utterance, which
//! keeps `pre_roll` of audio from before it; `end_of_turn_silence` of unvoiced frames ends it.
//! With at least `min_speech` of voiced audio it goes to STT as one [`Output::Transcribe`]
//! (Whisper works on whole utterances); otherwise it is discarded as noise. A caller talking
//! for `max_utterance` is cut there and transcribed in pieces.
//!
//! **Preemptive turns.** With `preemptive_silence` set, the utterance already ends (and is
//! transcribed and answered) after that shorter silence. A [`TurnCompletion`] judges the
//! transcript: a finished-sounding turn is committed at once and its answer plays when ready; an
//! unfinished one ("I would like to") is held, committed only once the caller has been silent
//! for `end_of_turn_silence`, and dropped as superseded if the caller goes on. Each commitment is
//! reported as [`ConversationEvent::TurnCommitted`]. The wait for the caller is thus spent
//! producing the answer instead of before it.
//!
//! **Answering.** A non-empty transcript becomes [`Output::AskBrain`] for a new turn, unless
//! more caller words are coming (the caller is talking again, or another transcript is
//! outstanding): then the words are held and answered together. When the caller keeps talking
//! (`barge_in_min_speech` of voiced audio) before any of an answer was heard, that answer is
//! cancelled ([`Output::CancelTurn`]) and its words are answered with the new ones.
//!
//! **Speaking.** Reply text is split into sentences as it streams in; each is sent to TTS at
//! once. Audio is played strictly in sentence order, paced so that at most `playout_lead` is
//! ever buffered at the far end, with a mark after each sentence. A sentence counts as heard
//! when its mark comes back. A sentence whose audio never comes is skipped after
//! `synthesis_timeout`, a mark that never comes back is assumed heard after `mark_timeout`.
//!
//! **Barge-in.** `barge_in_min_speech` of caller speech while an answer is partly heard clears
//! the far end's buffer ([`Output::ClearPlayback`]), cancels the turn and records it as heard
//! so far (plus a labelled estimate of the sentence cut off). Marks Twilio echoes after the
//! clear are ignored: those sentences were not played. A caller's short sound while the agent
//! speaks (transcribed, but under the barge-in threshold) is recorded as a backchannel and
//! not answered. A key press interrupts like barge-in and is answered as its own turn.
//!
//! **Ending.** After [`Input::ReplyDone`] with `end_call`, the call is closing: caller input is
//! recorded but no longer answered, and once the goodbye's last mark is back (or timed out)
//! the engine emits [`Output::Hangup`]. Barge-in still works during the goodbye, so the caller
//! is not talked over, but the brain's decision stands: the call then ends at once.
//!
//! Every turn, barge-in, discard, key press, failure and the end of the call is reported as an
//! [`Output::Event`] ([`ConversationEvent`]) for the call record and metrics, agent turns with
//! their [`TurnTimings`].

mod agent_turn;
mod config;
mod engine;
mod events;
mod ids;
mod input;
mod output;
mod playback;
mod sentences;
mod turn_completion;
mod turn_taking;

pub use config::{ConfigError, TurnConfig};
pub use engine::Conversation;
pub use events::{
    Commitment, ConversationEvent, DiscardReason, EndReason, PartlyHeard, Speaker, SpeechFailure,
    TurnRecord, TurnTimings,
};
pub use ids::{TurnId, UtteranceId};
pub use input::Input;
pub use output::{CallerInput, Output};
pub use turn_completion::{Completion, LexicalCompletion, TurnCompletion};
pub use turn_taking::VoiceDecision;
