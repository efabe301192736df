//! The real `speech` Deepgram live client against the fake listen server, over loopback.

use std::sync::Arc;
use std::time::Duration;

use fakes::{FakeDeepgramListen, FakeListenConfig, FakeListenHandle};
use speech::{
    DeepgramConfig, DeepgramLive, LiveEvent, LiveOptions, LiveReceiver, LiveSender, SpeechError,
    Stt, TurnAssembler,
};

const KEY: &str = "test-key";

/// Deterministic stand-in for a speech model: one "hello" per started 200 ms of loud audio, so
/// transcripts grow with the speech and tests can check exactly what was transcribed.
struct CountingStt;

impl Stt for CountingStt {
    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError> {
        let frame = (sample_rate / 50) as usize;
        let voiced = pcm
            .chunks(frame)
            .filter(|f| f.iter().map(|&s| (s as i64).abs()).max().unwrap_or(0) > 1000)
            .count();
        let words = voiced.div_ceil(10);
        Ok(vec!["hello"; words].join(" "))
    }

    fn name(&self) -> &str {
        "counting"
    }
}

/// `ms` of 8 kHz mu-law audio in 20 ms (160-byte) frames, as Twilio sends them: a loud 300 Hz
/// tone for speech, digital silence otherwise.
fn frames(ms: u32, speech: bool) -> Vec<Vec<u8>> {
    let pcm: Vec<i16> = (0..8 * ms as usize)
        .map(|i| {
            if speech {
                ((i as f32 * 300.0 * std::f32::consts::TAU / 8000.0).sin() * 10_000.0) as i16
            } else {
                0
            }
        })
        .collect();
    audio::mulaw::encode_all(&pcm)
        .chunks(160)
        .map(<[u8]>::to_vec)
        .collect()
}

async fn send(sender: &mut LiveSender, ms: u32, speech: bool) {
    for frame in frames(ms, speech) {
        sender.send_audio(frame).await.expect("send audio");
    }
}

async fn start(config: FakeListenConfig) -> FakeListenHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    FakeDeepgramListen::start(config).await.expect("start fake")
}

fn fake_config() -> FakeListenConfig {
    FakeListenConfig::new(KEY, Arc::new(CountingStt))
}

fn client_config(fake: &FakeListenHandle, key: &str) -> DeepgramConfig {
    DeepgramConfig {
        base_url: fake.ws_url(),
        api_key: key.to_string(),
        connect_timeout: Duration::from_secs(5),
    }
}

async fn connect(fake: &FakeListenHandle, options: &LiveOptions) -> (LiveSender, LiveReceiver) {
    DeepgramLive::connect(&client_config(fake, KEY), options)
        .await
        .expect("connect to fake")
}

/// The next event, failing the test if none comes within 5 s.
async fn next(receiver: &mut LiveReceiver) -> Option<Result<LiveEvent, SpeechError>> {
    tokio::time::timeout(Duration::from_secs(5), receiver.next())
        .await
        .expect("no event within 5 s")
}

/// Reads events until `done` says stop (inclusive); panics on errors or end of stream.
async fn events_until(
    receiver: &mut LiveReceiver,
    done: impl Fn(&LiveEvent) -> bool,
) -> Vec<LiveEvent> {
    let mut events = Vec::new();
    loop {
        let event = next(receiver).await.expect("stream ended").expect("event");
        let stop = done(&event);
        events.push(event);
        if stop {
            return events;
        }
    }
}

#[tokio::test]
async fn speech_then_silence_gives_interims_then_a_speech_final_transcript() {
    let fake = start(fake_config()).await;
    let options = LiveOptions::default();
    let (mut sender, mut receiver) = connect(&fake, &options).await;
    send(&mut sender, 200, false).await;
    send(&mut sender, 1200, true).await;
    send(&mut sender, 1400, false).await;

    let events = events_until(&mut receiver, |e| {
        matches!(e, LiveEvent::UtteranceEnd { .. })
    })
    .await;
    assert!(
        matches!(events[0], LiveEvent::SpeechStarted { timestamp } if (timestamp - 0.2).abs() < 1e-6)
    );
    let interims: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            LiveEvent::Transcript {
                text,
                is_final: false,
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    // 500 ms then 1000 ms of speech so far.
    assert_eq!(
        interims,
        ["hello hello hello", "hello hello hello hello hello"]
    );
    let finals: Vec<&LiveEvent> = events
        .iter()
        .filter(|e| matches!(e, LiveEvent::Transcript { is_final: true, .. }))
        .collect();
    assert_eq!(finals.len(), 1);
    let LiveEvent::Transcript {
        text,
        speech_final,
        from_finalize,
        start,
        duration,
        ..
    } = finals[0]
    else {
        unreachable!()
    };
    assert_eq!(text, "hello hello hello hello hello hello");
    assert!(*speech_final && !*from_finalize);
    assert!(
        (start - 0.2).abs() < 1e-6 && (duration - 1.5).abs() < 1e-6,
        "{start} {duration}"
    );
    assert!(
        matches!(events.last(), Some(LiveEvent::UtteranceEnd { last_word_end }) if (last_word_end - 1.4).abs() < 1e-6)
    );

    // The client's turn recipe ends the turn once, on speech_final, not again on UtteranceEnd.
    let mut turns = TurnAssembler::new();
    let ended: Vec<String> = events.iter().filter_map(|e| turns.handle(e)).collect();
    assert_eq!(ended, ["hello hello hello hello hello hello"]);

    let params = fake.last_params().expect("params recorded");
    assert_eq!(params.sample_rate, 8000);
    assert_eq!(params.endpointing_ms, Some(300));
    assert_eq!(params.utterance_end_ms, Some(1000));
    assert!(params.interim_results && params.vad_events);
    assert_eq!(fake.connections(), 1);
}

#[tokio::test]
async fn finalize_flushes_pending_speech_as_a_from_finalize_final() {
    let fake = start(fake_config()).await;
    let options = LiveOptions {
        endpointing_ms: None,
        utterance_end_ms: None,
        interim_results: false,
        vad_events: false,
        ..LiveOptions::default()
    };
    let (mut sender, mut receiver) = connect(&fake, &options).await;
    send(&mut sender, 600, true).await;
    sender.finalize().await.expect("finalize");
    let event = next(&mut receiver).await.expect("open").expect("event");
    assert!(
        matches!(&event, LiveEvent::Transcript { text, is_final: true, speech_final: false, from_finalize: true, .. } if text == "hello hello hello"),
        "{event:?}"
    );
    let mut turns = TurnAssembler::new();
    assert_eq!(turns.handle(&event).as_deref(), Some("hello hello hello"));
}

#[tokio::test]
async fn keep_alive_keeps_an_idle_stream_open_past_the_idle_timeout() {
    let fake = start(FakeListenConfig {
        idle_timeout: Duration::from_millis(400),
        ..fake_config()
    })
    .await;
    let (mut sender, mut receiver) = connect(&fake, &LiveOptions::default()).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        sender.keep_alive().await.expect("keep alive");
    }
    // 1.2 s idle but kept alive: the stream still transcribes.
    send(&mut sender, 400, true).await;
    send(&mut sender, 300, false).await;
    let events = events_until(&mut receiver, |e| {
        matches!(e, LiveEvent::Transcript { is_final: true, .. })
    })
    .await;
    assert!(
        matches!(events.last(), Some(LiveEvent::Transcript { text, .. }) if text == "hello hello")
    );
}

#[tokio::test]
async fn idle_stream_is_closed_with_net_0001() {
    let fake = start(FakeListenConfig {
        idle_timeout: Duration::from_millis(300),
        ..fake_config()
    })
    .await;
    let (_sender, mut receiver) = connect(&fake, &LiveOptions::default()).await;
    match next(&mut receiver).await {
        Some(Err(SpeechError::StreamClosed { code, reason, .. })) => {
            assert_eq!((code, reason.as_str()), (1011, "NET-0001"));
        }
        other => panic!("expected an error close, got {other:?}"),
    }
    assert!(next(&mut receiver).await.is_none());
}

#[tokio::test]
async fn wrong_key_is_refused_at_connect() {
    let fake = start(fake_config()).await;
    let err = DeepgramLive::connect(&client_config(&fake, "wrong"), &LiveOptions::default())
        .await
        .expect_err("wrong key must be refused");
    assert!(
        matches!(&err, SpeechError::Unauthorized { message, .. } if message.contains("Invalid credentials")),
        "{err}"
    );
    assert_eq!(fake.connections(), 0);
}

#[tokio::test]
async fn server_drop_mid_utterance_ends_the_receiver_and_a_reconnect_works() {
    let fake = start(fake_config()).await;
    fake.drop_connections_after(10);
    let (mut sender, mut receiver) = connect(&fake, &LiveOptions::default()).await;
    for frame in frames(600, true) {
        // Writes after the drop may or may not fail, depending on socket buffering.
        if sender.send_audio(frame).await.is_err() {
            break;
        }
    }
    let mut saw_failure = false;
    while let Some(event) = next(&mut receiver).await {
        match event {
            Ok(LiveEvent::SpeechStarted { .. }) => {}
            Ok(other) => panic!("no transcript expected before the drop, got {other:?}"),
            Err(SpeechError::StreamFailed { .. }) => saw_failure = true,
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert!(
        saw_failure,
        "a dropped connection is reported as a stream failure"
    );
    assert!(
        next(&mut receiver).await.is_none(),
        "the receiver stays ended"
    );

    // The fault fired once; a new stream is healthy.
    let (mut sender, mut receiver) = connect(&fake, &LiveOptions::default()).await;
    send(&mut sender, 400, true).await;
    send(&mut sender, 300, false).await;
    let events = events_until(&mut receiver, |e| {
        matches!(e, LiveEvent::Transcript { is_final: true, .. })
    })
    .await;
    assert!(
        matches!(events.last(), Some(LiveEvent::Transcript { text, speech_final: true, .. }) if text == "hello hello")
    );
    assert_eq!(fake.connections(), 2);
}

#[tokio::test]
async fn close_stream_flushes_then_sends_metadata_and_closes() {
    let fake = start(fake_config()).await;
    let options = LiveOptions {
        vad_events: false,
        interim_results: false,
        ..LiveOptions::default()
    };
    let (mut sender, mut receiver) = connect(&fake, &options).await;
    send(&mut sender, 400, true).await;
    sender.close_stream().await.expect("close stream");
    let flushed = next(&mut receiver).await.expect("open").expect("event");
    assert!(
        matches!(&flushed, LiveEvent::Transcript { text, is_final: true, .. } if text == "hello hello"),
        "{flushed:?}"
    );
    let metadata = next(&mut receiver).await.expect("open").expect("event");
    assert!(
        matches!(&metadata, LiveEvent::Metadata { request_id } if !request_id.is_empty()),
        "{metadata:?}"
    );
    assert!(
        next(&mut receiver).await.is_none(),
        "normal close ends the stream"
    );
}

#[tokio::test]
async fn reply_delay_holds_back_each_final() {
    let fake = start(FakeListenConfig {
        reply_delay: Duration::from_millis(300),
        ..fake_config()
    })
    .await;
    let options = LiveOptions {
        vad_events: false,
        interim_results: false,
        ..LiveOptions::default()
    };
    let (mut sender, mut receiver) = connect(&fake, &options).await;
    send(&mut sender, 200, true).await;
    let sent_at = std::time::Instant::now();
    send(&mut sender, 300, false).await;
    let event = next(&mut receiver).await.expect("open").expect("event");
    assert!(matches!(
        event,
        LiveEvent::Transcript { is_final: true, .. }
    ));
    assert!(sent_at.elapsed() >= Duration::from_millis(300));
}
