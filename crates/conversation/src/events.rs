//! What the engine reports for the call record and metrics.

use std::time::Duration;

use crate::ids::{TurnId, UtteranceId};

/// Who spoke a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The person on the phone.
    Caller,
    /// Our agent.
    Agent,
}

/// One line of the call's transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    /// Agent turns: the turn itself. Caller turns: the agent turn that was next in line when the
    /// transcript arrived (the one normally answering it).
    pub turn: TurnId,
    /// Who spoke.
    pub speaker: Speaker,
    /// Caller turns: the utterance transcribed.
    pub utterance: Option<UtteranceId>,
    /// Caller: the transcript. Agent: only the sentences the caller actually heard (their marks
    /// came back), so an interrupted answer is recorded as far as it got.
    pub text: String,
    /// Agent turns cut short by barge-in, a key press or the caller hanging up.
    pub interrupted: bool,
    /// An interrupted agent turn: the start of the sentence that was playing when the caller
    /// interrupted, estimated from elapsed time. An estimate, not heard for certain.
    pub partly_heard: Option<PartlyHeard>,
    /// Since the call started: when the caller began speaking, or when the agent's first audio
    /// was sent (when the turn ended, if none was).
    pub at: Duration,
    /// Agent turns: how long each stage took.
    pub timings: Option<TurnTimings>,
}

/// The estimated heard part of the sentence that was playing at an interruption.
#[derive(Debug, Clone, PartialEq)]
pub struct PartlyHeard {
    /// The sentence's leading words, in proportion to the elapsed share of its audio.
    pub estimated_text: String,
    /// Share of the sentence's audio estimated to have been played, 0..=1.
    pub fraction: f32,
}

/// Latencies of one agent turn. "End of speech" is the caller's last voiced frame (so the
/// configured end-of-turn silence is included where it applies); absent stages are `None`
/// (the greeting has no caller speech, a key press no transcript).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnTimings {
    /// End of speech → the engine decided the turn was over (the endpointing wait).
    pub endpointing: Option<Duration>,
    /// End of speech → final transcript.
    pub speech_to_transcript: Option<Duration>,
    /// Brain asked (on the transcript or key press) → first reply text.
    pub transcript_to_reply: Option<Duration>,
    /// First reply text → first synthesized audio.
    pub reply_to_audio: Option<Duration>,
    /// Preemptive turns: end of speech → the engine committed to answering (the transcript
    /// read as finished, or the caller stayed silent for `end_of_turn_silence`).
    pub commitment: Option<Duration>,
    /// End of speech (or key press) → first audio frame sent: the voice-to-voice latency the
    /// caller experiences.
    pub voice_to_voice: Option<Duration>,
}

/// Why an utterance produced no caller turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardReason {
    /// Less voiced audio than `min_speech`: a cough, a click, line noise.
    TooShort,
    /// STT heard nothing intelligible.
    EmptyTranscript,
}

/// Why a sentence was not spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechFailure {
    /// The TTS reported failure.
    Provider,
    /// No audio came within `synthesis_timeout`.
    Timeout,
}

/// What committed a preemptive turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commitment {
    /// The transcript read like a finished turn.
    Complete,
    /// It did not, but the caller stayed silent for `end_of_turn_silence`.
    Silence,
}

/// Why the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The agent said goodbye and the caller heard all of it.
    AgentEnded,
    /// The agent said goodbye; its marks never came back, so the engine hung up after
    /// `mark_timeout` (safety net).
    AgentEndedWithoutMarks,
    /// The agent was saying goodbye when the caller interrupted; the brain's decision to end
    /// the call stands.
    GoodbyeInterrupted,
    /// The far end hung up.
    CallerHungUp,
}

/// Something for the call record and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationEvent {
    /// A caller turn (on its transcript) or an agent turn (when heard, interrupted or dropped).
    TurnFinished(TurnRecord),
    /// The caller talked over the agent: playback was cleared and the turn cancelled.
    BargeIn {
        /// The interrupted turn.
        turn: TurnId,
        /// Sentences heard in full before the interruption.
        sentences_heard: usize,
        /// Since call start.
        at: Duration,
    },
    /// A turn the caller had not heard anything of was cancelled because the caller kept
    /// talking; the caller's words are answered together with the new ones.
    TurnSuperseded {
        /// The cancelled turn.
        turn: TurnId,
        /// Since call start.
        at: Duration,
    },
    /// An utterance was not passed on.
    UtteranceDiscarded {
        /// Set when it had been sent to STT.
        utterance: Option<UtteranceId>,
        /// Why.
        reason: DiscardReason,
        /// Since call start.
        at: Duration,
    },
    /// The caller spoke for `max_utterance` without a pause: the utterance was cut there.
    UtteranceCut {
        /// The cut utterance (sent to STT).
        utterance: UtteranceId,
        /// Since call start.
        at: Duration,
    },
    /// The caller pressed a key.
    Dtmf {
        /// The key.
        digit: char,
        /// Since call start.
        at: Duration,
    },
    /// A sentence was skipped because it could not be synthesized.
    SpeechFailed {
        /// Its turn.
        turn: TurnId,
        /// Its position.
        seq: u32,
        /// The sentence that was not spoken.
        text: String,
        /// Why.
        reason: SpeechFailure,
        /// Since call start.
        at: Duration,
    },
    /// A mark did not come back within `mark_timeout` of its estimated play-out; the sentence
    /// is assumed heard. Repeated ones point at a transport that drops marks.
    MarkTimedOut {
        /// Its turn.
        turn: TurnId,
        /// Its sentence.
        seq: u32,
        /// Since call start.
        at: Duration,
    },
    /// A preemptive turn was committed: its answer may now be played.
    TurnCommitted {
        /// The agent turn answering the caller.
        turn: TurnId,
        /// What committed it.
        by: Commitment,
        /// End of the caller's speech → the commitment.
        after_speech: Duration,
        /// Since call start.
        at: Duration,
    },
    /// The call is over; nothing but late transcripts is processed any more.
    CallEnded {
        /// Why.
        reason: EndReason,
        /// Since call start.
        at: Duration,
    },
}
