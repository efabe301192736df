//! What the driver feeds into a [`crate::Conversation`].

use audio::Frame;

use crate::ids::{TurnId, UtteranceId};

/// One thing that happened to the call, handed to [`crate::Conversation::handle`] together with
/// the instant it happened. Answers for turns or utterances the engine no longer waits for
/// (cancelled, superseded, unknown) are ignored, so the driver never has to filter races.
// Frames travel by value: caller audio is the hot path (50 a second), and moving 320 bytes is
// cheaper than allocating a box for each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The call is connected and media flows: speaks the greeting, if configured, as turn 0.
    Start,
    /// 20 ms of caller audio (Twilio sends one every 20 ms). Voice activity is decided inside.
    CallerAudio(Frame),
    /// The final transcript of an utterance sent out with [`crate::Output::Transcribe`]. The
    /// driver must answer every `Transcribe` exactly once; on STT failure send empty text, which
    /// the engine treats like noise.
    Transcript {
        /// The utterance transcribed.
        utterance: UtteranceId,
        /// What the caller said; empty or whitespace when nothing intelligible was heard.
        text: String,
    },
    /// A chunk of the brain's streamed reply (any size: a token, a word, sentences).
    ReplyText {
        /// The turn the brain is answering.
        turn: TurnId,
        /// The next piece of text.
        text: String,
    },
    /// The brain finished the reply of `turn`.
    ReplyDone {
        /// The turn finished.
        turn: TurnId,
        /// The brain wants the call to end once this reply has been heard.
        end_call: bool,
    },
    /// Synthesized audio of one sentence ([`crate::Output::Synthesize`]), already 8 kHz mono.
    SpeechAudio {
        /// The turn of the sentence.
        turn: TurnId,
        /// The sentence's position in the turn.
        seq: u32,
        /// The whole sentence's audio at 8 kHz.
        pcm8k: Vec<i16>,
    },
    /// Synthesis of one sentence failed: it is skipped (and reported as an event).
    SpeechFailed {
        /// The turn of the sentence.
        turn: TurnId,
        /// The sentence's position in the turn.
        seq: u32,
    },
    /// The far end played everything up to this mark (Twilio's `mark` echo), or flushed it
    /// after a `clear`.
    PlaybackMark(String),
    /// The caller pressed a key.
    Dtmf(char),
    /// A streaming speech provider (e.g. Deepgram's `speech_final` / `UtteranceEnd`) decided
    /// the caller's turn is over: the open utterance ends now and is sent to
    /// [`crate::Output::Transcribe`] as usual. Ignored when no utterance is open. With such a
    /// provider, set a long `end_of_turn_silence` so that the local timer is only a safety net.
    EndOfTurnDetected,
    /// Nothing happened, but time passed: due at [`crate::Conversation::poll_timeout`].
    Tick,
    /// The far end hung up (Twilio `stop`, socket closed).
    Hangup,
}
