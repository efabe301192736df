//! Identifiers the engine hands out so that late answers from providers can be matched (or
//! recognised as stale) without the engine trusting the order in which they arrive.

use std::fmt;

/// One agent turn: the greeting (turn 0) or one answer of the brain. Never reused within a call,
/// so an answer for a cancelled turn can always be told apart from the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TurnId(pub u32);

/// One caller utterance sent to speech-to-text. Increases monotonically within a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtteranceId(pub u32);

impl fmt::Display for TurnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Display for UtteranceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}", self.0)
    }
}
