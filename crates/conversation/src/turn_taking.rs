//! Voice activity and endpointing: deciding from 20 ms frames when the caller starts talking,
//! when their words are substantial enough to interrupt the agent, and when their turn is over.
//!
//! Time here is counted in frames, not read from `now`: Twilio delivers one frame per 20 ms of
//! caller audio, but network jitter bunches their arrival, and a silence measured in frames is
//! the silence the caller actually made. `now` is only recorded for timings, and used for one
//! safety net: if frames stop arriving mid-utterance (a stalled stream), the utterance ends
//! `end_of_turn_silence + STALL_GRACE` after the last frame.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use audio::frame::join_frames;
use audio::{Frame, VadConfig, VoiceDetector};

use crate::config::{frames_in, TurnConfig};

/// Extra wait, beyond the end-of-turn silence, before a stalled stream ends an utterance
/// (generous, so ordinary jitter never cuts a caller off).
const STALL_GRACE: Duration = Duration::from_secs(1);

/// Decides whether a frame of caller audio holds speech. The built-in choice is the neural
/// [`VoiceDetector`]; tests and special deployments inject their own with
/// [`crate::Conversation::with_voice_decision`].
pub trait VoiceDecision: Send {
    /// Whether this 20 ms frame holds speech. Called once per frame, in order.
    fn is_speech(&mut self, frame: &Frame) -> bool;
}

impl VoiceDecision for VoiceDetector {
    fn is_speech(&mut self, frame: &Frame) -> bool {
        VoiceDetector::is_speech(self, frame)
    }
}

/// The default decision: earshot with the configured threshold.
pub(crate) fn default_voice_decision(config: &TurnConfig) -> Box<dyn VoiceDecision> {
    Box::new(VoiceDetector::new(VadConfig {
        threshold: config.vad_threshold,
    }))
}

/// A caller utterance that ended with enough speech to transcribe.
#[derive(Debug)]
pub(crate) struct EndedUtterance {
    /// Audio from the pre-roll to the end (trailing silence included: STT does not mind).
    pub pcm8k: Vec<i16>,
    /// When the first voiced frame of the onset arrived.
    pub onset_at: Instant,
    /// When the last voiced frame arrived: the caller's end of speech.
    pub last_voiced_at: Instant,
    /// Cut at `max_utterance` rather than ended by silence.
    pub cut: bool,
}

/// What a frame (or the passing of time) meant for turn-taking.
#[derive(Debug)]
pub(crate) enum TurnSignal {
    /// The current utterance just reached `barge_in_min_speech` of voiced audio: real speech,
    /// strong enough to interrupt the agent. Fires once per utterance.
    Confirmed,
    /// The caller's turn ended.
    Ended(EndedUtterance),
    /// The utterance ended with too little voiced audio.
    Discarded,
}

struct Utterance {
    frames: Vec<Frame>,
    voiced: usize,
    trailing_silence: usize,
    onset_at: Instant,
    last_voiced_at: Instant,
    last_frame_at: Instant,
    confirmed: bool,
}

/// The endpointer of one call.
pub(crate) struct Endpointer {
    onset_frames: usize,
    min_speech_frames: usize,
    confirm_frames: usize,
    silence_frames: usize,
    max_frames: usize,
    preroll_frames: usize,
    stall_after: Duration,
    /// Between utterances: the latest frames, so an utterance can start with pre-roll.
    ring: VecDeque<Frame>,
    /// Between utterances: consecutive voiced frames so far, and when the first of them came.
    run: usize,
    run_started_at: Option<Instant>,
    current: Option<Utterance>,
}

impl Endpointer {
    pub(crate) fn new(config: &TurnConfig) -> Self {
        let onset_frames = frames_in(config.speech_onset);
        let preroll_frames = (config.pre_roll.as_millis() as u64 / audio::FRAME_MS) as usize;
        Endpointer {
            onset_frames,
            min_speech_frames: frames_in(config.min_speech),
            confirm_frames: frames_in(config.barge_in_min_speech),
            // Preemptive turns end the utterance early; the engine decides when it counts.
            silence_frames: frames_in(
                config
                    .preemptive_silence
                    .unwrap_or(config.end_of_turn_silence)
                    .min(config.end_of_turn_silence),
            ),
            max_frames: frames_in(config.max_utterance).max(onset_frames),
            preroll_frames,
            stall_after: config.end_of_turn_silence + STALL_GRACE,
            ring: VecDeque::with_capacity(preroll_frames + onset_frames),
            run: 0,
            run_started_at: None,
            current: None,
        }
    }

    /// Whether the caller is in an utterance that has reached barge-in strength.
    pub(crate) fn in_confirmed_speech(&self) -> bool {
        self.current.as_ref().is_some_and(|u| u.confirmed)
    }

    /// Feeds one frame and its voice decision.
    pub(crate) fn push(&mut self, frame: Frame, voiced: bool, now: Instant) -> Option<TurnSignal> {
        let Some(u) = self.current.as_mut() else {
            return self.push_idle(frame, voiced, now);
        };
        u.frames.push(frame);
        u.last_frame_at = now;
        if voiced {
            u.voiced += 1;
            u.trailing_silence = 0;
            u.last_voiced_at = now;
            if !u.confirmed && u.voiced >= self.confirm_frames {
                u.confirmed = true;
                return Some(TurnSignal::Confirmed);
            }
        } else {
            u.trailing_silence += 1;
            if u.trailing_silence >= self.silence_frames {
                return Some(self.end(false));
            }
        }
        if u.frames.len() >= self.max_frames {
            return Some(self.end(true));
        }
        None
    }

    fn push_idle(&mut self, frame: Frame, voiced: bool, now: Instant) -> Option<TurnSignal> {
        if self.ring.len() == self.preroll_frames + self.onset_frames {
            self.ring.pop_front();
        }
        self.ring.push_back(frame);
        if !voiced {
            self.run = 0;
            self.run_started_at = None;
            return None;
        }
        self.run += 1;
        let onset_at = *self.run_started_at.get_or_insert(now);
        if self.run < self.onset_frames {
            return None;
        }
        // Onset: the ring holds the run plus up to `preroll_frames` before it.
        let confirmed = self.run >= self.confirm_frames;
        self.current = Some(Utterance {
            frames: self.ring.drain(..).collect(),
            voiced: self.run,
            trailing_silence: 0,
            onset_at,
            last_voiced_at: now,
            last_frame_at: now,
            confirmed,
        });
        self.run = 0;
        self.run_started_at = None;
        confirmed.then_some(TurnSignal::Confirmed)
    }

    /// When a stalled stream ends the current utterance, if one is open.
    pub(crate) fn stall_deadline(&self) -> Option<Instant> {
        self.current
            .as_ref()
            .map(|u| u.last_frame_at + self.stall_after)
    }

    /// Ends the utterance if caller audio stopped arriving (see the module docs).
    pub(crate) fn on_time(&mut self, now: Instant) -> Option<TurnSignal> {
        let deadline = self.stall_deadline()?;
        (now >= deadline).then(|| self.end(false))
    }

    /// Ends any open utterance now (the call is ending).
    pub(crate) fn flush(&mut self) -> Option<TurnSignal> {
        self.current.is_some().then(|| self.end(false))
    }

    fn end(&mut self, cut: bool) -> TurnSignal {
        let u = self
            .current
            .take()
            .expect("end() is only called with an open utterance");
        self.ring.clear();
        if u.voiced < self.min_speech_frames {
            return TurnSignal::Discarded;
        }
        TurnSignal::Ended(EndedUtterance {
            pcm8k: join_frames(&u.frames),
            onset_at: u.onset_at,
            last_voiced_at: u.last_voiced_at,
            cut,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    /// Feeds a voiced/unvoiced pattern; frame `k` is tagged with sample value `k` so tests can
    /// see which frames an utterance kept.
    fn feed(
        ep: &mut Endpointer,
        t0: Instant,
        start: usize,
        pattern: &[bool],
    ) -> Vec<(usize, TurnSignal)> {
        let mut out = Vec::new();
        for (i, &v) in pattern.iter().enumerate() {
            let k = start + i;
            let frame = Frame::from_slice(&[k as i16; 160]);
            if let Some(s) = ep.push(frame, v, t0 + FRAME * k as u32) {
                out.push((k, s));
            }
        }
        out
    }

    #[test]
    fn two_voiced_frames_are_not_an_onset() {
        let mut ep = Endpointer::new(&TurnConfig::default());
        let t0 = Instant::now();
        let signals = feed(
            &mut ep,
            t0,
            0,
            &[true, true, false, true, true, false, false],
        );
        assert!(signals.is_empty());
        assert!(ep.current.is_none());
    }

    #[test]
    fn utterance_keeps_pre_roll_before_first_voiced_frame() {
        let mut ep = Endpointer::new(&TurnConfig::default());
        let t0 = Instant::now();
        let mut pattern = vec![false; 30];
        pattern.extend([true; 20]);
        pattern.extend([false; 20]);
        let signals = feed(&mut ep, t0, 0, &pattern);
        let ended = signals.into_iter().find_map(|(_, s)| match s {
            TurnSignal::Ended(e) => Some(e),
            _ => None,
        });
        let e = ended.expect("utterance ended");
        // 10 frames (200 ms) of pre-roll before frame 30, then 20 voiced + 20 silent.
        assert_eq!(e.pcm8k[0], 20);
        assert_eq!(e.pcm8k.len(), 50 * 160);
        assert_eq!(e.onset_at, t0 + FRAME * 30);
        assert_eq!(e.last_voiced_at, t0 + FRAME * 49);
    }

    #[test]
    fn confirmation_fires_once_at_barge_in_threshold() {
        let mut ep = Endpointer::new(&TurnConfig::default());
        let t0 = Instant::now();
        let signals = feed(&mut ep, t0, 0, &[true; 30]);
        let confirmed: Vec<usize> = signals
            .iter()
            .filter(|(_, s)| matches!(s, TurnSignal::Confirmed))
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(confirmed, vec![9]); // 200 ms = 10 voiced frames
        assert!(ep.in_confirmed_speech());
    }

    #[test]
    fn stalled_stream_ends_the_utterance() {
        let mut ep = Endpointer::new(&TurnConfig::default());
        let t0 = Instant::now();
        feed(&mut ep, t0, 0, &[true; 20]);
        let deadline = ep.stall_deadline().expect("open utterance");
        assert!(ep.on_time(deadline - FRAME).is_none());
        assert!(matches!(ep.on_time(deadline), Some(TurnSignal::Ended(_))));
    }
}
