//! Sans-IO end-of-turn detection over Deepgram live events (the recipe of spec section 2.4):
//! accumulate `is_final` segments and end the caller's turn on `speech_final` (fast) or on
//! `UtteranceEnd` (robust in noise, when `speech_final` never came), without ending it twice.

use crate::deepgram_live_messages::LiveEvent;

/// Tolerance when comparing audio timestamps: Deepgram rounds them to milliseconds.
const TIME_EPSILON_S: f64 = 0.001;

/// Assembles one caller turn at a time from [`LiveEvent`]s.
#[derive(Debug, Default, Clone)]
pub struct TurnAssembler {
    /// Non-empty final segments since the last end of turn.
    finals: Vec<String>,
    /// Latest interim text (replaced by every interim, cleared by a final).
    interim: String,
    /// Audio time (s) where the span that last ended a turn finished; an `UtteranceEnd` whose
    /// last word ends at or before it belongs to that already-ended turn.
    closed_until: f64,
}

impl TurnAssembler {
    /// An assembler with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one event. Returns the caller's whole turn (final segments joined by spaces) when
    /// this event ends it:
    /// - a final with `speech_final: true` (endpointing saw a pause), or with
    ///   `from_finalize: true` (we asked for the flush because our own turn logic decided the
    ///   turn is over);
    /// - an `UtteranceEnd` while finals are pending and not already ended by `speech_final`.
    ///
    /// Empty transcripts (silence) never end a turn on their own.
    pub fn handle(&mut self, event: &LiveEvent) -> Option<String> {
        match event {
            LiveEvent::Transcript {
                text,
                is_final: false,
                ..
            } => {
                self.interim = text.trim().to_string();
                None
            }
            LiveEvent::Transcript {
                text,
                is_final: true,
                speech_final,
                from_finalize,
                start,
                duration,
            } => {
                self.interim.clear();
                let text = text.trim();
                if !text.is_empty() {
                    self.finals.push(text.to_string());
                }
                if (*speech_final || *from_finalize) && !self.finals.is_empty() {
                    self.closed_until = self.closed_until.max(start + duration);
                    return Some(self.take_turn());
                }
                None
            }
            LiveEvent::UtteranceEnd { last_word_end } => {
                if self.finals.is_empty() || *last_word_end <= self.closed_until + TIME_EPSILON_S {
                    // Either nothing was said, or `speech_final` already ended this span's turn.
                    return None;
                }
                self.closed_until = self.closed_until.max(*last_word_end);
                Some(self.take_turn())
            }
            LiveEvent::SpeechStarted { .. } | LiveEvent::Metadata { .. } | LiveEvent::Unknown => {
                None
            }
        }
    }

    /// Whether final text is waiting for an end of turn.
    pub fn has_pending(&self) -> bool {
        !self.finals.is_empty()
    }

    /// The latest interim text ("" when none since the last final).
    pub fn interim(&self) -> &str {
        &self.interim
    }

    /// The final text accumulated so far in the current turn (joined by spaces).
    pub fn pending_text(&self) -> String {
        self.finals.join(" ")
    }

    fn take_turn(&mut self) -> String {
        self.interim.clear();
        std::mem::take(&mut self.finals).join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(
        text: &str,
        is_final: bool,
        speech_final: bool,
        start: f64,
        duration: f64,
    ) -> LiveEvent {
        LiveEvent::Transcript {
            text: text.to_string(),
            is_final,
            speech_final,
            from_finalize: false,
            start,
            duration,
        }
    }

    fn utterance_end(last_word_end: f64) -> LiveEvent {
        LiveEvent::UtteranceEnd { last_word_end }
    }

    #[test]
    fn speech_final_ends_the_turn_with_all_finals_joined() {
        let mut turns = TurnAssembler::new();
        assert_eq!(
            turns.handle(&result("I want", false, false, 0.0, 0.5)),
            None
        );
        assert_eq!(turns.interim(), "I want");
        assert_eq!(
            turns.handle(&result("I want to", true, false, 0.0, 1.0)),
            None
        );
        assert!(turns.has_pending());
        assert_eq!(turns.interim(), "");
        assert_eq!(
            turns.handle(&result("reschedule", false, false, 1.0, 0.4)),
            None
        );
        assert_eq!(
            turns.handle(&result("reschedule.", true, true, 1.0, 0.8)),
            Some("I want to reschedule.".to_string())
        );
        assert!(!turns.has_pending());
        assert_eq!(turns.interim(), "");
    }

    #[test]
    fn utterance_end_after_speech_final_does_not_end_the_turn_twice() {
        let mut turns = TurnAssembler::new();
        assert_eq!(
            turns.handle(&result("hello", true, true, 0.5, 1.0)),
            Some("hello".to_string())
        );
        assert_eq!(turns.handle(&utterance_end(1.4)), None);
    }

    #[test]
    fn late_utterance_end_of_an_ended_turn_does_not_cut_the_next_turn_short() {
        let mut turns = TurnAssembler::new();
        assert_eq!(
            turns.handle(&result("hello", true, true, 0.5, 1.0)),
            Some("hello".to_string())
        );
        // The caller already speaks again when the UtteranceEnd of the first turn arrives.
        assert_eq!(turns.handle(&result("and", true, false, 2.0, 0.5)), None);
        assert_eq!(turns.handle(&utterance_end(1.5)), None);
        assert!(turns.has_pending());
        assert_eq!(turns.handle(&utterance_end(2.45)), Some("and".to_string()));
    }

    #[test]
    fn utterance_end_ends_the_turn_when_speech_final_never_came() {
        let mut turns = TurnAssembler::new();
        assert_eq!(turns.handle(&result("noisy", true, false, 0.0, 1.0)), None);
        assert_eq!(turns.handle(&result("line", true, false, 1.0, 1.0)), None);
        assert_eq!(
            turns.handle(&utterance_end(1.9)),
            Some("noisy line".to_string())
        );
        assert_eq!(turns.handle(&utterance_end(1.9)), None);
    }

    #[test]
    fn silence_never_ends_a_turn() {
        let mut turns = TurnAssembler::new();
        assert_eq!(turns.handle(&result("", true, true, 0.0, 1.0)), None);
        assert_eq!(turns.handle(&utterance_end(0.9)), None);
        assert!(!turns.has_pending());
        // An empty speech_final after real finals still ends the pending turn.
        assert_eq!(turns.handle(&result("yes", true, false, 1.0, 0.5)), None);
        assert_eq!(
            turns.handle(&result(" ", true, true, 1.5, 0.3)),
            Some("yes".to_string())
        );
    }

    #[test]
    fn finalize_result_ends_the_turn_we_asked_to_flush() {
        let mut turns = TurnAssembler::new();
        let flushed = LiveEvent::Transcript {
            text: "book a table".to_string(),
            is_final: true,
            speech_final: false,
            from_finalize: true,
            start: 0.0,
            duration: 1.2,
        };
        assert_eq!(turns.handle(&flushed), Some("book a table".to_string()));
        assert_eq!(turns.handle(&utterance_end(1.1)), None);
    }

    #[test]
    fn interim_is_replaced_by_each_new_interim() {
        let mut turns = TurnAssembler::new();
        turns.handle(&result("book", false, false, 0.0, 0.5));
        turns.handle(&result("book a", false, false, 0.0, 1.0));
        assert_eq!(turns.interim(), "book a");
        assert!(!turns.has_pending());
        turns.handle(&LiveEvent::SpeechStarted { timestamp: 0.1 });
        assert_eq!(turns.interim(), "book a");
    }
}
