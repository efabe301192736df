//! The caller's side: voice activity, end of turn, noise, transcripts and when the brain is asked.

mod common;

use audio::frame::split_frames;
use common::*;
use conversation::{
    CallerInput, ConversationEvent, DiscardReason, Input, Output, Speaker, TurnConfig, TurnId,
};

#[test]
fn end_of_turn_after_configured_silence() {
    let mut h = Harness::new(TurnConfig::default());
    h.silence(300);
    h.speak(500);
    let out = h.silence(380);
    assert!(
        transcribed(&out).is_none(),
        "380 ms of silence must not end the turn"
    );
    let out = h.silence(20);
    let (_, pcm) = transcribed(&out).expect("400 ms of silence ends the turn");
    // 200 ms pre-roll + 500 ms speech + 400 ms silence.
    assert_eq!(pcm.len(), (200 + 500 + 400) * 8);
    assert!(
        pcm[..200 * 8].iter().all(|&s| s == 0),
        "pre-roll is the audio before the onset"
    );
    assert_eq!(pcm[200 * 8], 4000);
}

#[test]
fn end_of_turn_silence_is_configurable() {
    let config = TurnConfig {
        end_of_turn_silence: ms(800),
        ..TurnConfig::default()
    };
    let mut h = Harness::new(config);
    h.speak(500);
    assert!(transcribed(&h.silence(780)).is_none());
    assert!(transcribed(&h.silence(20)).is_some());
}

#[test]
fn short_noise_is_not_an_utterance() {
    let mut h = Harness::new(TurnConfig::default());
    // 40 ms: below the 60 ms onset, nothing happens at all.
    h.speak(40);
    h.silence(600);
    assert!(h.events().is_empty());
    // 100 ms: an onset, but under min_speech (150 ms): discarded as noise.
    let mut out = h.speak(100);
    out.extend(h.silence(600));
    assert!(transcribed(&out).is_none());
    assert!(matches!(
        h.events().as_slice(),
        [ConversationEvent::UtteranceDiscarded {
            utterance: None,
            reason: DiscardReason::TooShort,
            ..
        }]
    ));
}

#[test]
fn speech_with_short_gaps_stays_one_utterance() {
    let mut h = Harness::new(TurnConfig::default());
    let mut out = h.speak(300);
    out.extend(h.silence(200));
    out.extend(h.speak(300));
    out.extend(h.silence(400));
    let sent: Vec<_> = out
        .iter()
        .filter(|o| matches!(o, Output::Transcribe { .. }))
        .collect();
    assert_eq!(sent.len(), 1);
}

#[test]
fn long_utterance_is_cut_at_max_utterance() {
    let config = TurnConfig {
        max_utterance: ms(1000),
        ..TurnConfig::default()
    };
    let mut h = Harness::new(config);
    let out = h.speak(1500);
    let (first, pcm) = transcribed(&out).expect("cut at max_utterance while still speaking");
    assert_eq!(pcm.len(), 1000 * 8);
    assert!(h.events().iter().any(
        |e| matches!(e, ConversationEvent::UtteranceCut { utterance, .. } if *utterance == first)
    ));
    // The caller kept talking: the rest is a new utterance.
    let (second, _) = transcribed(&h.silence(400)).expect("remainder transcribed");
    assert!(second > first);
}

#[test]
fn transcript_becomes_caller_turn_and_asks_brain() {
    let mut h = Harness::new(TurnConfig::default());
    h.silence(100);
    let u = h.utterance(500);
    let out = h.handle(Input::Transcript {
        utterance: u,
        text: " I'd like to book a table ".into(),
    });
    assert_eq!(
        asked(&out),
        Some((
            TurnId(1),
            CallerInput::Speech("I'd like to book a table".into())
        ))
    );
    let records = h.turn_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].speaker, Speaker::Caller);
    assert_eq!(records[0].text, "I'd like to book a table");
    assert_eq!(records[0].utterance, Some(u));
    // The caller started speaking with the first loud frame, at 120 ms.
    assert_eq!(records[0].at, ms(120));
}

#[test]
fn empty_transcript_returns_to_listening() {
    let mut h = Harness::new(TurnConfig::default());
    let u = h.utterance(500);
    let out = h.handle(Input::Transcript {
        utterance: u,
        text: "  ".into(),
    });
    assert!(asked(&out).is_none());
    assert!(matches!(
        h.events().as_slice(),
        [ConversationEvent::UtteranceDiscarded { utterance: Some(x), reason: DiscardReason::EmptyTranscript, .. }] if *x == u
    ));
    // Still listening: the next utterance is answered normally.
    assert_eq!(h.caller_turn("hello"), TurnId(1));
}

#[test]
fn caller_speaking_again_supersedes_pending_answer() {
    let mut h = Harness::new(TurnConfig::default());
    let first = h.caller_turn("I want to book");
    let out = h.speak(300);
    assert!(
        has(&out, &Output::CancelTurn(first)),
        "older answer cancelled: {out:?}"
    );
    assert!(!has(&out, &Output::ClearPlayback), "nothing was playing");
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, ConversationEvent::TurnSuperseded { turn, .. } if *turn == first)));
    // Late answers to the superseded turn are dropped.
    assert!(synthesized(&h.handle(Input::ReplyText {
        turn: first,
        text: "Sure. ".into()
    }))
    .is_empty());
    let (u2, _) = transcribed(&h.silence(400)).expect("second utterance");
    let out = h.handle(Input::Transcript {
        utterance: u2,
        text: "a table for two".into(),
    });
    let (turn, input) = asked(&out).expect("asked again");
    assert!(turn > first);
    assert_eq!(
        input,
        CallerInput::Speech("I want to book a table for two".into())
    );
}

#[test]
fn transcript_waits_while_caller_is_still_talking() {
    let mut h = Harness::new(TurnConfig::default());
    let u1 = h.utterance(500);
    h.speak(300);
    let out = h.handle(Input::Transcript {
        utterance: u1,
        text: "My number is".into(),
    });
    assert!(asked(&out).is_none(), "the caller is still talking");
    let (u2, _) = transcribed(&h.silence(400)).expect("second utterance");
    let out = h.handle(Input::Transcript {
        utterance: u2,
        text: "five five five".into(),
    });
    assert_eq!(
        asked(&out),
        Some((
            TurnId(1),
            CallerInput::Speech("My number is five five five".into())
        ))
    );
}

#[test]
fn held_words_are_answered_when_the_follow_up_was_noise() {
    let mut h = Harness::new(TurnConfig::default());
    let u1 = h.utterance(500);
    h.speak(300);
    assert!(asked(&h.handle(Input::Transcript {
        utterance: u1,
        text: "Hello".into()
    }))
    .is_none());
    let (u2, _) = transcribed(&h.silence(400)).expect("second utterance");
    let out = h.handle(Input::Transcript {
        utterance: u2,
        text: String::new(),
    });
    assert_eq!(
        asked(&out),
        Some((TurnId(1), CallerInput::Speech("Hello".into())))
    );
}

#[test]
fn real_vad_detects_synthetic_speech_and_ends_the_turn() {
    let mut h = Harness::with_real_vad(TurnConfig::default());
    let mut out = h.silence(500);
    out.extend(h.caller(split_frames(&synthetic_speech(1500))));
    assert!(
        transcribed(&out).is_none(),
        "turn must not end while speaking"
    );
    out.extend(h.silence(1000));
    let sent: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Transcribe { pcm8k, .. } => Some(pcm8k.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "one utterance: {sent:?}");
    assert!(
        sent[0] >= 1200 * 8,
        "utterance keeps most of the speech: {} samples",
        sent[0]
    );
}

#[test]
fn provider_end_of_turn_ends_the_utterance_before_the_local_timer() {
    // With a streaming STT provider the local silence timer is only a safety net.
    let config = TurnConfig {
        end_of_turn_silence: ms(1500),
        ..TurnConfig::default()
    };
    let mut h = Harness::new(config);
    h.speak(500);
    assert!(transcribed(&h.silence(200)).is_none());
    let out = h.handle(Input::EndOfTurnDetected);
    let (_, pcm) = transcribed(&out).expect("the provider's end of turn ends the utterance");
    // 500 ms speech (no pre-roll: the call started with it) + the 200 ms of silence so far.
    assert_eq!(pcm.len(), (500 + 200) * 8);
    // Nothing open any more: a second signal and the local timer do nothing.
    assert!(transcribed(&h.handle(Input::EndOfTurnDetected)).is_none());
    assert!(transcribed(&h.silence(1500)).is_none());
}

#[test]
fn provider_end_of_turn_without_speech_is_ignored() {
    let mut h = Harness::new(TurnConfig::default());
    h.silence(300);
    assert!(h.handle(Input::EndOfTurnDetected).is_empty());
    assert!(h.events().is_empty());
}
