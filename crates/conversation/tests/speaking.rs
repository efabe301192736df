//! The agent's side: sentence streaming, ordered and paced playback, marks, failures, timings.

mod common;

use common::*;
use conversation::{ConversationEvent, Input, Output, Speaker, SpeechFailure, TurnConfig, TurnId};

fn greeting_config() -> TurnConfig {
    TurnConfig {
        greeting: Some("Hello! Thanks for calling Acme.".into()),
        ..TurnConfig::default()
    }
}

#[test]
fn greeting_is_synthesized_and_paced_in_real_time() {
    let mut h = Harness::new(greeting_config());
    let out = h.handle(Input::Start);
    assert_eq!(
        synthesized(&out),
        vec![
            (0, "Hello!".to_string()),
            (1, "Thanks for calling Acme.".to_string())
        ]
    );
    h.audio(TurnId(0), 0, tts_audio(500, 1));
    h.audio(TurnId(0), 1, tts_audio(500, 2));
    // Walk through the playout: never more than 100 ms ahead of real time, never starved.
    let mut sent = frames(&h.log_since(ms(0))).len();
    assert_eq!(sent, 5, "100 ms of lead sent at once");
    for step in 1..=60u32 {
        sent += frames(&h.advance(FRAME)).len();
        let elapsed = FRAME * step;
        let ahead = (FRAME * sent as u32).saturating_sub(elapsed);
        assert!(ahead <= ms(100), "{ahead:?} ahead at {elapsed:?}");
        if sent < 50 {
            assert!(
                ahead >= ms(80),
                "starved at {elapsed:?}: only {ahead:?} ahead"
            );
        }
    }
    assert_eq!(sent, 50);
    let all = h.log_since(ms(0));
    assert_eq!(marks(&all), vec!["t0s0", "t0s1"]);
    // The first mark follows the first sentence's last frame.
    let first_mark = all
        .iter()
        .position(|o| matches!(o, Output::SendMark(_)))
        .unwrap();
    assert_eq!(frames(&all[..first_mark]).len(), 25);
}

#[test]
fn reply_streams_sentence_by_sentence_before_reply_done() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("What are your hours?");
    let out = h.handle(Input::ReplyText {
        turn,
        text: "We open at 9 a.m. daily. We".into(),
    });
    assert_eq!(
        synthesized(&out),
        vec![(0, "We open at 9 a.m. daily.".to_string())]
    );
    // The first sentence plays while the brain is still writing.
    let out = h.audio(turn, 0, tts_audio(200, 1));
    assert!(!frames(&out).is_empty());
    let out = h.handle(Input::ReplyText {
        turn,
        text: " close at $5.".into(),
    });
    assert!(
        synthesized(&out).is_empty(),
        "'$5.' may continue as '$5.50'"
    );
    let out = h.handle(Input::ReplyText {
        turn,
        text: "50 an hour! Anything".into(),
    });
    assert_eq!(
        synthesized(&out),
        vec![(1, "We close at $5.50 an hour!".to_string())]
    );
    let out = h.handle(Input::ReplyDone {
        turn,
        end_call: false,
    });
    assert_eq!(synthesized(&out), vec![(2, "Anything".to_string())]);
}

#[test]
fn audio_is_sent_in_sentence_order_even_if_tts_finishes_out_of_order() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("Hi");
    assert_eq!(h.reply(turn, "One. Two. Three.", false).len(), 3);
    assert!(frames(&h.audio(turn, 2, tts_audio(100, 3))).is_empty());
    assert!(
        frames(&h.audio(turn, 1, tts_audio(100, 2))).is_empty(),
        "sentence 0 not ready yet"
    );
    h.audio(turn, 0, tts_audio(100, 1));
    let out = h.advance(ms(1000));
    let all: Vec<Output> = h.log.iter().map(|(_, o)| o.clone()).collect();
    let tags: Vec<i16> = frames(&all).iter().map(|f| f.0[0]).collect();
    assert_eq!(tags, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    assert_eq!(marks(&all), vec!["t1s0", "t1s1", "t1s2"]);
    assert!(!out.is_empty());
}

#[test]
fn failed_sentence_is_skipped_and_reported() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("Hi");
    h.reply(turn, "One. Two.", false);
    h.handle(Input::SpeechFailed { turn, seq: 0 });
    h.audio(turn, 1, tts_audio(100, 2));
    h.advance(ms(200));
    h.mark("t1s1");
    assert!(h.events().iter().any(|e| matches!(
        e,
        ConversationEvent::SpeechFailed { seq: 0, reason: SpeechFailure::Provider, text, .. } if text == "One."
    )));
    let agent = h
        .turn_records()
        .into_iter()
        .find(|r| r.speaker == Speaker::Agent)
        .expect("agent turn");
    assert_eq!(agent.text, "Two.", "only what was heard");
    assert!(!agent.interrupted);
}

#[test]
fn hung_synthesis_is_skipped_after_timeout() {
    let config = TurnConfig {
        synthesis_timeout: ms(2000),
        ..TurnConfig::default()
    };
    let mut h = Harness::new(config);
    let turn = h.caller_turn("Hi");
    h.reply(turn, "One. Two.", false);
    h.audio(turn, 1, tts_audio(100, 2));
    assert!(
        frames(&h.advance(ms(1990))).is_empty(),
        "waits for sentence 0 in order"
    );
    let out = h.advance(ms(20));
    assert_eq!(
        frames(&out).len(),
        5,
        "sentence 1 plays once sentence 0 is given up"
    );
    assert!(h.events().iter().any(|e| matches!(
        e,
        ConversationEvent::SpeechFailed {
            seq: 0,
            reason: SpeechFailure::Timeout,
            ..
        }
    )));
}

#[test]
fn agent_turn_is_recorded_when_its_last_mark_comes_back() {
    let mut h = Harness::new(TurnConfig::default());
    let turn = h.caller_turn("Hi");
    h.reply(turn, "Hello there. How can I help?", false);
    h.audio(turn, 0, tts_audio(200, 1));
    h.audio(turn, 1, tts_audio(200, 2));
    h.advance(ms(400));
    h.mark("t1s0");
    assert_eq!(h.turn_records().len(), 1, "only the caller's turn so far");
    h.mark("t1s1");
    let agent = h.turn_records().pop().unwrap();
    assert_eq!(agent.speaker, Speaker::Agent);
    assert_eq!(agent.text, "Hello there. How can I help?");
    assert!(!agent.interrupted);
    assert!(agent.partly_heard.is_none());
}

#[test]
fn timings_measure_end_of_speech_to_first_audio() {
    let mut h = Harness::new(TurnConfig::default());
    h.speak(500);
    let end_of_speech = h.elapsed();
    let (u, _) = transcribed(&h.silence(400)).expect("turn ended");
    h.silence(300);
    let (turn, _) = asked(&h.handle(Input::Transcript {
        utterance: u,
        text: "Hi".into(),
    }))
    .unwrap();
    h.silence(200);
    h.handle(Input::ReplyText {
        turn,
        text: "Hello. ".into(),
    });
    h.silence(140);
    h.audio(turn, 0, tts_audio(200, 1));
    let first_frame = h
        .log
        .iter()
        .find(|(_, o)| matches!(o, Output::SendAudio(_)))
        .unwrap()
        .0;
    assert_eq!(first_frame - end_of_speech, ms(1040));
    h.handle(Input::ReplyDone {
        turn,
        end_call: false,
    });
    h.advance(ms(300));
    h.mark("t1s0");
    let t = h
        .turn_records()
        .pop()
        .unwrap()
        .timings
        .expect("agent turns carry timings");
    assert_eq!(t.endpointing, Some(ms(400)));
    assert_eq!(t.speech_to_transcript, Some(ms(700)));
    assert_eq!(t.transcript_to_reply, Some(ms(200)));
    assert_eq!(t.reply_to_audio, Some(ms(140)));
    assert_eq!(t.voice_to_voice, Some(ms(1040)));
}

#[test]
fn greeting_timings_have_no_caller_stages() {
    let mut h = Harness::new(greeting_config());
    h.handle(Input::Start);
    h.advance(ms(300));
    h.audio(TurnId(0), 0, tts_audio(100, 1));
    h.audio(TurnId(0), 1, tts_audio(100, 1));
    h.advance(ms(300));
    h.mark("t0s1");
    let r = h.turn_records().pop().expect("greeting recorded");
    assert_eq!(r.text, "Hello! Thanks for calling Acme.");
    let t = r.timings.unwrap();
    assert_eq!(t.reply_to_audio, Some(ms(300)));
    assert_eq!((t.voice_to_voice, t.speech_to_transcript), (None, None));
}
