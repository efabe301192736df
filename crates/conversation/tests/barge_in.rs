//! Interrupting the agent: by voice (barge-in), by backchannel (not an interruption), by key.

mod common;

use common::*;
use conversation::{CallerInput, ConversationEvent, Input, Output, Speaker, TurnConfig, TurnId};

/// A caller turn answered with three 300 ms sentences, all synthesized and playing.
fn agent_speaking() -> (Harness, TurnId) {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("Tell me about your plans");
    h.reply(
        turn,
        "We have three plans. The basic plan costs ten dollars. The pro plan costs twenty.",
        false,
    );
    for seq in 0..3 {
        h.audio(turn, seq, tts_audio(300, seq as i16 + 1));
    }
    (h, turn)
}

#[test]
fn barge_in_clears_twilio_buffer_and_cancels_turn() {
    let (mut h, turn) = agent_speaking();
    h.silence(400);
    // 180 ms of caller speech is not yet a barge-in ...
    let out = h.speak(180);
    assert!(!has(&out, &Output::ClearPlayback));
    // ... 200 ms is.
    let out = h.speak(20);
    let clear = out
        .iter()
        .position(|o| *o == Output::ClearPlayback)
        .expect("clear sent");
    let cancel = out
        .iter()
        .position(|o| *o == Output::CancelTurn(turn))
        .expect("turn cancelled");
    assert!(clear < cancel);
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, ConversationEvent::BargeIn { turn: t, .. } if *t == turn)));
    // Nothing more of the cancelled turn is sent.
    let out = h.speak(300);
    assert!(frames(&out).is_empty() && marks(&out).is_empty());
    // The caller's utterance that barged in continues normally, from its onset.
    let (_, pcm) = transcribed(&h.silence(400)).expect("barge-in utterance transcribed");
    assert_eq!(pcm.len(), (200 + 500 + 400) * 8);
}

#[test]
fn transcript_keeps_only_played_sentences_after_barge_in() {
    let (mut h, turn) = agent_speaking();
    h.silence(300);
    h.mark("t1s0"); // the first sentence has been played
                    // Sentence 1 started playing at the echo; the caller's speech reaches barge-in strength
                    // 200 ms later, two thirds into its 300 ms.
    h.speak(200);
    let agent = h
        .turn_records()
        .into_iter()
        .find(|r| r.speaker == Speaker::Agent)
        .expect("agent turn recorded");
    assert_eq!(agent.turn, turn);
    assert_eq!(agent.text, "We have three plans.");
    assert!(agent.interrupted);
    let partly = agent
        .partly_heard
        .expect("estimate of the sentence cut off");
    assert!(
        (partly.fraction - 2.0 / 3.0).abs() < 0.01,
        "{}",
        partly.fraction
    );
    assert_eq!(partly.estimated_text, "The basic plan costs");
    assert!(h.events().iter().any(|e| matches!(
        e,
        ConversationEvent::BargeIn {
            sentences_heard: 1,
            ..
        }
    )));
}

#[test]
fn marks_echoed_after_clear_are_ignored() {
    let (mut h, first) = agent_speaking();
    h.silence(300);
    h.speak(200);
    let interrupted = h.turn_records().pop().unwrap();
    assert_eq!((interrupted.turn, interrupted.text.as_str()), (first, ""));
    // The next turn is already playing when Twilio's echoes of the flushed marks trickle in.
    let (u, _) = transcribed(&h.silence(400)).unwrap();
    let (turn, _) = asked(&h.handle(Input::Transcript {
        utterance: u,
        text: "The pro one".into(),
    }))
    .unwrap();
    h.reply(turn, "Great choice.", false);
    h.audio(turn, 0, tts_audio(100, 9));
    h.advance(ms(200));
    let records = h.turn_records().len();
    // Twilio drains its mark queue after a clear: those sentences were NOT played, and their
    // echoes must not count for anything, including the turn now playing.
    for name in ["t1s0", "t1s1", "t1s2"] {
        assert!(
            h.mark(name).is_empty(),
            "echo of flushed {name} must change nothing"
        );
    }
    assert_eq!(
        h.turn_records().len(),
        records,
        "the new turn is not heard yet"
    );
    h.mark("t2s0");
    let last = h.turn_records().pop().unwrap();
    assert_eq!(
        (last.turn, last.text.as_str(), last.interrupted),
        (turn, "Great choice.", false)
    );
}

#[test]
fn late_answers_for_a_cancelled_turn_are_ignored() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("Hi");
    h.handle(Input::ReplyText {
        turn,
        text: "Hello. How".into(),
    });
    h.audio(turn, 0, tts_audio(1000, 1));
    h.silence(200);
    h.speak(200);
    let since = h.log.len();
    h.handle(Input::ReplyText {
        turn,
        text: " are you? Fine.".into(),
    });
    h.handle(Input::ReplyDone {
        turn,
        end_call: false,
    });
    h.audio(turn, 1, tts_audio(300, 2));
    h.advance(ms(500));
    let after: Vec<Output> = h.log[since..].iter().map(|(_, o)| o.clone()).collect();
    assert!(
        synthesized(&after).is_empty() && frames(&after).is_empty(),
        "{after:?}"
    );
}

#[test]
fn backchannel_does_not_interrupt_the_agent() {
    let (mut h, _) = agent_speaking();
    h.silence(100);
    // 160 ms: enough to transcribe (min_speech 150 ms), not enough to barge in (200 ms).
    let mut out = h.speak(160);
    out.extend(h.silence(400));
    let (u, _) = transcribed(&out).expect("backchannel transcribed");
    assert!(!has(&out, &Output::ClearPlayback));
    let out = h.handle(Input::Transcript {
        utterance: u,
        text: "uh-huh".into(),
    });
    assert!(asked(&out).is_none(), "a backchannel is not answered");
    let caller = h.turn_records().pop().unwrap();
    assert_eq!(
        (caller.speaker, caller.text.as_str()),
        (Speaker::Caller, "uh-huh")
    );
    // The agent carries on.
    assert!(!frames(&h.advance(ms(100))).is_empty());
}

#[test]
fn dtmf_reaches_brain() {
    let mut h = Harness::new(TurnConfig::default());
    let out = h.handle(Input::Dtmf('5'));
    assert_eq!(asked(&out), Some((TurnId(1), CallerInput::Dtmf('5'))));
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, ConversationEvent::Dtmf { digit: '5', .. })));
}

#[test]
fn dtmf_interrupts_speaking_agent_and_is_its_own_turn() {
    let (mut h, turn) = agent_speaking();
    h.advance(ms(200));
    let out = h.handle(Input::Dtmf('#'));
    assert!(has(&out, &Output::ClearPlayback));
    assert!(has(&out, &Output::CancelTurn(turn)));
    let (next, input) = asked(&out).expect("key press answered");
    assert_eq!(input, CallerInput::Dtmf('#'));
    assert!(next > turn);
    assert!(h
        .turn_records()
        .iter()
        .any(|r| r.turn == turn && r.interrupted));
}
