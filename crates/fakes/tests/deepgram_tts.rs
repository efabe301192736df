//! `speech::DeepgramTts` and `speech::DeepgramSpeaker` against `FakeDeepgramSpeak`: the websocket
//! path, its pooling, the REST fallback, Clear on barge-in and the errors a caller sees.

use std::sync::Arc;
use std::time::Duration;

use fakes::{FakeDeepgramSpeak, FakeDeepgramSpeakConfig};
use speech::{
    DeepgramConfig, DeepgramSpeaker, DeepgramTts, SpeakEvent, SpeakOptions, SpeechAudio,
    SpeechError, Tts,
};

const KEY: &str = "dg-test-key";
/// The tone voice speaks 100 ms per word at 16 kHz, so 800 µ-law bytes per word at 8 kHz.
const BYTES_PER_WORD_8K: usize = 800;

/// A deterministic voice: a 440 Hz tone, 100 ms per word of the text, at 16 kHz (so the fake
/// must resample to the 8 kHz the client asks for).
struct ToneVoice;

impl Tts for ToneVoice {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let words = text.split_whitespace().count();
        let samples = (0..words * 1600)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                ((t * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
            })
            .collect();
        Ok(SpeechAudio {
            samples,
            sample_rate: 16_000,
        })
    }
    fn name(&self) -> &str {
        "tone"
    }
}

fn setup() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn fake(configure: impl FnOnce(&mut FakeDeepgramSpeakConfig)) -> FakeDeepgramSpeak {
    let mut config = FakeDeepgramSpeakConfig::new(KEY, Arc::new(ToneVoice));
    configure(&mut config);
    FakeDeepgramSpeak::start(config).await.unwrap()
}

fn client_config(fake: &FakeDeepgramSpeak, key: &str) -> DeepgramConfig {
    DeepgramConfig {
        base_url: fake.base_url(),
        api_key: key.to_owned(),
        connect_timeout: Duration::from_secs(2),
    }
}

/// `Tts` is blocking: call it the way the speech pool does, on a blocking thread.
async fn synthesize(tts: &Arc<DeepgramTts>, text: &str) -> Result<SpeechAudio, SpeechError> {
    let (tts, text) = (tts.clone(), text.to_owned());
    tokio::task::spawn_blocking(move || tts.synthesize(&text))
        .await
        .unwrap()
}

fn assert_words_of_audio(audio: &SpeechAudio, words: usize) {
    assert_eq!(audio.sample_rate, 8000);
    let expected = words * BYTES_PER_WORD_8K;
    assert!(
        audio.samples.len().abs_diff(expected) <= 4,
        "{} samples, expected about {expected}",
        audio.samples.len()
    );
    // Decoded µ-law of the tone, not silence or noise-free zeros.
    let peak = audio
        .samples
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap();
    assert!((6000..=9000).contains(&peak), "peak {peak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_audio_is_8khz_and_as_long_as_the_text() {
    setup();
    let fake = fake(|_| {}).await;
    let tts = Arc::new(DeepgramTts::new(client_config(&fake, KEY)).unwrap());
    assert_eq!(tts.name(), "deepgram:aura-2-thalia-en");

    let audio = synthesize(&tts, "Sure, let me check that.").await.unwrap();

    assert_words_of_audio(&audio, 5);
    assert_eq!(fake.ws_connections(), 1);
    assert_eq!(fake.rest_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_websocket_is_reused_for_the_next_sentence() {
    setup();
    let fake = fake(|_| {}).await;
    let tts = Arc::new(DeepgramTts::new(client_config(&fake, KEY)).unwrap());

    let first = synthesize(&tts, "Hello there.").await.unwrap();
    let second = synthesize(&tts, "How can I help you today?").await.unwrap();

    assert_words_of_audio(&first, 2);
    assert_words_of_audio(&second, 6);
    assert_eq!(
        fake.ws_connections(),
        1,
        "second sentence reused the socket"
    );
    assert_eq!(fake.flushes(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_fallback_speaks_when_websocket_is_refused() {
    setup();
    let fake = fake(|c| c.fail_websocket = true).await;
    let tts = Arc::new(DeepgramTts::new(client_config(&fake, KEY)).unwrap());

    let audio = synthesize(&tts, "Your appointment is on Friday.")
        .await
        .unwrap();

    assert_words_of_audio(&audio, 5);
    assert_eq!(fake.ws_connections(), 0);
    assert_eq!(fake.rest_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_websocket_is_skipped_until_its_cooldown_ends() {
    setup();
    let fake = fake(|c| c.fail_websocket = true).await;
    let tts = DeepgramTts::new(client_config(&fake, KEY))
        .unwrap()
        .with_websocket_cooldown(Duration::from_millis(300));
    let tts = Arc::new(tts);
    synthesize(&tts, "One.").await.unwrap();
    fake.set_fail_websocket(false);

    // Within the cooldown: straight to REST, no upgrade attempted.
    synthesize(&tts, "Two.").await.unwrap();
    assert_eq!((fake.refused(), fake.ws_connections()), (1, 0));
    assert_eq!(fake.rest_requests(), 2);

    tokio::time::sleep(Duration::from_millis(350)).await;
    synthesize(&tts, "Three.").await.unwrap();
    assert_eq!(
        fake.ws_connections(),
        1,
        "websocket used again after the cooldown"
    );
    assert_eq!(fake.rest_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_is_reported_as_unauthorized() {
    setup();
    let fake = fake(|_| {}).await;
    let tts = Arc::new(DeepgramTts::new(client_config(&fake, "wrong")).unwrap());

    let error = synthesize(&tts, "Hello.").await.unwrap_err();

    match error {
        SpeechError::Unauthorized { provider, message } => {
            assert_eq!(provider, "deepgram");
            assert_eq!(message, "Invalid credentials.");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(fake.rest_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_failure_on_both_paths_is_a_provider_error_after_one_retry() {
    setup();
    let fake = fake(|c| c.fail_all = true).await;
    let tts = Arc::new(DeepgramTts::new(client_config(&fake, KEY)).unwrap());

    let error = synthesize(&tts, "Hello.").await.unwrap_err();

    assert!(
        matches!(error, SpeechError::Provider { status: 500, .. }),
        "{error:?}"
    );
    // One refused upgrade, then REST tried twice.
    assert_eq!(fake.refused(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_text_is_refused_without_a_request() {
    setup();
    let fake = fake(|_| {}).await;
    let tts = Arc::new(DeepgramTts::new(client_config(&fake, KEY)).unwrap());

    let error = synthesize(&tts, "   ").await.unwrap_err();

    assert!(matches!(error, SpeechError::InvalidInput(_)));
    assert_eq!(fake.ws_connections(), 0);
}

/// Reads events until `Flushed`, returning the audio bytes and the flush's sequence id.
async fn audio_until_flushed(speaker: &mut DeepgramSpeaker) -> (usize, u64) {
    let mut bytes = 0;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), speaker.next_event())
            .await
            .expect("event in time")
            .unwrap()
            .expect("socket open");
        match event {
            SpeakEvent::Audio(chunk) => bytes += chunk.len(),
            SpeakEvent::Flushed { sequence_id } => return (bytes, sequence_id),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn speaker_streams_sentences_and_counts_flushes() {
    setup();
    let fake = fake(|_| {}).await;
    let mut speaker =
        DeepgramSpeaker::connect(&client_config(&fake, KEY), &SpeakOptions::default())
            .await
            .unwrap();

    speaker.speak("Let me look").await.unwrap();
    speaker.speak(" that up.").await.unwrap();
    speaker.flush().await.unwrap();
    let (first_bytes, first_id) = audio_until_flushed(&mut speaker).await;
    speaker.speak("Found it.").await.unwrap();
    speaker.flush().await.unwrap();
    let (second_bytes, second_id) = audio_until_flushed(&mut speaker).await;

    // Speak messages accumulate until Flush: five words, then two.
    assert!(
        first_bytes.abs_diff(5 * BYTES_PER_WORD_8K) <= 4,
        "{first_bytes}"
    );
    assert!(
        second_bytes.abs_diff(2 * BYTES_PER_WORD_8K) <= 4,
        "{second_bytes}"
    );
    assert_eq!((first_id, second_id), (0, 1));

    speaker.close().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), speaker.next_event()).await;
    assert_eq!(end.unwrap().unwrap(), None, "server closed after Close");
}

#[tokio::test]
async fn barge_in_clear_drops_audio_not_yet_heard() {
    setup();
    // Synthesis "takes" 300 ms, so the Clear lands while the flush's audio is pending.
    let fake = fake(|c| c.reply_delay = Duration::from_millis(300)).await;
    let mut speaker =
        DeepgramSpeaker::connect(&client_config(&fake, KEY), &SpeakOptions::default())
            .await
            .unwrap();

    speaker
        .speak("This is a long answer nobody wants to hear.")
        .await
        .unwrap();
    speaker.flush().await.unwrap();
    speaker.clear().await.unwrap();

    let mut events = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), speaker.next_event())
            .await
            .expect("event in time")
            .unwrap()
            .expect("socket open");
        let cleared = matches!(event, SpeakEvent::Cleared { .. });
        events.push(event);
        if cleared {
            break;
        }
    }
    assert!(
        !events.iter().any(|e| matches!(e, SpeakEvent::Audio(_))),
        "no audio reaches the caller after Clear: {events:?}"
    );

    // The socket stays usable for the next turn.
    speaker.speak("Go ahead.").await.unwrap();
    speaker.flush().await.unwrap();
    let (bytes, _) = audio_until_flushed(&mut speaker).await;
    assert!(bytes.abs_diff(2 * BYTES_PER_WORD_8K) <= 4, "{bytes}");
}

#[tokio::test]
async fn speaker_with_bad_key_is_unauthorized() {
    setup();
    let fake = fake(|_| {}).await;

    let result =
        DeepgramSpeaker::connect(&client_config(&fake, "nope"), &SpeakOptions::default()).await;

    assert!(
        matches!(result, Err(SpeechError::Unauthorized { .. })),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn rest_endpoint_answers_raw_mulaw_with_deepgram_headers() {
    setup();
    let fake = fake(|_| {}).await;
    let url = format!(
        "http://{}/v1/speak?model=aura-2-helena-en&encoding=mulaw&sample_rate=8000&container=none",
        fake.addr()
    );
    let (head, body) = post_raw(&url, KEY, r#"{"text":"Two words"}"#).await;

    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("dg-model-name: aura-2-helena-en"), "{head}");
    assert!(head.contains("dg-char-count: 9"), "{head}");
    assert_eq!(
        body.len(),
        2 * BYTES_PER_WORD_8K,
        "raw µ-law, no WAV header"
    );
}

/// A minimal HTTP/1.1 POST over a raw socket (fakes does not depend on an HTTP client); returns
/// the lower-cased response head and the body.
async fn post_raw(url: &str, key: &str, body: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..head_end]).to_lowercase();
    (head, response[head_end + 4..].to_vec())
}
