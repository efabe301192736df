//! Turn-taking quality: the labelled set ([`corpus`]) replayed through
//! [`conversation::Conversation`] on a virtual clock (`now` advanced 20 ms per frame) for each
//! `end_of_turn_silence`. For every setting: the median end-of-turn delay (end of the caller's
//! last word → [`conversation::Output::Transcribe`]) and the cut-off rate (a `Transcribe`
//! inside a labelled pause: the caller was cut off mid-sentence).

pub mod corpus;

use std::time::{Duration, Instant};

use audio::{Frame, FRAME_SAMPLES_8K};
use conversation::{Conversation, Input, Output, TurnConfig};
use serde::Serialize;

use crate::stats::{summarize, Summary};
use corpus::{Kind, LabelledTurn, RATE};

/// When the engine asked for transcription, in samples since the turn's audio began.
pub fn transcribe_points(turn: &LabelledTurn, config: &TurnConfig) -> Vec<usize> {
    let t0 = Instant::now();
    let mut conv = Conversation::new(config.clone(), t0);
    conv.handle(Input::Start, t0);
    while conv.poll_output().is_some() {}
    let mut points = Vec::new();
    for (i, chunk) in turn.pcm.chunks(FRAME_SAMPLES_8K).enumerate() {
        // A frame is handed over once its 20 ms have been received.
        let end = (i + 1) * FRAME_SAMPLES_8K;
        let now = t0 + Duration::from_micros(end as u64 * 1_000_000 / RATE as u64);
        if let Some(due) = conv.poll_timeout().filter(|d| *d <= now) {
            conv.handle(Input::Tick, due);
        }
        conv.handle(Input::CallerAudio(Frame::from_slice(chunk)), now);
        while let Some(out) = conv.poll_output() {
            if let Output::Transcribe { utterance, .. } = out {
                points.push(end);
                // Answer at once: the STT is not what is measured here.
                conv.handle(
                    Input::Transcript {
                        utterance,
                        text: "words".into(),
                    },
                    now,
                );
            }
        }
    }
    points
}

/// How one turn went under one setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnOutcome {
    /// A `Transcribe` fell inside a labelled pause.
    pub cut_off: bool,
    /// End of the last word → the first `Transcribe` after it (ms); `None` if none came.
    pub delay_ms: Option<f64>,
}

/// Judges `points` against the turn's labels.
pub fn judge(turn: &LabelledTurn, points: &[usize]) -> TurnOutcome {
    let cut_off = points
        .iter()
        .any(|&p| turn.hesitations.iter().any(|&(s, e)| p > s && p <= e));
    let delay_ms = points
        .iter()
        .find(|&&p| p >= turn.last_word_end)
        .map(|&p| (p - turn.last_word_end) as f64 * 1000.0 / RATE as f64);
    TurnOutcome { cut_off, delay_ms }
}

/// The figures of one endpointing setting.
#[derive(Debug, Clone, Serialize)]
pub struct SettingResult {
    pub end_of_turn_silence_ms: u64,
    pub turns: usize,
    pub end_of_turn_delay_ms: Option<Summary>,
    /// Share of the turns with a pause in which the caller was cut off.
    pub cut_off_rate: f64,
    /// Share of all turns cut off.
    pub cut_off_rate_all: f64,
    /// Turns never sent to STT after the last word (discarded as noise, or missed).
    pub missed: usize,
    /// Cut-offs per kind of turn.
    pub cut_offs_hesitation: usize,
    pub cut_offs_digits: usize,
}

/// Replays every turn under every setting.
pub fn sweep(set: &[LabelledTurn], settings_ms: &[u64]) -> Vec<SettingResult> {
    settings_ms
        .iter()
        .map(|&ms| {
            let cfg = TurnConfig {
                end_of_turn_silence: Duration::from_millis(ms),
                ..TurnConfig::default()
            };
            let outcomes: Vec<(Kind, bool, TurnOutcome)> = set
                .iter()
                .map(|t| {
                    let o = judge(t, &transcribe_points(t, &cfg));
                    (t.kind, !t.hesitations.is_empty(), o)
                })
                .collect();
            let delays: Vec<f64> = outcomes.iter().filter_map(|o| o.2.delay_ms).collect();
            let with_pause = outcomes.iter().filter(|o| o.1).count().max(1);
            let cut = outcomes.iter().filter(|o| o.2.cut_off).count();
            let cut_kind = |k: Kind| outcomes.iter().filter(|o| o.0 == k && o.2.cut_off).count();
            SettingResult {
                end_of_turn_silence_ms: ms,
                turns: set.len(),
                end_of_turn_delay_ms: summarize(&delays),
                cut_off_rate: cut as f64 / with_pause as f64,
                cut_off_rate_all: cut as f64 / set.len().max(1) as f64,
                missed: outcomes.iter().filter(|o| o.2.delay_ms.is_none()).count(),
                cut_offs_hesitation: cut_kind(Kind::Hesitation),
                cut_offs_digits: cut_kind(Kind::Digits),
            }
        })
        .collect()
}

/// The setting to use by default: the fastest (lowest median delay) whose cut-off rate over
/// all turns is at most `max_cut_off`; `None` when no setting qualifies.
pub fn recommend(results: &[SettingResult], max_cut_off: f64) -> Option<&SettingResult> {
    results
        .iter()
        .filter(|r| r.cut_off_rate_all <= max_cut_off && r.end_of_turn_delay_ms.is_some())
        .min_by(|a, b| {
            let m = |r: &SettingResult| r.end_of_turn_delay_ms.map_or(f64::MAX, |s| s.p50);
            m(a).total_cmp(&m(b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{silence, voiced_tone};

    /// Tone, 600 ms pause, tone, then silence: a turn with one hesitation.
    fn hesitating_turn() -> LabelledTurn {
        let mut pcm = silence(400, RATE);
        pcm.extend(voiced_tone(800, RATE, 6000.0));
        let s = pcm.len();
        pcm.extend(silence(600, RATE));
        let e = pcm.len();
        pcm.extend(voiced_tone(800, RATE, 6000.0));
        let last = pcm.len();
        pcm.extend(silence(2000, RATE));
        LabelledTurn {
            text: "test".into(),
            kind: Kind::Hesitation,
            noisy: false,
            pcm,
            last_word_end: last,
            hesitations: vec![(s, e)],
        }
    }

    #[test]
    fn short_endpointing_cuts_a_hesitation_and_long_endpointing_waits() {
        let t = hesitating_turn();
        let r = sweep(std::slice::from_ref(&t), &[200, 1000]);
        assert_eq!(r[0].cut_offs_hesitation, 1, "{:?}", r[0]);
        assert_eq!(r[1].cut_offs_hesitation, 0, "{:?}", r[1]);
        let d = r[1].end_of_turn_delay_ms.expect("turn ended").p50;
        assert!((1000.0..1300.0).contains(&d), "delay {d}");
    }

    #[test]
    fn judge_measures_delay_from_last_word_and_flags_points_in_pauses() {
        let t = hesitating_turn();
        let in_pause = t.hesitations[0].0 + 1600;
        let after = t.last_word_end + 3200;
        let o = judge(&t, &[in_pause, after]);
        assert!(o.cut_off);
        assert_eq!(o.delay_ms, Some(400.0));
        assert_eq!(judge(&t, &[]).delay_ms, None);
    }

    #[test]
    fn recommendation_is_the_fastest_setting_within_the_cut_off_limit() {
        let mk = |ms, p50, cut| SettingResult {
            end_of_turn_silence_ms: ms,
            turns: 60,
            end_of_turn_delay_ms: summarize(&[p50]),
            cut_off_rate: cut,
            cut_off_rate_all: cut,
            missed: 0,
            cut_offs_hesitation: 0,
            cut_offs_digits: 0,
        };
        let r = [
            mk(200, 220.0, 0.3),
            mk(500, 520.0, 0.04),
            mk(700, 720.0, 0.0),
        ];
        assert_eq!(recommend(&r, 0.05).unwrap().end_of_turn_silence_ms, 500);
        assert!(recommend(&r[..1], 0.05).is_none());
    }
}
