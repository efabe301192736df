//! The pure part of the local-stack benchmark: lining up what the caller measured, what the model
//! stopwatches logged and what the server stored, and summarising the split per component.
//!
//! Every time here is in milliseconds since one origin instant of the benchmark process (caller,
//! server and models share the clock), except the stored turns' `at_ms`, which count from the
//! server's own start of the call and are lined up through the greeting ([`clock_offset`]).

use serde::Serialize;

use crate::stats::{summarize, Summary};

/// A model call, in ms since the origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpanMs {
    pub start_ms: f64,
    pub end_ms: f64,
}

impl SpanMs {
    pub fn duration_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// One question as the caller lived it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AskedMs {
    /// First frame of the question sent.
    pub speech_start_ms: f64,
    /// The last voiced frame sent (Twilio sends a frame once its 20 ms are captured).
    pub end_of_speech_ms: f64,
    /// First agent media frame received after the end of speech.
    pub first_agent_frame_ms: Option<f64>,
    /// When the caller moved on (the answer had finished, or the wait timed out).
    pub done_ms: f64,
}

/// An agent turn as the server stored it (only the fields used here).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAgentTurn {
    /// Since the server's start of the call: when its first audio was sent.
    pub at_ms: i64,
    pub timings: store::TurnTimings,
}

/// Where one answered question's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TurnSplit {
    /// Caller: end of its last voiced frame → first agent audio frame received.
    pub voice_to_voice_ms: Option<f64>,
    /// Server: end of speech → first audio frame sent (its own voice-to-voice).
    pub engine_voice_to_voice_ms: Option<f64>,
    /// How much later the engine placed the end of speech than the caller's last voiced frame
    /// (caller − engine voice-to-voice): frames its VAD still called voiced. The stored
    /// voice-to-voice is short of what the caller lives by this much.
    pub engine_eos_lag_ms: Option<f64>,
    /// Caller's end of speech → Whisper starts: the silence the engine waits for before it
    /// transcribes (the preemptive silence when preemptive turns are on, else the end-of-turn
    /// silence), the frames its VAD still calls voiced, and any wait for a free STT slot.
    pub endpointing_ms: Option<f64>,
    /// Whisper's own time on the utterance (the model call, stopwatch).
    pub stt_ms: Option<f64>,
    /// Whisper calls during the question and its answer (more than 1: the utterance was cut).
    pub stt_calls: usize,
    /// Server: end of speech → final transcript (endpointing + STT, as stored).
    pub engine_speech_to_transcript_ms: Option<f64>,
    /// Server: transcript → first reply text (the brain).
    pub brain_ms: Option<f64>,
    /// Server: first reply text → first synthesized audio (Piper, its queue, resampling to 8 kHz).
    pub tts_ms: Option<f64>,
    /// Piper's own time on the first sentence of the answer (the model call, stopwatch).
    pub piper_ms: Option<f64>,
    /// What the four components leave unexplained of the caller's voice-to-voice: an answer
    /// held until the end-of-turn silence (preemptive turns judged incomplete), hand-offs
    /// between tasks, the first frame's trip to the caller.
    pub other_ms: Option<f64>,
}

/// Server-clock → origin offset, from the greeting: the caller received the greeting's first
/// frame at `greeting_first_frame_ms`, the server stored it as sent at `greeting_at_ms`.
pub fn clock_offset(greeting_first_frame_ms: f64, greeting_at_ms: i64) -> f64 {
    greeting_first_frame_ms - greeting_at_ms as f64
}

/// The stored agent turn whose first audio the caller received at `first_frame_ms`: the nearest
/// one (after shifting by `offset`) within `tolerance_ms`, among turns with a voice-to-voice
/// timing (answers to speech; the greeting has none).
pub fn match_agent_turn(
    first_frame_ms: f64,
    offset: f64,
    turns: &[StoredAgentTurn],
    tolerance_ms: f64,
) -> Option<usize> {
    turns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.timings.end_of_speech_to_first_audio_ms.is_some())
        .map(|(i, t)| (i, (t.at_ms as f64 + offset - first_frame_ms).abs()))
        .filter(|&(_, d)| d <= tolerance_ms)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// The transcription that produced the answer: of the Whisper calls that started after the
/// question began and ended before the first agent frame (or before the caller moved on), the
/// last one; and how many there were.
pub fn stt_span_for(asked: &AskedMs, spans: &[SpanMs]) -> (Option<SpanMs>, usize) {
    let until = asked.first_agent_frame_ms.unwrap_or(asked.done_ms);
    let within: Vec<SpanMs> = spans
        .iter()
        .copied()
        .filter(|s| s.start_ms >= asked.speech_start_ms && s.end_ms <= until)
        .collect();
    let last = within
        .iter()
        .copied()
        .max_by(|a, b| a.end_ms.total_cmp(&b.end_ms));
    (last, within.len())
}

/// The synthesis of the answer's first sentence: the first Piper call that started after `after_ms`
/// (the transcript) and no later than the first agent frame.
pub fn tts_span_for(after_ms: f64, first_frame_ms: f64, spans: &[SpanMs]) -> Option<SpanMs> {
    spans
        .iter()
        .copied()
        .filter(|s| s.start_ms >= after_ms && s.start_ms <= first_frame_ms)
        .min_by(|a, b| a.start_ms.total_cmp(&b.start_ms))
}

/// Assembles one question's split from the caller's times, the model spans and its stored turn.
pub fn split(
    asked: &AskedMs,
    stt_spans: &[SpanMs],
    tts_spans: &[SpanMs],
    stored: Option<&StoredAgentTurn>,
) -> TurnSplit {
    let ms = |v: Option<i64>| v.map(|x| x as f64);
    let (stt, stt_calls) = stt_span_for(asked, stt_spans);
    let v2v = asked
        .first_agent_frame_ms
        .map(|f| f - asked.end_of_speech_ms);
    let piper = match (stt, asked.first_agent_frame_ms) {
        (Some(s), Some(f)) => tts_span_for(s.end_ms, f, tts_spans),
        _ => None,
    };
    let t = stored.map(|s| s.timings).unwrap_or_default();
    let endpointing = stt.map(|s| s.start_ms - asked.end_of_speech_ms);
    let stt_ms = stt.map(|s| s.duration_ms());
    let brain = ms(t.transcript_to_reply_ms);
    let tts = ms(t.reply_to_first_audio_ms);
    let other = match (v2v, endpointing, stt_ms, brain, tts) {
        (Some(v), Some(e), Some(s), Some(b), Some(t)) => Some(v - e - s - b - t),
        _ => None,
    };
    let engine_v2v = ms(t.end_of_speech_to_first_audio_ms);
    TurnSplit {
        voice_to_voice_ms: v2v,
        engine_voice_to_voice_ms: engine_v2v,
        engine_eos_lag_ms: v2v.zip(engine_v2v).map(|(c, e)| c - e),
        endpointing_ms: endpointing,
        stt_ms,
        stt_calls,
        engine_speech_to_transcript_ms: ms(t.end_of_speech_to_transcript_ms),
        brain_ms: brain,
        tts_ms: tts,
        piper_ms: piper.map(|p| p.duration_ms()),
        other_ms: other,
    }
}

/// Median, p95 and the rest per component over the answered questions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SplitSummary {
    pub voice_to_voice_ms: Option<Summary>,
    pub engine_voice_to_voice_ms: Option<Summary>,
    pub engine_eos_lag_ms: Option<Summary>,
    pub endpointing_ms: Option<Summary>,
    pub stt_ms: Option<Summary>,
    pub engine_speech_to_transcript_ms: Option<Summary>,
    pub brain_ms: Option<Summary>,
    pub tts_ms: Option<Summary>,
    pub piper_ms: Option<Summary>,
    pub other_ms: Option<Summary>,
}

/// Summarises each component over `turns` (a turn without a figure is left out of that
/// component only).
pub fn summarise(turns: &[TurnSplit]) -> SplitSummary {
    let col = |f: fn(&TurnSplit) -> Option<f64>| {
        summarize(&turns.iter().filter_map(f).collect::<Vec<_>>())
    };
    SplitSummary {
        voice_to_voice_ms: col(|t| t.voice_to_voice_ms),
        engine_voice_to_voice_ms: col(|t| t.engine_voice_to_voice_ms),
        engine_eos_lag_ms: col(|t| t.engine_eos_lag_ms),
        endpointing_ms: col(|t| t.endpointing_ms),
        stt_ms: col(|t| t.stt_ms),
        engine_speech_to_transcript_ms: col(|t| t.engine_speech_to_transcript_ms),
        brain_ms: col(|t| t.brain_ms),
        tts_ms: col(|t| t.tts_ms),
        piper_ms: col(|t| t.piper_ms),
        other_ms: col(|t| t.other_ms),
    }
}

/// The components that add up to voice-to-voice, with their medians, largest first.
pub fn ranked_components(s: &SplitSummary) -> Vec<(&'static str, f64)> {
    let mut v: Vec<(&'static str, f64)> = [
        ("endpointing", s.endpointing_ms),
        ("stt", s.stt_ms),
        ("brain", s.brain_ms),
        ("tts", s.tts_ms),
        ("other", s.other_ms),
    ]
    .into_iter()
    .filter_map(|(n, x)| x.map(|x| (n, x.p50)))
    .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(at_ms: i64, v2v: Option<i64>) -> StoredAgentTurn {
        StoredAgentTurn {
            at_ms,
            timings: store::TurnTimings {
                end_of_speech_to_transcript_ms: Some(900),
                transcript_to_reply_ms: Some(4),
                reply_to_first_audio_ms: Some(250),
                end_of_speech_to_first_audio_ms: v2v,
            },
        }
    }

    fn asked() -> AskedMs {
        AskedMs {
            speech_start_ms: 10_000.0,
            end_of_speech_ms: 11_500.0,
            first_agent_frame_ms: Some(12_700.0),
            done_ms: 15_000.0,
        }
    }

    #[test]
    fn stored_turns_are_matched_through_the_greeting_offset() {
        // The server's call started 30 ms after the origin: the greeting sent at 120 ms on its
        // clock reached the caller at 150 ms on ours.
        let offset = clock_offset(150.0, 120);
        assert_eq!(offset, 30.0);
        let turns = [
            stored(120, None),
            stored(5_000, Some(1_100)),
            stored(12_668, Some(1_180)),
        ];
        assert_eq!(match_agent_turn(12_700.0, offset, &turns, 200.0), Some(2));
        assert_eq!(match_agent_turn(5_031.0, offset, &turns, 200.0), Some(1));
        // The greeting never matches (no voice-to-voice), nothing far away does.
        assert_eq!(match_agent_turn(150.0, offset, &turns, 200.0), None);
        assert_eq!(match_agent_turn(9_000.0, offset, &turns, 200.0), None);
    }

    #[test]
    fn split_takes_the_last_transcription_and_the_first_sentence_after_it() {
        let a = asked();
        let stt = [
            SpanMs {
                start_ms: 2_000.0,
                end_ms: 2_400.0,
            }, // an earlier question
            SpanMs {
                start_ms: 10_900.0,
                end_ms: 11_100.0,
            }, // a fragment cut mid-question
            SpanMs {
                start_ms: 11_950.0,
                end_ms: 12_400.0,
            }, // the whole question
            SpanMs {
                start_ms: 13_000.0,
                end_ms: 13_300.0,
            }, // after the answer started
        ];
        let tts = [
            SpanMs {
                start_ms: 11_200.0,
                end_ms: 11_300.0,
            }, // answer to the fragment
            SpanMs {
                start_ms: 12_410.0,
                end_ms: 12_600.0,
            },
            SpanMs {
                start_ms: 12_650.0,
                end_ms: 12_900.0,
            }, // second sentence
        ];
        let s = split(&a, &stt, &tts, Some(&stored(0, Some(1_190))));
        assert_eq!(s.voice_to_voice_ms, Some(1_200.0));
        assert_eq!(s.engine_voice_to_voice_ms, Some(1_190.0));
        assert_eq!(s.engine_eos_lag_ms, Some(10.0));
        assert_eq!(s.endpointing_ms, Some(450.0));
        assert_eq!(s.stt_ms, Some(450.0));
        assert_eq!(s.stt_calls, 2);
        assert_eq!(s.piper_ms, Some(190.0));
        assert_eq!((s.brain_ms, s.tts_ms), (Some(4.0), Some(250.0)));
        // 1200 - 450 - 450 - 4 - 250
        assert_eq!(s.other_ms, Some(46.0));
    }

    #[test]
    fn an_unanswered_question_has_no_latency_and_no_remainder() {
        let a = AskedMs {
            first_agent_frame_ms: None,
            ..asked()
        };
        let stt = [SpanMs {
            start_ms: 11_900.0,
            end_ms: 12_300.0,
        }];
        let s = split(&a, &stt, &[], None);
        assert_eq!(s.voice_to_voice_ms, None);
        // Whisper still ran (e.g. it heard nothing intelligible): its time is kept.
        assert_eq!(s.stt_ms, Some(400.0));
        assert_eq!(
            (s.brain_ms, s.tts_ms, s.piper_ms, s.other_ms),
            (None, None, None, None)
        );
    }

    #[test]
    fn summary_per_component_and_ranking_by_median() {
        let t = |v2v: f64, e: f64, s: f64| TurnSplit {
            voice_to_voice_ms: Some(v2v),
            endpointing_ms: Some(e),
            stt_ms: Some(s),
            brain_ms: Some(2.0),
            tts_ms: Some(300.0),
            other_ms: Some(v2v - e - s - 2.0 - 300.0),
            ..TurnSplit::default()
        };
        let turns = [
            t(1_500.0, 480.0, 700.0),
            t(1_400.0, 470.0, 600.0),
            t(2_000.0, 490.0, 1_200.0),
            TurnSplit::default(), // unanswered: counts nowhere
        ];
        let s = summarise(&turns);
        let v = s.voice_to_voice_ms.unwrap();
        assert_eq!((v.count, v.p50, v.p95), (3, 1_500.0, 2_000.0));
        assert_eq!(s.stt_ms.unwrap().p50, 700.0);
        assert!(s.piper_ms.is_none());
        let ranked = ranked_components(&s);
        assert_eq!(
            ranked.iter().map(|r| r.0).collect::<Vec<_>>(),
            ["stt", "endpointing", "tts", "other", "brain"]
        );
    }
}
