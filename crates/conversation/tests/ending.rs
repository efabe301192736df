//! Ending the call: the goodbye, its safety timeout, interruptions of it, the far end hanging up.

mod common;

use common::*;
use conversation::{ConversationEvent, EndReason, Input, Output, Speaker, TurnConfig, TurnId};

fn end_reason(h: &Harness) -> Option<EndReason> {
    h.events().into_iter().find_map(|e| match e {
        ConversationEvent::CallEnded { reason, .. } => Some(reason),
        _ => None,
    })
}

/// The brain says goodbye (two 200 ms sentences) and asks to end the call.
fn saying_goodbye() -> (Harness, TurnId) {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("That's all, thanks");
    assert_eq!(h.reply(turn, "You're welcome. Goodbye!", true).len(), 2);
    h.audio(turn, 0, tts_audio(200, 1));
    h.audio(turn, 1, tts_audio(200, 2));
    (h, turn)
}

#[test]
fn goodbye_hangs_up_after_last_mark_played() {
    let (mut h, _) = saying_goodbye();
    let out = h.advance(ms(400));
    assert_eq!(marks(&out), vec!["t1s0", "t1s1"]);
    assert!(
        !has(&h.log_since(ms(0)), &Output::Hangup),
        "all audio sent, but not yet heard"
    );
    assert!(!has(&h.mark("t1s0"), &Output::Hangup));
    let out = h.mark("t1s1");
    assert_eq!(out.last(), Some(&Output::Hangup));
    assert_eq!(end_reason(&h), Some(EndReason::AgentEnded));
    let agent = h.turn_records().pop().unwrap();
    assert_eq!(
        (agent.text.as_str(), agent.interrupted),
        ("You're welcome. Goodbye!", false)
    );
    assert!(h.call.is_ended());
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn hangup_safety_timeout_without_marks() {
    let (mut h, _) = saying_goodbye();
    let start = h.elapsed();
    // Playout ends 400 ms from now; marks never come back; mark_timeout is 3 s.
    let out = h.advance(ms(3390));
    assert!(!has(&out, &Output::Hangup));
    let out = h.advance(ms(10));
    assert!(
        has(&out, &Output::Hangup),
        "hung up at playout end + mark_timeout"
    );
    let hung_up_at = h.log.iter().find(|(_, o)| *o == Output::Hangup).unwrap().0;
    assert_eq!(hung_up_at - start, ms(3400));
    assert_eq!(end_reason(&h), Some(EndReason::AgentEndedWithoutMarks));
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, ConversationEvent::MarkTimedOut { seq: 1, .. })));
}

#[test]
fn barge_in_during_goodbye_still_ends_the_call() {
    let (mut h, turn) = saying_goodbye();
    let out = h.speak(200);
    assert!(has(&out, &Output::ClearPlayback));
    assert!(has(&out, &Output::CancelTurn(turn)));
    assert_eq!(out.last(), Some(&Output::Hangup));
    assert_eq!(end_reason(&h), Some(EndReason::GoodbyeInterrupted));
    assert!(transcribed(&h.silence(400)).is_none(), "the call is over");
}

#[test]
fn caller_words_during_goodbye_are_recorded_not_answered() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("Bye");
    h.reply(turn, "Goodbye!", true);
    // The caller says something short while the goodbye is still being synthesized.
    let u = h.utterance(160);
    let out = h.handle(Input::Transcript {
        utterance: u,
        text: "bye bye".into(),
    });
    assert!(asked(&out).is_none());
    assert_eq!(
        h.turn_records().pop().map(|r| r.text),
        Some("bye bye".to_string())
    );
    let out = h.handle(Input::Dtmf('1'));
    assert!(
        asked(&out).is_none(),
        "no new turns once the brain ended the call"
    );
    h.audio(turn, 0, tts_audio(100, 1));
    h.advance(ms(100));
    assert_eq!(h.mark("t1s0").last(), Some(&Output::Hangup));
}

#[test]
fn empty_goodbye_hangs_up_at_once() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("Stop calling me");
    let out = h.handle(Input::ReplyDone {
        turn,
        end_call: true,
    });
    assert_eq!(out.last(), Some(&Output::Hangup));
}

#[test]
fn far_end_hangup_records_what_was_heard_and_stops() {
    let (mut h, turn) = saying_goodbye();
    h.advance(ms(200));
    h.mark("t1s0");
    let out = h.handle(Input::Hangup);
    assert!(has(&out, &Output::CancelTurn(turn)));
    assert!(!has(&out, &Output::Hangup), "the far end is already gone");
    assert_eq!(end_reason(&h), Some(EndReason::CallerHungUp));
    let agent = h
        .turn_records()
        .into_iter()
        .rfind(|r| r.speaker == Speaker::Agent)
        .unwrap();
    assert_eq!(
        (agent.text.as_str(), agent.interrupted),
        ("You're welcome.", true)
    );
    assert!(h.advance(ms(1000)).is_empty());
    assert!(h.mark("t1s1").is_empty());
}

#[test]
fn words_spoken_just_before_hanging_up_are_still_transcribed() {
    let mut h = Harness::new(TurnConfig::default());
    h.speak(500);
    let out = h.handle(Input::Hangup);
    let (u, _) = transcribed(&out).expect("final words go to STT for the record");
    h.handle(Input::Transcript {
        utterance: u,
        text: "wait".into(),
    });
    let last = h.turn_records().pop().unwrap();
    assert_eq!(
        (last.speaker, last.text.as_str()),
        (Speaker::Caller, "wait")
    );
    assert!(asked(&h.log_since(ms(0))).is_none());
}

#[test]
fn greeting_is_not_spoken_twice() {
    let config = TurnConfig {
        greeting: Some("Hi.".into()),
        ..TurnConfig::default()
    };
    let mut h = Harness::new(config);
    assert_eq!(synthesized(&h.handle(Input::Start)).len(), 1);
    assert!(synthesized(&h.handle(Input::Start)).is_empty());
}
