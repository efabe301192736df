//! Natural text-to-speech with a Piper (VITS) voice run by ONNX Runtime.
//!
//! Text → espeak-ng IPA phonemes → ids from the voice's `phoneme_id_map` (`^ _ (p _)* $`) →
//! the network → f32 samples at the voice's rate (22 050 Hz). ONNX Runtime is loaded at run
//! time from the model directory (`ort` `load-dynamic`), so the binary builds without it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;

use crate::{espeak, SpeechAudio, SpeechError, Tts};

/// Pause between sentences of one request, as Piper's own `sentence_silence` default.
const SENTENCE_SILENCE_S: f32 = 0.2;
/// Peak level after normalisation: loud and even across sentences, with headroom for mu-law.
const PEAK: f32 = 0.9;

/// The parts of a Piper voice's `.onnx.json` that synthesis uses.
#[derive(Debug, Deserialize)]
struct VoiceConfig {
    audio: AudioConfig,
    #[serde(default)]
    espeak: EspeakConfig,
    inference: InferenceConfig,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

#[derive(Debug, Deserialize)]
struct AudioConfig {
    sample_rate: u32,
}

#[derive(Debug, Deserialize)]
struct EspeakConfig {
    voice: String,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        EspeakConfig {
            voice: "en-us".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct InferenceConfig {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

/// ONNX Runtime's process-wide environment: loaded from one library path, once.
static ORT_ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

fn ort_environment(lib: &Path) -> Result<Environment, SpeechError> {
    ORT_ENV
        .get_or_init(|| {
            let builder = ort::init_from(lib).map_err(|e| e.to_string())?;
            builder
                .with_name("callpilot")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| SpeechError::ModelMissing(format!("ONNX Runtime ({}): {e}", lib.display())))
}

/// A Piper voice, loaded once and shared by all calls.
pub struct PiperTts {
    /// `Session::run` takes `&mut self`; one synthesis at a time per voice (each is ~0.1× real
    /// time on one thread, and the speech pool bounds parallelism anyway).
    session: Mutex<Session>,
    phoneme_ids: HashMap<char, Vec<i64>>,
    espeak_voice: String,
    scales: [f32; 3],
    sample_rate: u32,
    /// Whether the network takes a speaker id (multi-speaker voices).
    wants_speaker_id: bool,
    name: String,
}

impl PiperTts {
    /// Loads the voice `onnx` with its config `json`, running on the ONNX Runtime library
    /// `onnxruntime_lib` (the first library loaded in a process is the one used).
    pub fn new(onnx: &Path, json: &Path, onnxruntime_lib: &Path) -> Result<Self, SpeechError> {
        for f in [onnx, json, onnxruntime_lib] {
            if !f.is_file() {
                return Err(SpeechError::ModelMissing(format!(
                    "{} not found; run `callpilot models install`",
                    f.display()
                )));
            }
        }
        let config: VoiceConfig = serde_json::from_str(&std::fs::read_to_string(json)?)
            .map_err(|e| SpeechError::InvalidModel(format!("{}: {e}", json.display())))?;
        let phoneme_ids = config
            .phoneme_id_map
            .into_iter()
            .filter_map(|(k, ids)| {
                let mut chars = k.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some((c, ids)),
                    _ => None,
                }
            })
            .collect::<HashMap<_, _>>();
        for required in ['^', '_', '$'] {
            if !phoneme_ids.contains_key(&required) {
                return Err(SpeechError::InvalidModel(format!(
                    "{}: phoneme_id_map lacks {required:?}",
                    json.display()
                )));
            }
        }

        let env = ort_environment(onnxruntime_lib)?;
        let ort_err =
            |e: ort::Error<_>| SpeechError::InvalidModel(format!("{}: {e}", onnx.display()));
        let session = Session::builder(&env)
            .map_err(|e| SpeechError::InvalidModel(format!("{}: {e}", onnx.display())))?
            .with_intra_threads(1)
            .map_err(ort_err)?
            .with_inter_threads(1)
            .map_err(ort_err)?
            .commit_from_file(onnx)
            .map_err(|e| SpeechError::InvalidModel(format!("{}: {e}", onnx.display())))?;
        let wants_speaker_id = session.inputs().iter().any(|i| i.name() == "sid");
        let stem = onnx.file_stem().and_then(|s| s.to_str()).unwrap_or("voice");
        Ok(PiperTts {
            session: Mutex::new(session),
            phoneme_ids,
            espeak_voice: config.espeak.voice,
            scales: [
                config.inference.noise_scale,
                config.inference.length_scale,
                config.inference.noise_w,
            ],
            sample_rate: config.audio.sample_rate,
            wants_speaker_id,
            name: format!("piper:{stem}"),
        })
    }

    /// `^ _ (phoneme _)* $`; phonemes the voice does not know are skipped.
    fn ids(&self, phonemes: &str) -> Vec<i64> {
        let id = |c: char| self.phoneme_ids.get(&c).map(Vec::as_slice).unwrap_or(&[]);
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 3);
        ids.extend_from_slice(id('^'));
        ids.extend_from_slice(id('_'));
        for c in phonemes.chars() {
            if let Some(p) = self.phoneme_ids.get(&c) {
                ids.extend_from_slice(p);
                ids.extend_from_slice(id('_'));
            }
        }
        ids.extend_from_slice(id('$'));
        ids
    }

    fn infer(&self, ids: Vec<i64>) -> Result<Vec<f32>, SpeechError> {
        let n = ids.len();
        let err = |e: ort::Error| SpeechError::Inference(format!("piper: {e}"));
        let input = Tensor::from_array(([1usize, n], ids)).map_err(err)?;
        let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(err)?;
        let scales = Tensor::from_array(([3usize], self.scales.to_vec())).map_err(err)?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = if self.wants_speaker_id {
            let sid = Tensor::from_array(([1usize], vec![0i64])).map_err(err)?;
            session.run(ort::inputs![
                "input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid
            ])
        } else {
            session
                .run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
        }
        .map_err(err)?;
        let (_, samples) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        Ok(samples.to_vec())
    }
}

impl Tts for PiperTts {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        if text.trim().is_empty() {
            return Err(SpeechError::InvalidInput("nothing to say".into()));
        }
        let sentences = espeak::phonemize_sentences(text, &self.espeak_voice)?;
        let silence = (SENTENCE_SILENCE_S * self.sample_rate as f32) as usize;
        let mut samples: Vec<i16> = Vec::new();
        for (i, phonemes) in sentences.iter().enumerate() {
            let audio = self.infer(self.ids(phonemes))?;
            if i > 0 {
                samples.resize(samples.len() + silence, 0);
            }
            // Piper's own player normalises each sentence to its peak; so do we, a bit lower.
            let peak = audio.iter().fold(0.01f32, |m, s| m.max(s.abs()));
            let gain = PEAK * 32767.0 / peak;
            samples.extend(
                audio
                    .iter()
                    .map(|s| (s * gain).round().clamp(-32768.0, 32767.0) as i16),
            );
        }
        Ok(SpeechAudio {
            samples,
            sample_rate: self.sample_rate,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }
}
