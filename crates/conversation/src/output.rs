//! What a [`crate::Conversation`] asks its driver to do.

use audio::Frame;

use crate::events::ConversationEvent;
use crate::ids::{TurnId, UtteranceId};

/// What the brain is asked to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerInput {
    /// The caller's words (several utterances joined when the caller kept talking before the
    /// previous answer was heard).
    Speech(String),
    /// A key the caller pressed.
    Dtmf(char),
}

/// One instruction for the driver, drained with [`crate::Conversation::poll_output`] in order.
// Frames travel by value (see `Input`): outgoing audio is the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Play this frame to the caller (Twilio `media`). Already paced: send it now.
    SendAudio(Frame),
    /// Put this mark into the far end's playback queue (Twilio `mark`); it must come back as
    /// [`crate::Input::PlaybackMark`] once the audio before it has been played.
    SendMark(String),
    /// Drop all audio buffered at the far end (Twilio `clear`): the caller barged in.
    ClearPlayback,
    /// Transcribe this whole utterance (8 kHz PCM16, with pre-roll) and answer with
    /// [`crate::Input::Transcript`].
    Transcribe {
        /// Echo this id in the transcript.
        utterance: UtteranceId,
        /// The caller's audio, from shortly before the first voiced frame to the end of turn.
        pcm8k: Vec<i16>,
    },
    /// Ask the brain to answer; stream the reply back as [`crate::Input::ReplyText`] chunks
    /// followed by one [`crate::Input::ReplyDone`].
    AskBrain {
        /// The new turn; echo it in every reply input.
        turn: TurnId,
        /// What the caller said or pressed.
        input: CallerInput,
    },
    /// Stop the brain and speech synthesis of this turn: its answers are no longer wanted.
    CancelTurn(TurnId),
    /// Synthesize one sentence; answer with [`crate::Input::SpeechAudio`] or
    /// [`crate::Input::SpeechFailed`]. Several may be in flight; answers may come in any order.
    Synthesize {
        /// The turn of the sentence.
        turn: TurnId,
        /// The sentence's position in the turn, from 0.
        seq: u32,
        /// The sentence.
        text: String,
    },
    /// End the call from our side (the goodbye has been heard).
    Hangup,
    /// Something for the call record and metrics.
    Event(ConversationEvent),
}
