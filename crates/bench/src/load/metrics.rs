//! From what the callers measured to the figures of one load level.

use serde::Serialize;

use crate::load::caller::CallOutcome;
use crate::stats::{summarize, Summary};

/// Agent frames further apart than this belong to different utterances (not a late frame).
const BURST_GAP_MS: f64 = 200.0;
/// Frames at the start of each utterance sent ahead of real time on purpose (the engine's
/// playout lead, 100 ms = 5 frames, plus one): their inter-arrival is not jitter.
const LEAD_FRAMES: usize = 6;

/// Outbound audio timing of a set of calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FrameTiming {
    /// |inter-arrival − 20 ms| of consecutive agent frames inside an utterance, after the lead.
    pub jitter_ms: Option<Summary>,
    /// Frames that arrived after the moment a Twilio-like buffer needed them (audible gaps).
    pub underruns: usize,
    /// Agent frames received.
    pub frames: usize,
}

/// Jitter and underruns of one call's agent frame arrivals (milliseconds, ascending).
pub fn frame_timing(arrivals: &[f64], jitter: &mut Vec<f64>) -> usize {
    let mut underruns = 0;
    let mut i = 0;
    while i < arrivals.len() {
        // One utterance: frames closer than BURST_GAP_MS to their predecessor.
        let mut j = i + 1;
        while j < arrivals.len() && arrivals[j] - arrivals[j - 1] < BURST_GAP_MS {
            j += 1;
        }
        // Play-out: the first frame plays on arrival, each next one 20 ms after the previous
        // one, or on arrival when it comes later than that (an underrun, heard as a gap).
        let mut play = arrivals[i];
        for k in i + 1..j {
            play += 20.0;
            if arrivals[k] > play + 1.0 {
                underruns += 1;
                play = arrivals[k];
            }
            if k - i >= LEAD_FRAMES {
                jitter.push((arrivals[k] - arrivals[k - 1] - 20.0).abs());
            }
        }
        i = j;
    }
    underruns
}

/// Voice-to-voice latencies (ms) of the answered turns, and the count of unanswered ones.
pub fn latencies(calls: &[CallOutcome]) -> (Vec<f64>, usize) {
    let mut answered = Vec::new();
    let mut unanswered = 0;
    for c in calls {
        for (end, first) in &c.turns {
            match first {
                Some(f) => answered.push(f - end),
                None => unanswered += 1,
            }
        }
    }
    (answered, unanswered)
}

/// Outbound frame timing over every call.
pub fn outbound_timing(calls: &[CallOutcome]) -> FrameTiming {
    let mut jitter = Vec::new();
    let mut underruns = 0;
    let mut frames = 0;
    for c in calls {
        underruns += frame_timing(&c.agent_frames, &mut jitter);
        frames += c.agent_frames.len();
    }
    FrameTiming {
        jitter_ms: summarize(&jitter),
        underruns,
        frames,
    }
}

/// Whether a call counts as failed: it errored, the server hung up on it, or nothing it said
/// was ever answered.
pub fn failed(c: &CallOutcome) -> bool {
    c.error.is_some() || c.closed_by_server || c.turns.iter().all(|t| t.1.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced(start: f64, n: usize, lead: usize) -> Vec<f64> {
        // `lead` frames at once, then one every 20 ms.
        (0..n)
            .map(|k| {
                start
                    + if k < lead {
                        0.0
                    } else {
                        (k - lead + 1) as f64 * 20.0
                    }
            })
            .collect()
    }

    #[test]
    fn paced_frames_with_a_lead_have_no_jitter_and_no_underrun() {
        let mut j = Vec::new();
        assert_eq!(frame_timing(&paced(0.0, 100, 5), &mut j), 0);
        assert!(j.iter().all(|x| *x < 1e-9), "{j:?}");
        assert_eq!(j.len(), 100 - LEAD_FRAMES);
    }

    #[test]
    fn a_late_frame_is_an_underrun_and_jitter_but_a_new_utterance_is_not() {
        let mut a = paced(0.0, 50, 5);
        // Frame 30 and everything after it arrive 120 ms late: more than the 80 ms the lead
        // buffered, so one gap is heard.
        for x in a.iter_mut().skip(30) {
            *x += 120.0;
        }
        // A second utterance two seconds later.
        a.extend(paced(3000.0, 20, 5));
        let mut j = Vec::new();
        assert_eq!(frame_timing(&a, &mut j), 1);
        let s = summarize(&j).unwrap();
        assert!((s.max - 120.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn a_delay_within_the_playout_lead_is_absorbed() {
        let mut a = paced(0.0, 50, 5);
        for x in a.iter_mut().skip(30) {
            *x += 60.0;
        }
        assert_eq!(frame_timing(&a, &mut Vec::new()), 0);
    }

    #[test]
    fn unanswered_turns_and_failed_calls_are_counted() {
        let ok = CallOutcome {
            turns: vec![(1000.0, Some(1500.0)), (5000.0, None)],
            ..CallOutcome::default()
        };
        let silent = CallOutcome {
            turns: vec![(1000.0, None)],
            ..CallOutcome::default()
        };
        let (l, unanswered) = latencies(&[ok.clone(), silent.clone()]);
        assert_eq!((l, unanswered), (vec![500.0], 2));
        assert!(!failed(&ok));
        assert!(failed(&silent));
    }
}
