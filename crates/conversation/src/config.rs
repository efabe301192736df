//! Tunables of one call's turn-taking and playback.

use std::time::Duration;

use audio::FRAME_MS;

/// Why a [`TurnConfig`] cannot be used as given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A duration that must hold at least one 20 ms frame is shorter than that.
    #[error("{field} must be at least {FRAME_MS} ms (one audio frame), got {got:?}")]
    ShorterThanFrame {
        /// Name of the offending field.
        field: &'static str,
        /// The value given.
        got: Duration,
    },
    /// `min_speech` longer than `max_utterance`: no utterance could ever be transcribed.
    #[error("min_speech ({min_speech:?}) is longer than max_utterance ({max_utterance:?})")]
    MinSpeechExceedsMaxUtterance {
        /// The configured minimum.
        min_speech: Duration,
        /// The configured maximum.
        max_utterance: Duration,
    },
    /// The preemptive silence must be shorter than the silence that ends a turn for certain.
    #[error(
        "preemptive_silence ({preemptive:?}) is longer than end_of_turn_silence ({end_of_turn:?})"
    )]
    PreemptiveAfterEndOfTurn {
        /// The configured preemptive silence.
        preemptive: Duration,
        /// The configured end-of-turn silence.
        end_of_turn: Duration,
    },
    /// The VAD threshold is a probability.
    #[error("vad_threshold must lie in 0..=1, got {0}")]
    VadThreshold(f32),
}

/// Tunables of one call. `Default` gives values that work on the phone network; agents override
/// single fields (e.g. a slower `end_of_turn_silence` for callers who pause while reading numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnConfig {
    /// Silence after caller speech that ends the caller's turn for certain.
    pub end_of_turn_silence: Duration,
    /// Preemptive turns: the shorter silence after which the utterance is already transcribed
    /// and answered. The answer plays as soon as it is ready if the transcript reads like a
    /// finished turn ([`crate::TurnCompletion`]); otherwise it is held until the caller has
    /// been silent for `end_of_turn_silence`, and dropped if the caller goes on. `None`:
    /// every turn waits for `end_of_turn_silence`.
    pub preemptive_silence: Option<Duration>,
    /// Consecutive voiced audio needed before a speech onset counts (filters clicks and pops).
    pub speech_onset: Duration,
    /// Voiced audio an utterance needs to be transcribed; shorter ones are discarded as noise.
    pub min_speech: Duration,
    /// Voiced audio needed to interrupt the agent (barge-in) or supersede a pending answer.
    pub barge_in_min_speech: Duration,
    /// Audio kept from before the first voiced frame, so STT hears the soft start of a word.
    pub pre_roll: Duration,
    /// Longest utterance; a caller speaking longer is cut and transcribed in pieces.
    pub max_utterance: Duration,
    /// Most agent audio sent ahead of real time. Small keeps barge-in crisp (little to clear),
    /// large rides out network jitter.
    pub playout_lead: Duration,
    /// How long after its estimated play-out a mark may stay unechoed before it is assumed
    /// played. Keeps a transport that loses marks from stalling the call (and bounds the wait
    /// before hanging up after the goodbye).
    pub mark_timeout: Duration,
    /// How long the next sentence in line may wait for its synthesized audio before it is
    /// skipped, so a hung TTS never leaves the caller in dead air.
    pub synthesis_timeout: Duration,
    /// Spoken when the call connects, as turn 0. `None`: the caller speaks first.
    pub greeting: Option<String>,
    /// Speech probability at or above which a frame counts as voiced (built-in VAD only).
    pub vad_threshold: f32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            end_of_turn_silence: Duration::from_millis(400),
            preemptive_silence: None,
            speech_onset: Duration::from_millis(60),
            min_speech: Duration::from_millis(150),
            barge_in_min_speech: Duration::from_millis(200),
            pre_roll: Duration::from_millis(200),
            max_utterance: Duration::from_secs(15),
            playout_lead: Duration::from_millis(100),
            mark_timeout: Duration::from_secs(3),
            synthesis_timeout: Duration::from_secs(10),
            greeting: None,
            vad_threshold: 0.5,
        }
    }
}

impl TurnConfig {
    /// Checks that the values make sense together. [`crate::Conversation::new`] does not fail:
    /// it rounds what it must (e.g. a lead below one frame becomes one frame); call this where
    /// configuration is loaded to tell the operator instead.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let frame = Duration::from_millis(FRAME_MS);
        for (field, got) in [
            ("end_of_turn_silence", self.end_of_turn_silence),
            ("speech_onset", self.speech_onset),
            ("min_speech", self.min_speech),
            ("barge_in_min_speech", self.barge_in_min_speech),
            ("max_utterance", self.max_utterance),
            ("playout_lead", self.playout_lead),
        ] {
            if got < frame {
                return Err(ConfigError::ShorterThanFrame { field, got });
            }
        }
        if let Some(p) = self.preemptive_silence {
            if p < frame {
                return Err(ConfigError::ShorterThanFrame {
                    field: "preemptive_silence",
                    got: p,
                });
            }
            if p > self.end_of_turn_silence {
                return Err(ConfigError::PreemptiveAfterEndOfTurn {
                    preemptive: p,
                    end_of_turn: self.end_of_turn_silence,
                });
            }
        }
        if self.min_speech > self.max_utterance {
            return Err(ConfigError::MinSpeechExceedsMaxUtterance {
                min_speech: self.min_speech,
                max_utterance: self.max_utterance,
            });
        }
        if !(0.0..=1.0).contains(&self.vad_threshold) {
            return Err(ConfigError::VadThreshold(self.vad_threshold));
        }
        Ok(())
    }
}

/// Whole frames in `d`, rounded up, at least one.
pub(crate) fn frames_in(d: Duration) -> usize {
    let ms = d.as_millis() as u64;
    ms.div_ceil(FRAME_MS).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(TurnConfig::default().validate(), Ok(()));
    }

    #[test]
    fn lead_below_one_frame_is_rejected() {
        let c = TurnConfig {
            playout_lead: Duration::from_millis(5),
            ..TurnConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ShorterThanFrame {
                field: "playout_lead",
                ..
            })
        ));
    }

    #[test]
    fn durations_round_up_to_whole_frames() {
        assert_eq!(frames_in(Duration::from_millis(60)), 3);
        assert_eq!(frames_in(Duration::from_millis(150)), 8);
        assert_eq!(frames_in(Duration::ZERO), 1);
    }
}
