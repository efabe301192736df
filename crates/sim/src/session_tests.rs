//! Scenario tests of the caller state machine on a virtual clock (no sockets, no sleeping).

use super::*;
use base64::Engine as _;
use serde_json::Value;

const LOUD: u8 = 0x20; // a large negative mu-law sample: clearly speech

fn script(steps: &str) -> CallerScript {
    CallerScript::from_yaml(&format!("from: \"+1\"\nto: \"+2\"\nsteps:\n{steps}")).unwrap()
}

fn clip(frames: usize) -> Clip {
    Arc::new(vec![[LOUD; FRAME_BYTES]; frames])
}

fn session(steps: &str, clips: &[(&str, usize)], grace_ms: u64) -> Session {
    let clips = clips
        .iter()
        .map(|(t, n)| (t.to_string(), clip(*n)))
        .collect();
    let mut s = Session::new(&script(steps), clips, Duration::from_millis(grace_ms));
    s.begin_stream(ids(), &[]);
    s
}

fn ids() -> StreamIds {
    StreamIds {
        account_sid: "AC1".into(),
        call_sid: "CA1".into(),
        stream_sid: "MZ1".into(),
    }
}

fn at(tick: u64) -> Duration {
    FRAME * tick as u32
}

fn json(m: &str) -> Value {
    serde_json::from_str(m).unwrap()
}

fn agent_audio(frames: usize) -> String {
    let payload =
        base64::engine::general_purpose::STANDARD.encode(vec![LOUD; frames * FRAME_BYTES]);
    format!(r#"{{"event":"media","streamSid":"MZ1","media":{{"payload":"{payload}"}}}}"#)
}

/// Whether the tick's media message carries caller speech (anything but mu-law silence).
fn caller_speaks(out: &TickOutput) -> bool {
    let media = out
        .messages
        .iter()
        .map(|m| json(m))
        .find(|v| v["event"] == "media")
        .expect("media each tick");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(media["media"]["payload"].as_str().unwrap())
        .unwrap();
    bytes.iter().any(|&b| b != 0xFF)
}

#[test]
fn stream_opens_with_connected_then_start_numbered_one() {
    let mut s = Session::new(&script("  - listen\n"), HashMap::new(), Duration::ZERO);
    let msgs = s.begin_stream(ids(), &[("tenant".into(), "acme".into())]);
    assert_eq!(msgs.len(), 2);
    let connected = json(&msgs[0]);
    assert_eq!(connected["event"], "connected");
    assert!(connected.get("sequenceNumber").is_none());
    let start = json(&msgs[1]);
    assert_eq!(start["sequenceNumber"], "1");
    assert_eq!(start["start"]["customParameters"]["tenant"], "acme");
}

#[test]
fn media_counters_follow_twilio() {
    let mut s = session("  - pause: 1\n", &[], 1000);
    for k in 0..3u64 {
        let out = s.on_tick(at(k));
        let m = json(&out.messages[0]);
        assert_eq!(m["sequenceNumber"], (k + 2).to_string());
        assert_eq!(m["media"]["chunk"], (k + 1).to_string());
        assert_eq!(m["media"]["timestamp"], (k * 20).to_string());
        assert_eq!(m["media"]["track"], "inbound");
    }
}

#[test]
fn listen_waits_for_agent_speech_then_quiet() {
    let mut s = session(
        "  - listen: { quiet_ms: 100 }\n  - say: \"hi\"\n",
        &[("hi", 3)],
        1000,
    );
    // Silence before the agent speaks does not end the listen.
    for k in 0..10 {
        assert!(!caller_speaks(&s.on_tick(at(k))), "tick {k}");
    }
    s.on_server_text(&agent_audio(4), at(10));
    // 4 agent frames (ticks 10-13), then 5 quiet frames (ticks 14-18) end the listen at tick 18.
    for k in 10..18 {
        assert!(!caller_speaks(&s.on_tick(at(k))), "tick {k}");
    }
    assert!(caller_speaks(&s.on_tick(at(18))));
    s.on_tick(at(19));
    s.on_tick(at(20));
    let rec = s.finish(at(30));
    assert_eq!(rec.caller_lines[0].start, at(18));
    assert_eq!(rec.caller_lines[0].end, at(21));
}

#[test]
fn listen_times_out_with_a_warning() {
    let mut s = session(
        "  - listen: { timeout_s: 0.1 }\n  - say: \"hi\"\n",
        &[("hi", 1)],
        1000,
    );
    for k in 0..5 {
        assert!(!caller_speaks(&s.on_tick(at(k))));
    }
    assert!(caller_speaks(&s.on_tick(at(5))));
    let rec = s.finish(at(6));
    assert!(rec.warnings[0]
        .message
        .contains("step 1 (listen) timed out: the agent did not speak"));
}

#[test]
fn interrupt_speaks_after_ms_into_agent_audio() {
    let mut s = session(
        "  - interrupt: { after_ms: 100, say: \"wait\" }\n",
        &[("wait", 2)],
        1000,
    );
    for k in 0..5 {
        assert!(!caller_speaks(&s.on_tick(at(k))));
    }
    s.on_server_text(&agent_audio(50), at(5));
    // Agent audio is first heard at tick 5; the caller starts 100 ms later, at tick 10.
    for k in 5..10 {
        assert!(!caller_speaks(&s.on_tick(at(k))), "tick {k}");
    }
    assert!(caller_speaks(&s.on_tick(at(10))));
    let rec = s.finish(at(20));
    assert!(rec.caller_lines[0].interrupt);
    assert_eq!(rec.caller_lines[0].start, at(10));
}

#[test]
fn dtmf_keys_are_sent_one_event_per_digit_200_ms_apart() {
    let mut s = session("  - dtmf: \"1#\"\n", &[], 1000);
    let mut seen = Vec::new();
    for k in 0..15u64 {
        for m in s.on_tick(at(k)).messages.iter().map(|m| json(m)) {
            if m["event"] == "dtmf" {
                assert_eq!(m["dtmf"]["track"], "inbound_track");
                seen.push((k, m["dtmf"]["digit"].as_str().unwrap().to_string()));
            }
        }
    }
    assert_eq!(seen, vec![(0, "1".to_string()), (10, "#".to_string())]);
}

#[test]
fn hangup_step_sends_stop_and_ends_the_stream() {
    let mut s = session("  - say: \"bye\"\n  - hangup\n", &[("bye", 2)], 1000);
    assert!(!s.on_tick(at(0)).hang_up);
    assert!(!s.on_tick(at(1)).hang_up);
    let out = s.on_tick(at(2));
    assert!(out.hang_up);
    let stop = json(out.messages.last().unwrap());
    assert_eq!(stop["event"], "stop");
    assert_eq!(stop["sequenceNumber"], "4");
    assert_eq!(stop["stop"]["callSid"], "CA1");
    assert!(s.on_tick(at(3)).messages.is_empty());
}

#[test]
fn caller_hangs_up_after_grace_when_script_ends() {
    let mut s = session("  - pause: 0.02\n", &[], 100);
    let hung_up_at = (0..20u64).find(|&k| s.on_tick(at(k)).hang_up);
    // Pause ends at tick 1, grace of 100 ms runs out at tick 6.
    assert_eq!(hung_up_at, Some(6));
    assert!(s.finish(at(7)).warnings.is_empty());
}

#[test]
fn marks_are_echoed_with_the_next_sequence_number_after_playback() {
    let mut s = session("  - pause: 5\n", &[], 1000);
    s.on_tick(at(0)); // media seq 2
    s.on_server_text(&agent_audio(2), at(0));
    assert!(s
        .on_server_text(
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"m1"}}"#,
            at(0)
        )
        .is_empty());
    s.on_tick(at(1)); // frame 1 plays; media seq 3
    s.on_tick(at(2)); // frame 2 plays; media seq 4
    let out = s.on_tick(at(3));
    let echo = json(&out.messages[0]);
    assert_eq!(echo["event"], "mark");
    assert_eq!(echo["mark"]["name"], "m1");
    assert_eq!(echo["sequenceNumber"], "5");
    assert_eq!(json(&out.messages[1])["sequenceNumber"], "6");
}

#[test]
fn clear_flushes_audio_and_echoes_pending_marks_at_once() {
    let mut s = session("  - pause: 5\n", &[], 1000);
    s.on_server_text(&agent_audio(100), at(0));
    s.on_server_text(
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"long"}}"#,
        at(0),
    );
    s.on_tick(at(1));
    let echoes = s.on_server_text(r#"{"event":"clear","streamSid":"MZ1"}"#, at(2));
    assert_eq!(echoes.len(), 1);
    assert_eq!(json(&echoes[0])["mark"]["name"], "long");
    s.on_tick(at(3));
    let rec = s.finish(at(4));
    assert_eq!(
        rec.clears,
        vec![ClearEvent {
            at: at(2),
            dropped_frames: 99
        }]
    );
    assert!(!rec.heard[1].speech, "nothing plays after the clear");
}

#[test]
fn server_closing_with_queued_audio_is_reported() {
    let mut s = session("  - listen\n  - say: \"x\"\n", &[("x", 1)], 1000);
    s.on_server_text(&agent_audio(10), at(0));
    s.on_server_text(
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"bye"}}"#,
        at(0),
    );
    s.on_tick(at(0));
    s.on_server_closed(at(1));
    let rec = s.finish(at(2));
    assert!(rec.server_closed_stream);
    assert!(
        rec.warnings[0]
            .message
            .contains("180 ms of audio unplayed and 1 mark(s) pending"),
        "{:?}",
        rec.warnings
    );
    assert!(
        rec.warnings[1].message.contains("step 2 (say)"),
        "{:?}",
        rec.warnings
    );
}

#[test]
fn malformed_server_messages_are_recorded_not_fatal() {
    let mut s = session("  - pause: 5\n", &[], 1000);
    s.on_server_text("{oops", at(0));
    s.on_server_text(r#"{"event":"clear","streamSid":"MZ9"}"#, at(1));
    s.on_server_binary(at(2));
    let rec = s.finish(at(3));
    assert_eq!(rec.protocol_errors.len(), 3);
    assert!(rec.protocol_errors[1].message.contains("MZ9"));
}
