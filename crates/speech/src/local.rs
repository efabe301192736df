//! Assembles the local speech stack from an installed model directory.

use std::sync::Arc;

use crate::espeak::EspeakTts;
use crate::fallback::FallbackTts;
use crate::models::ModelDir;
use crate::piper::PiperTts;
use crate::whisper::WhisperStt;
use crate::{SpeechError, Stt, Tts};

/// The shared speech-to-text and text-to-speech providers of a process.
pub type LocalSpeech = (Arc<dyn Stt>, Arc<dyn Tts>);

/// Loads whisper.cpp STT and Piper TTS (with espeak-ng as its fallback) from `dir`.
///
/// Whisper is required: without it the error tells the user to run `callpilot models install`.
/// Without the Piper files, espeak-ng speaks alone (robotic, with a warning); Piper files that
/// are present but fail to load are an error, since that install needs fixing.
pub fn load_local(dir: &ModelDir, whisper_threads: usize) -> Result<LocalSpeech, SpeechError> {
    load_local_with(dir, whisper_threads, &ModelOverrides::default())
}

/// Model files chosen by the user instead of the model dir's (`--stt-model`, `--tts-voice`).
#[derive(Debug, Clone, Default)]
pub struct ModelOverrides {
    /// A whisper.cpp ggml model file (any size or language).
    pub whisper_model: Option<std::path::PathBuf>,
    /// A Piper voice `.onnx` file; its config is the file beside it with `.json` appended.
    pub piper_voice: Option<std::path::PathBuf>,
}

/// [`load_local`] with user-chosen model files.
pub fn load_local_with(
    dir: &ModelDir,
    whisper_threads: usize,
    overrides: &ModelOverrides,
) -> Result<LocalSpeech, SpeechError> {
    let whisper_path = overrides
        .whisper_model
        .clone()
        .unwrap_or_else(|| dir.whisper_ggml());
    if !whisper_path.is_file() {
        return Err(SpeechError::ModelMissing(format!(
            "speech-to-text model {} is missing; run `callpilot models install` (models dir: {}, \
             set CALLPILOT_MODELS_DIR to change it)",
            whisper_path.display(),
            dir.path().display()
        )));
    }
    let stt: Arc<dyn Stt> = Arc::new(WhisperStt::new(&whisper_path, whisper_threads)?);
    let espeak: Arc<dyn Tts> = Arc::new(EspeakTts::new("en-us")?);
    let piper_files = match &overrides.piper_voice {
        Some(onnx) => {
            let mut json = onnx.clone().into_os_string();
            json.push(".json");
            [onnx.clone(), json.into(), dir.onnxruntime_lib()]
        }
        None => [dir.piper_onnx(), dir.piper_json(), dir.onnxruntime_lib()],
    };
    let missing: Vec<String> = piper_files
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    let tts: Arc<dyn Tts> = if missing.is_empty() {
        let piper = PiperTts::new(&piper_files[0], &piper_files[1], &piper_files[2])?;
        Arc::new(FallbackTts::new(Arc::new(piper), espeak))
    } else {
        tracing::warn!(
            missing = %missing.join(", "),
            "Piper voice not installed: speaking with robotic espeak-ng; run `callpilot models install`"
        );
        espeak
    };
    Ok((stt, tts))
}
