//! Preemptive turns: the answer is prepared after a short silence and played at once when the
//! transcript reads as finished, held until the long silence when it does not, and dropped
//! when the caller goes on.

mod common;

use common::*;
use conversation::{CallerInput, Commitment, ConversationEvent, Input, Output, TurnConfig, TurnId};

fn preemptive() -> TurnConfig {
    TurnConfig {
        preemptive_silence: Some(ms(160)),
        end_of_turn_silence: ms(900),
        ..TurnConfig::default()
    }
}

/// Speech, then the short silence that ends the utterance, then its transcript: returns the
/// turn the brain was asked.
fn preemptive_turn(h: &mut Harness, text: &str) -> TurnId {
    h.speak(600);
    let (u, pcm) = transcribed(&h.silence(160)).expect("160 ms of silence ends the utterance");
    // 200 ms pre-roll is empty here (the call just started): 600 ms speech + 160 ms silence.
    assert!(pcm.len() >= (600 + 160) * 8);
    let out = h.handle(Input::Transcript {
        utterance: u,
        text: text.into(),
    });
    asked(&out).expect("the answer is prepared at once").0
}

fn commitments(h: &Harness) -> Vec<(TurnId, Commitment)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            ConversationEvent::TurnCommitted { turn, by, .. } => Some((turn, by)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_finished_question_is_committed_and_played_without_the_long_wait() {
    let mut h = Harness::new(preemptive());
    let turn = preemptive_turn(&mut h, "How much is the premium plan?");
    assert_eq!(commitments(&h), vec![(turn, Commitment::Complete)]);
    h.reply(turn, "It is twenty dollars.", false);
    let out = h.audio(turn, 0, tts_audio(400, 7));
    assert!(
        !frames(&out).is_empty(),
        "audio plays as soon as it is ready: {out:?}"
    );
}

#[test]
fn an_unfinished_sentence_is_held_until_the_long_silence() {
    let mut h = Harness::new(preemptive());
    let turn = preemptive_turn(&mut h, "I would like to");
    h.reply(turn, "Sure, what would you like?", false);
    let out = h.audio(turn, 0, tts_audio(400, 7));
    assert!(frames(&out).is_empty(), "held: nothing plays yet");
    assert!(commitments(&h).is_empty());
    // 160 ms of silence so far; the commitment comes at 900.
    let out = h.silence(720);
    assert!(frames(&out).is_empty(), "still held at 880 ms");
    let out = h.silence(20);
    assert_eq!(commitments(&h), vec![(turn, Commitment::Silence)]);
    assert!(!frames(&out).is_empty(), "plays once committed");
    let ev = h.events();
    let after = ev.iter().find_map(|e| match e {
        ConversationEvent::TurnCommitted { after_speech, .. } => Some(*after_speech),
        _ => None,
    });
    assert_eq!(after, Some(ms(900)));
}

#[test]
fn a_held_answer_is_dropped_when_the_caller_goes_on_and_the_words_are_joined() {
    let mut h = Harness::new(preemptive());
    let first = preemptive_turn(&mut h, "I would like to");
    h.reply(first, "Sure.", false);
    h.audio(first, 0, tts_audio(400, 7));
    h.silence(300);
    let out = h.speak(400);
    assert!(has(&out, &Output::CancelTurn(first)), "{out:?}");
    assert!(frames(&h.log_since(ms(0))).is_empty(), "never played");
    let (u2, _) = transcribed(&h.silence(160)).expect("second utterance");
    let out = h.handle(Input::Transcript {
        utterance: u2,
        text: "change my address".into(),
    });
    let (second, input) = asked(&out).expect("asked again");
    assert!(second > first);
    assert_eq!(
        input,
        CallerInput::Speech("I would like to change my address".into())
    );
    assert_eq!(commitments(&h), vec![(second, Commitment::Complete)]);
}

#[test]
fn a_held_goodbye_is_dropped_too() {
    let mut h = Harness::new(preemptive());
    let turn = preemptive_turn(&mut h, "no I do not want to");
    h.reply(turn, "Goodbye.", true);
    let out = h.speak(400);
    assert!(has(&out, &Output::CancelTurn(turn)), "{out:?}");
    assert!(!h.call.is_ended());
}

#[test]
fn a_transcript_arriving_after_the_long_silence_commits_at_once() {
    let mut h = Harness::new(preemptive());
    h.speak(600);
    let (u, _) = transcribed(&h.silence(160)).expect("utterance");
    h.silence(1000);
    let out = h.handle(Input::Transcript {
        utterance: u,
        text: "my number is".into(),
    });
    let (turn, _) = asked(&out).expect("asked");
    assert_eq!(commitments(&h), vec![(turn, Commitment::Silence)]);
}

#[test]
fn a_stalled_stream_does_not_hold_the_answer_forever() {
    let mut h = Harness::new(preemptive());
    let turn = preemptive_turn(&mut h, "I was wondering");
    h.reply(turn, "Yes?", false);
    h.audio(turn, 0, tts_audio(200, 7));
    // No caller frames at all any more: the engine wakes itself up.
    let out = h.advance(ms(3000));
    assert_eq!(commitments(&h), vec![(turn, Commitment::Silence)]);
    assert!(!frames(&out).is_empty());
}

#[test]
fn without_preemption_nothing_is_held_or_reported() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("I would like to");
    h.reply(turn, "Sure.", false);
    assert!(!frames(&h.audio(turn, 0, tts_audio(200, 7))).is_empty());
    assert!(commitments(&h).is_empty());
}

#[test]
fn a_preemptive_silence_longer_than_the_end_of_turn_is_rejected() {
    let c = TurnConfig {
        preemptive_silence: Some(ms(1000)),
        end_of_turn_silence: ms(500),
        ..TurnConfig::default()
    };
    assert!(c.validate().is_err());
    assert!(preemptive().validate().is_ok());
}

#[test]
fn a_short_turn_waits_half_the_long_silence_because_more_often_follows() {
    let mut h = Harness::new(preemptive());
    let turn = preemptive_turn(&mut h, "Thanks,");
    h.reply(turn, "You're welcome.", false);
    assert!(frames(&h.audio(turn, 0, tts_audio(400, 7))).is_empty());
    // 160 ms so far; committed at 440 ms (half of 900, in whole frames).
    assert!(frames(&h.silence(260)).is_empty());
    let out = h.silence(20);
    assert_eq!(commitments(&h), vec![(turn, Commitment::Complete)]);
    assert!(!frames(&out).is_empty());
}

#[test]
fn thanks_then_goodbye_is_one_turn_when_the_caller_goes_on_within_the_short_wait() {
    let mut h = Harness::new(preemptive());
    let first = preemptive_turn(&mut h, "Thanks,");
    h.reply(first, "Goodbye!", true);
    h.silence(100);
    let out = h.speak(400);
    assert!(has(&out, &Output::CancelTurn(first)), "{out:?}");
    let (u2, _) = transcribed(&h.silence(160)).expect("second utterance");
    let out = h.handle(Input::Transcript {
        utterance: u2,
        text: "goodbye!".into(),
    });
    let (_, input) = asked(&out).expect("asked again");
    assert_eq!(input, CallerInput::Speech("Thanks, goodbye!".into()));
}
