//! Report construction from a hand-made recording: segmentation, latency, clears, rendering.

use super::*;
use crate::session::{CallerLine, ClearEvent, HeardFrame, Note};
use audio::Frame;

/// Heard frames every 20 ms from 0 to `total_ms`, loud inside `spans` (ms, end exclusive).
fn timeline(spans: &[(u64, u64)], total_ms: u64) -> Vec<HeardFrame> {
    (0..total_ms / 20)
        .map(|k| {
            let t = k * 20;
            let speech = spans.iter().any(|&(a, b)| t >= a && t < b);
            let pcm = if speech {
                Frame([3000; 160])
            } else {
                Frame::SILENCE
            };
            HeardFrame {
                at: Duration::from_millis(t),
                pcm,
                speech,
            }
        })
        .collect()
}

fn d(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn facts() -> CallFacts {
    CallFacts {
        call_sid: "CA1".into(),
        account_sid: "AC1".into(),
        from: "+14155550100".into(),
        to: "+14155550199".into(),
        duration: d(6000),
        ended_by: EndReason::TwimlHangup,
        status_callback: Some(StatusCallback {
            http_status: Some(204),
            error: None,
        }),
    }
}

#[test]
fn utterances_split_only_at_silences_of_600_ms() {
    // 400 ms pause inside the first utterance, 800 ms before the second.
    let heard = timeline(&[(0, 500), (900, 1200), (2000, 2400)], 3000);
    let u = utterances(&heard);
    assert_eq!(u.len(), 2);
    assert_eq!((heard[u[0].first].at, heard[u[0].last].at), (d(0), d(1180)));
    assert_eq!(
        (heard[u[1].first].at, heard[u[1].last].at),
        (d(2000), d(2380))
    );
    assert_eq!(u[0].pcm(&heard).len(), 60 * 160, "inner pause is kept");
}

#[test]
fn latency_is_end_of_caller_speech_to_first_agent_frame_heard() {
    let mut rec = Recording {
        heard: timeline(&[(0, 1000), (3600, 5000)], 6000),
        caller_lines: vec![CallerLine {
            text: "How much?".into(),
            interrupt: false,
            start: d(1800),
            end: d(3000),
        }],
        stream_sids: vec!["MZ1".into()],
        ..Recording::default()
    };
    rec.marks_echoed.push((d(5000), "m".into()));
    let utts = utterances(&rec.heard);
    let report = build(
        facts(),
        rec,
        &utts,
        vec!["Hello.".into(), "It costs forty-nine dollars.".into()],
    );
    assert_eq!(report.turns[0].agent_start_ms, Some(3600));
    assert_eq!(report.turns[0].latency_ms, Some(600));
    assert_eq!(
        report.conversation,
        vec![
            Entry::Agent {
                at_ms: 0,
                end_ms: 1000,
                text: "Hello.".into(),
                cut_by_clear: false,
                latency_ms: None
            },
            Entry::Caller {
                at_ms: 1800,
                end_ms: 3000,
                text: "How much?".into(),
                interrupt: false
            },
            Entry::Agent {
                at_ms: 3600,
                end_ms: 5000,
                text: "It costs forty-nine dollars.".into(),
                cut_by_clear: false,
                latency_ms: Some(600)
            },
        ]
    );
    let text = report.render();
    assert!(
        text.contains(r#"[00:03.600] agent  (+600 ms) "It costs forty-nine dollars.""#),
        "{text}"
    );
    assert!(
        text.contains(r#"[00:01.800] caller           "How much?"  (1.20 s)"#),
        "{text}"
    );
    assert!(text.contains("latency avg 600 ms, max 600 ms"), "{text}");
    assert!(text.contains("marks echoed 1"), "{text}");
    assert!(text.contains("status callback: HTTP 204"), "{text}");
}

#[test]
fn utterance_cut_by_clear_is_flagged_and_barge_in_timed() {
    let rec = Recording {
        heard: timeline(&[(0, 2000), (3000, 3500)], 4000),
        caller_lines: vec![CallerLine {
            text: "Sorry?".into(),
            interrupt: true,
            start: d(1500),
            end: d(2500),
        }],
        clears: vec![ClearEvent {
            at: d(2010),
            dropped_frames: 120,
        }],
        protocol_errors: vec![Note {
            at: d(100),
            message: "unknown event `play` (Twilio ignores it)".into(),
        }],
        ..Recording::default()
    };
    let utts = utterances(&rec.heard);
    let report = build(
        facts(),
        rec,
        &utts,
        vec!["A long answer".into(), "Basic is ten.".into()],
    );
    assert!(matches!(
        report.conversation[0],
        Entry::Agent {
            cut_by_clear: true,
            ..
        }
    ));
    assert!(matches!(
        report.conversation.last(),
        Some(Entry::Agent {
            cut_by_clear: false,
            ..
        })
    ));
    assert_eq!(report.turns[0].clear_after_ms, Some(510));
    assert_eq!(report.turns[0].latency_ms, Some(500));
    assert_eq!(report.clears, 1);
    let text = report.render();
    assert!(text.contains("[cut by clear]"), "{text}");
    assert!(
        text.contains("dropped 2.40 s of queued agent audio"),
        "{text}"
    );
    assert!(text.contains("caller (barge-in)"), "{text}");
    assert!(text.contains("[00:00.100] unknown event `play`"), "{text}");
}

#[test]
fn report_serializes_with_tagged_entries() {
    let rec = Recording {
        heard: timeline(&[(0, 200)], 400),
        ..Recording::default()
    };
    let utts = utterances(&rec.heard);
    let report = build(facts(), rec, &utts, vec![String::new()]);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["conversation"][0]["kind"], "agent");
    assert_eq!(v["ended_by"], "twiml_hangup");
    assert!(report.render().contains("(unintelligible)"));
}
