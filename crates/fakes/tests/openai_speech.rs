//! `speech::OpenAiTts` and `speech::OpenAiStt` against `FakeOpenAiAudio`: formats, the request
//! fields sent, retries on 429/5xx and the errors a caller sees.

use std::sync::Arc;
use std::time::Duration;

use fakes::{FakeOpenAiAudio, FakeOpenAiAudioConfig};
use speech::{OpenAiSpeechConfig, OpenAiStt, OpenAiTts, SpeechAudio, SpeechError, Stt, Tts};

const KEY: &str = "sk-test";

/// A deterministic voice: 100 ms of a 300 Hz tone per word, at 16 kHz (the fake resamples to
/// the 24 kHz that `pcm` promises).
struct ToneVoice;

impl Tts for ToneVoice {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let words = text.split_whitespace().count();
        let samples = (0..words * 1600)
            .map(|i| ((i as f32 / 16_000.0 * 300.0 * std::f32::consts::TAU).sin() * 9000.0) as i16)
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

/// A transcriber that describes exactly what it was given, so a round trip proves the samples
/// and rate survived the WAV upload unchanged.
struct DescribingStt;

impl Stt for DescribingStt {
    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError> {
        let sum: i64 = pcm.iter().map(|&s| i64::from(s)).sum();
        Ok(format!(
            "{} samples at {sample_rate} Hz, sum {sum}",
            pcm.len()
        ))
    }
    fn name(&self) -> &str {
        "describing"
    }
}

fn setup() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn fake() -> FakeOpenAiAudio {
    FakeOpenAiAudio::start(FakeOpenAiAudioConfig {
        api_key: KEY.to_owned(),
        voice: Arc::new(ToneVoice),
        transcriber: Arc::new(DescribingStt),
    })
    .await
    .unwrap()
}

fn config(fake: &FakeOpenAiAudio, key: &str) -> OpenAiSpeechConfig {
    OpenAiSpeechConfig {
        base_url: fake.base_url(),
        api_key: key.to_owned(),
        timeout: Duration::from_secs(5),
        ..OpenAiSpeechConfig::default()
    }
}

async fn speak(tts: &Arc<OpenAiTts>, text: &str) -> Result<SpeechAudio, SpeechError> {
    let (tts, text) = (tts.clone(), text.to_owned());
    tokio::task::spawn_blocking(move || tts.synthesize(&text))
        .await
        .unwrap()
}

async fn transcribe(stt: &Arc<OpenAiStt>, pcm: Vec<i16>, rate: u32) -> Result<String, SpeechError> {
    let stt = stt.clone();
    tokio::task::spawn_blocking(move || stt.transcribe(&pcm, rate))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_is_24khz_pcm_as_long_as_the_text() {
    setup();
    let fake = fake().await;
    let tts = Arc::new(OpenAiTts::new(config(&fake, KEY)).unwrap());
    assert_eq!(tts.name(), "openai:gpt-4o-mini-tts:alloy");

    let audio = speak(&tts, "Your table is booked.").await.unwrap();

    assert_eq!(audio.sample_rate, 24_000);
    // Four words of 100 ms each.
    assert!(
        audio.samples.len().abs_diff(4 * 2400) <= 6,
        "{}",
        audio.samples.len()
    );
    let peak = audio
        .samples
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap();
    assert!((8000..=10_000).contains(&peak), "peak {peak}");
    let sent = fake.last_speech_request().unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini-tts");
    assert_eq!(sent["voice"], "alloy");
    assert_eq!(sent["response_format"], "pcm");
    assert_eq!(sent["input"], "Your table is booked.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_is_unauthorized_with_openai_message() {
    setup();
    let fake = fake().await;
    let tts = Arc::new(OpenAiTts::new(config(&fake, "sk-wrong")).unwrap());

    let error = speak(&tts, "Hello.").await.unwrap_err();

    match &error {
        SpeechError::Unauthorized { provider, message } => {
            assert_eq!(*provider, "openai");
            assert_eq!(message, "Incorrect API key provided.");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(error.to_string().contains("rejected the API key"));
    assert_eq!(
        fake.requests("/v1/audio/speech"),
        1,
        "auth errors are not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_then_success_is_retried_once() {
    setup();
    let fake = fake().await;
    let tts = Arc::new(OpenAiTts::new(config(&fake, KEY)).unwrap());
    fake.fail_next(1, 500);

    let audio = speak(&tts, "Still here.").await.unwrap();

    assert!(audio.samples.len().abs_diff(2 * 2400) <= 6);
    assert_eq!(fake.requests("/v1/audio/speech"), 2);
    assert_eq!(fake.failures_sent(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_twice_gives_up_after_one_retry() {
    setup();
    let fake = fake().await;
    let tts = Arc::new(OpenAiTts::new(config(&fake, KEY)).unwrap());
    fake.fail_next(2, 429);

    let error = speak(&tts, "Hello.").await.unwrap_err();

    assert!(
        matches!(error, SpeechError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(fake.requests("/v1/audio/speech"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcription_round_trip_uploads_the_utterance_as_wav() {
    setup();
    let fake = fake().await;
    let stt = Arc::new(OpenAiStt::new(config(&fake, KEY)).unwrap());
    let pcm: Vec<i16> = (0..1600).map(|i| ((i % 200) as i16 - 100) * 50).collect();
    let sum: i64 = pcm.iter().map(|&s| i64::from(s)).sum();

    let text = transcribe(&stt, pcm, 8000).await.unwrap();

    assert_eq!(text, format!("1600 samples at 8000 Hz, sum {sum}"));
    let fields = fake.last_transcription_fields();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("model"), Some("gpt-4o-mini-transcribe"));
    assert_eq!(field("response_format"), Some("json"));
    assert_eq!(field("file.filename"), Some("utterance.wav"));
    assert_eq!(field("file.content_type"), Some("audio/wav"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcription_is_retried_after_a_server_error() {
    setup();
    let fake = fake().await;
    let stt = Arc::new(OpenAiStt::new(config(&fake, KEY)).unwrap());
    fake.fail_next(1, 503);

    let text = transcribe(&stt, vec![100; 800], 16_000).await.unwrap();

    assert_eq!(text, "800 samples at 16000 Hz, sum 80000");
    assert_eq!(fake.requests("/v1/audio/transcriptions"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcription_with_bad_key_is_unauthorized() {
    setup();
    let fake = fake().await;
    let stt = Arc::new(OpenAiStt::new(config(&fake, "")).unwrap());

    let error = transcribe(&stt, vec![1; 160], 8000).await.unwrap_err();

    assert!(
        matches!(&error, SpeechError::Unauthorized { message, .. } if message.contains("API key")),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_utterance_is_not_uploaded() {
    setup();
    let fake = fake().await;
    let stt = Arc::new(OpenAiStt::new(config(&fake, KEY)).unwrap());

    assert_eq!(transcribe(&stt, Vec::new(), 8000).await.unwrap(), "");
    assert_eq!(fake.requests("/v1/audio/transcriptions"), 0);
}

#[test]
fn providers_work_from_threads_without_a_tokio_runtime() {
    setup();
    // The fake needs a runtime of its own; the client, called from this plain thread, must
    // bring its own.
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = server_runtime.block_on(fake());
    let tts = OpenAiTts::new(config(&fake, KEY)).unwrap();
    let stt = OpenAiStt::new(config(&fake, KEY)).unwrap();

    let audio = tts.synthesize("Hi there.").unwrap();
    let text = stt.transcribe(&audio.samples, audio.sample_rate).unwrap();

    assert_eq!(audio.sample_rate, 24_000);
    assert!(text.starts_with(&format!("{} samples at 24000 Hz", audio.samples.len())));
}
