//! Turn-taking quality: the labelled set ([`corpus`]) replayed through
//! [`conversation::Conversation`] on a virtual clock (`now` advanced 20 ms per frame) for each
//! endpointing setting. For every setting: the median end-of-turn delay (end of the caller's
//! last word → the moment the engine commits to answering) and the cut-off rate (a commitment
//! inside a labelled pause: the caller was cut off mid-sentence).
//!
//! Without preemption the engine commits when it sends the utterance to STT
//! ([`conversation::Output::Transcribe`] after `end_of_turn_silence`). With
//! `preemptive_silence` it transcribes after the short silence and commits when the transcript
//! reads as finished ([`conversation::ConversationEvent::TurnCommitted`]), so the transcript
//! matters: the bench answers every `Transcribe` with the words an ideal streaming STT would
//! have heard in that stretch of audio ([`corpus::LabelledTurn::words_between`]), after
//! `stt_ms` of virtual time.

pub mod corpus;
pub mod judges;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use audio::{Frame, FRAME_SAMPLES_8K};
use conversation::{Conversation, ConversationEvent, Input, Output, TurnConfig};
use serde::Serialize;

use crate::stats::{summarize, Summary};
use corpus::{Kind, LabelledTurn, RATE};
pub use judges::Judge;

/// One endpointing setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// `TurnConfig::preemptive_silence` in ms (`None`: no preemption).
    pub preemptive_silence_ms: Option<u64>,
    /// `TurnConfig::end_of_turn_silence` in ms.
    pub end_of_turn_silence_ms: u64,
}

impl Setting {
    fn config(&self) -> TurnConfig {
        TurnConfig {
            end_of_turn_silence: Duration::from_millis(self.end_of_turn_silence_ms),
            preemptive_silence: self.preemptive_silence_ms.map(Duration::from_millis),
            ..TurnConfig::default()
        }
    }
}

/// How one turn was replayed: where the engine committed to answering, in samples since the
/// turn's audio began, and how many prepared answers it threw away.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    pub commit_points: Vec<usize>,
    pub superseded: usize,
}

/// Replays `turn` under `setting`, answering transcripts after `stt_ms` of virtual time.
pub fn replay(turn: &LabelledTurn, setting: Setting, stt_ms: u64, judge: &Judge) -> Replay {
    let preemptive = setting.preemptive_silence_ms.is_some();
    let t0 = Instant::now();
    let at = |sample: usize| t0 + Duration::from_micros(sample as u64 * 1_000_000 / RATE as u64);
    let mut conv = Conversation::new(setting.config(), t0).with_turn_completion(judge.for_call());
    conv.handle(Input::Start, t0);
    while conv.poll_output().is_some() {}
    let mut replay = Replay::default();
    // Transcripts on their way back: (due sample, utterance, text).
    let mut stt: VecDeque<(usize, conversation::UtteranceId, String)> = VecDeque::new();
    let stt_samples = (stt_ms * RATE as u64 / 1000) as usize;
    let mut heard_until = 0;
    for (i, chunk) in turn.pcm.chunks(FRAME_SAMPLES_8K).enumerate() {
        // A frame is handed over once its 20 ms have been received.
        let end = (i + 1) * FRAME_SAMPLES_8K;
        let now = at(end);
        if let Some(due) = conv.poll_timeout().filter(|d| *d <= now) {
            conv.handle(Input::Tick, due);
        }
        while stt.front().is_some_and(|(due, _, _)| *due <= end) {
            let (due, utterance, text) = stt.pop_front().expect("checked");
            conv.handle(Input::Transcript { utterance, text }, at(due));
        }
        conv.handle(Input::CallerAudio(Frame::from_slice(chunk)), now);
        while let Some(out) = conv.poll_output() {
            match out {
                Output::Transcribe { utterance, .. } => {
                    if !preemptive {
                        replay.commit_points.push(end);
                    }
                    let text = turn.words_between(heard_until, end);
                    heard_until = end;
                    if stt_samples == 0 {
                        conv.handle(Input::Transcript { utterance, text }, now);
                    } else {
                        stt.push_back((end + stt_samples, utterance, text));
                    }
                }
                Output::Event(ConversationEvent::TurnCommitted { .. }) => {
                    replay.commit_points.push(end);
                }
                Output::Event(ConversationEvent::TurnSuperseded { .. }) => replay.superseded += 1,
                _ => {}
            }
        }
    }
    replay
}

/// How one turn went under one setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnOutcome {
    /// A commitment fell inside a labelled pause.
    pub cut_off: bool,
    /// ... early enough in it that the answer's first audio (`answer_samples` after the
    /// commitment) would have played before the caller went on: what the caller hears.
    pub audible_cut_off: bool,
    /// End of the last word → the first `Transcribe` after it (ms); `None` if none came.
    pub delay_ms: Option<f64>,
}

/// Judges `points` against the turn's labels; the answer's first audio plays `answer_samples`
/// after a commitment.
pub fn judge(turn: &LabelledTurn, points: &[usize], answer_samples: usize) -> TurnOutcome {
    let in_pause = |p: usize| turn.hesitations.iter().any(|&(s, e)| p > s && p <= e);
    let cut_off = points.iter().any(|&p| in_pause(p));
    let audible_cut_off = points.iter().any(|&p| {
        turn.hesitations
            .iter()
            .any(|&(s, e)| p > s && p + answer_samples < e)
    });
    let delay_ms = points
        .iter()
        .find(|&&p| p >= turn.last_word_end)
        .map(|&p| (p - turn.last_word_end) as f64 * 1000.0 / RATE as f64);
    TurnOutcome {
        cut_off,
        audible_cut_off,
        delay_ms,
    }
}

/// The figures of one endpointing setting.
#[derive(Debug, Clone, Serialize)]
pub struct SettingResult {
    #[serde(flatten)]
    pub setting: Setting,
    /// Virtual STT latency the transcripts came back after.
    pub stt_ms: u64,
    /// The completion judge (preemptive settings).
    pub judge: String,
    pub turns: usize,
    pub end_of_turn_delay_ms: Option<Summary>,
    /// Share of the turns with a pause in which the caller was cut off.
    pub cut_off_rate: f64,
    /// Share of all turns cut off.
    pub cut_off_rate_all: f64,
    /// Time from a commitment to the answer's first audio assumed for `audible_cut_off_rate`.
    pub answer_ms: u64,
    /// Share of all turns where the answer would have started playing inside a pause.
    pub audible_cut_off_rate: f64,
    /// Turns never committed after the last word (discarded as noise, or missed).
    pub missed: usize,
    /// Cut-offs per kind of turn.
    pub cut_offs_hesitation: usize,
    pub cut_offs_digits: usize,
    /// Prepared answers thrown away because the caller went on (wasted brain and TTS work).
    pub superseded: usize,
}

/// Replays every turn under every setting.
pub fn sweep(
    set: &[LabelledTurn],
    settings: &[Setting],
    stt_ms: u64,
    answer_ms: u64,
    completion: &Judge,
) -> Vec<SettingResult> {
    let answer_samples = (answer_ms * RATE as u64 / 1000) as usize;
    settings
        .iter()
        .map(|&setting| {
            let replays: Vec<Replay> = set
                .iter()
                .map(|t| replay(t, setting, stt_ms, completion))
                .collect();
            let outcomes: Vec<(Kind, bool, TurnOutcome)> = set
                .iter()
                .zip(&replays)
                .map(|(t, r)| {
                    (
                        t.kind,
                        !t.hesitations.is_empty(),
                        judge(t, &r.commit_points, answer_samples),
                    )
                })
                .collect();
            let delays: Vec<f64> = outcomes.iter().filter_map(|o| o.2.delay_ms).collect();
            let with_pause = outcomes.iter().filter(|o| o.1).count().max(1);
            let cut = outcomes.iter().filter(|o| o.2.cut_off).count();
            let cut_kind = |k: Kind| outcomes.iter().filter(|o| o.0 == k && o.2.cut_off).count();
            SettingResult {
                setting,
                stt_ms,
                judge: if setting.preemptive_silence_ms.is_some() {
                    completion.name()
                } else {
                    "–".into()
                },
                turns: set.len(),
                end_of_turn_delay_ms: summarize(&delays),
                cut_off_rate: cut as f64 / with_pause as f64,
                cut_off_rate_all: cut as f64 / set.len().max(1) as f64,
                answer_ms,
                audible_cut_off_rate: outcomes.iter().filter(|o| o.2.audible_cut_off).count()
                    as f64
                    / set.len().max(1) as f64,
                missed: outcomes.iter().filter(|o| o.2.delay_ms.is_none()).count(),
                cut_offs_hesitation: cut_kind(Kind::Hesitation),
                cut_offs_digits: cut_kind(Kind::Digits),
                superseded: replays.iter().map(|r| r.superseded).sum(),
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
            words: vec![
                (s, "I would like to".into()),
                (last, "change my address".into()),
            ],
        }
    }

    fn plain(ms: u64) -> Setting {
        Setting {
            preemptive_silence_ms: None,
            end_of_turn_silence_ms: ms,
        }
    }

    #[test]
    fn short_endpointing_cuts_a_hesitation_and_long_endpointing_waits() {
        let t = hesitating_turn();
        let r = sweep(
            std::slice::from_ref(&t),
            &[plain(200), plain(1000)],
            0,
            300,
            &Judge::Lexical,
        );
        assert_eq!(r[0].cut_offs_hesitation, 1, "{:?}", r[0]);
        assert_eq!(r[1].cut_offs_hesitation, 0, "{:?}", r[1]);
        let d = r[1].end_of_turn_delay_ms.expect("turn ended").p50;
        assert!((1000.0..1300.0).contains(&d), "delay {d}");
    }

    #[test]
    fn preemption_commits_at_once_after_a_finished_sentence_and_holds_an_unfinished_one() {
        let t = hesitating_turn();
        let setting = Setting {
            preemptive_silence_ms: Some(160),
            end_of_turn_silence_ms: 1000,
        };
        let r = sweep(
            std::slice::from_ref(&t),
            &[setting],
            0,
            300,
            &Judge::Lexical,
        );
        // "I would like to" is held through the 600 ms pause, then superseded.
        assert_eq!(r[0].cut_offs_hesitation, 0, "{:?}", r[0]);
        assert_eq!(r[0].superseded, 1, "{:?}", r[0]);
        let d = r[0].end_of_turn_delay_ms.expect("turn ended").p50;
        assert!((160.0..400.0).contains(&d), "delay {d}");
        // A slow STT delays the commitment by its latency.
        let slow = sweep(
            std::slice::from_ref(&t),
            &[setting],
            300,
            300,
            &Judge::Lexical,
        );
        let ds = slow[0].end_of_turn_delay_ms.expect("turn ended").p50;
        assert!((ds - d - 300.0).abs() <= 20.0, "{d} vs {ds}");
    }

    #[test]
    fn words_between_is_what_an_ideal_stt_heard() {
        let t = hesitating_turn();
        let (s, _) = t.hesitations[0];
        assert_eq!(t.words_between(0, s), "I would like to");
        assert_eq!(t.words_between(s, t.pcm.len()), "change my address");
        assert_eq!(t.words_between(0, s - 1), "");
    }

    #[test]
    fn judge_measures_delay_from_last_word_and_flags_points_in_pauses() {
        let t = hesitating_turn();
        let in_pause = t.hesitations[0].0 + 1600;
        let after = t.last_word_end + 3200;
        let o = judge(&t, &[in_pause, after], 0);
        assert!(o.cut_off);
        assert!(o.audible_cut_off);
        // 200 ms into the 600 ms pause: an answer 500 ms away comes after the caller went on.
        assert!(!judge(&t, &[in_pause], 4000).audible_cut_off);
        assert!(judge(&t, &[in_pause], 2400).audible_cut_off);
        assert_eq!(o.delay_ms, Some(400.0));
        assert_eq!(judge(&t, &[], 0).delay_ms, None);
    }

    #[test]
    fn recommendation_is_the_fastest_setting_within_the_cut_off_limit() {
        let mk = |ms, p50, cut| SettingResult {
            setting: plain(ms),
            stt_ms: 0,
            judge: "–".into(),
            turns: 60,
            end_of_turn_delay_ms: summarize(&[p50]),
            cut_off_rate: cut,
            cut_off_rate_all: cut,
            answer_ms: 0,
            audible_cut_off_rate: cut,
            missed: 0,
            cut_offs_hesitation: 0,
            cut_offs_digits: 0,
            superseded: 0,
        };
        let r = [
            mk(200, 220.0, 0.3),
            mk(500, 520.0, 0.04),
            mk(700, 720.0, 0.0),
        ];
        assert_eq!(
            recommend(&r, 0.05).unwrap().setting.end_of_turn_silence_ms,
            500
        );
        assert!(recommend(&r[..1], 0.05).is_none());
    }
}
