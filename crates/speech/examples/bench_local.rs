//! Measures the local speech stack on this machine: Piper synthesis, the phone line, Whisper.
//! `cargo run --release -p speech --example bench_local [rounds]` (models from
//! `$CALLPILOT_MODELS_DIR`, default `./models`).

use std::time::Instant;

use speech::models::ModelDir;
use speech::{EspeakTts, PiperTts, Stt, Tts, WhisperStt};

const SENTENCES: [&str; 4] = [
    "How much is the premium plan?",
    "I would like to cancel my subscription, please.",
    "Can you send the invoice to my email address?",
    "Thanks for calling. Is there anything else I can help you with today?",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2);
    let dir = ModelDir::from_env();
    let t = Instant::now();
    let piper = PiperTts::new(&dir.piper_onnx(), &dir.piper_json(), &dir.onnxruntime_lib())?;
    println!("piper load {} ms", t.elapsed().as_millis());
    let t = Instant::now();
    let whisper = WhisperStt::new(&dir.whisper_ggml(), 2)?;
    println!("whisper load {} ms", t.elapsed().as_millis());
    let espeak = EspeakTts::new("en-us")?;
    for round in 0..rounds {
        for text in SENTENCES {
            for (voice, tts) in [
                ("piper", &piper as &dyn Tts),
                ("espeak", &espeak as &dyn Tts),
            ] {
                let t = Instant::now();
                let audio = tts.synthesize(text)?;
                let synth_ms = t.elapsed().as_secs_f64() * 1000.0;
                let secs = audio.samples.len() as f64 / audio.sample_rate as f64;
                let narrow = audio::resample_i16(&audio.samples, audio.sample_rate, 8000);
                let phone = audio::mulaw::decode_all(&audio::mulaw::encode_all(&narrow));
                let t = Instant::now();
                let heard = whisper.transcribe(&phone, 8000)?;
                let stt_ms = t.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "round {round} {voice:6} {secs:4.2} s speech | synth {synth_ms:6.1} ms | stt {stt_ms:6.1} ms | {heard:?}"
                );
            }
        }
    }
    Ok(())
}
