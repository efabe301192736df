//! Speech-to-text with whisper.cpp (through `whisper-rs`).
//!
//! The model loads once; each call gets its own decoding state, so calls can transcribe in
//! parallel on one shared model. Settings are the ones measured best for phone audio (tiny.en:
//! 1.4 % WER on Piper speech after a phone line): greedy decoding, English, no context carried
//! between utterances, one segment, no timestamps, no temperature fallback, and `audio_ctx` 768
//! — half of Whisper's 30 s window, so each pass covers at most ~15 s and costs about half as
//! much (sizing it to the utterance makes Whisper loop; 384 loses accuracy).
//!
//! whisper.cpp is compiled for the build machine's CPU; build with `GGML_NATIVE=OFF` in the
//! environment (whisper-rs passes `GGML_*` variables to CMake) for a binary that runs on any
//! x86-64.

use std::path::Path;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::{SpeechError, Stt};

/// Threads per transcription when the configuration says nothing: on a small machine, more
/// calls in parallel beat more threads per call.
pub const DEFAULT_WHISPER_THREADS: usize = 2;

/// Whisper's input rate.
const WHISPER_RATE: u32 = 16_000;
/// Encoder frames per pass; 768 covers 15.36 s (sizing it to the utterance makes Whisper loop).
const AUDIO_CTX: i32 = 768;
/// Longest audio per pass; longer utterances are transcribed in consecutive pieces of at most
/// 15 s, each cut at the quietest 20 ms of its last 3 s so that no word is split if possible.
const MAX_PASS_SAMPLES: usize = 15 * WHISPER_RATE as usize;
const CUT_SEARCH_SAMPLES: usize = 3 * WHISPER_RATE as usize;
const FRAME_SAMPLES: usize = WHISPER_RATE as usize / 50;
/// Below 100 ms whisper.cpp refuses to decode; there is nothing to transcribe anyway.
const MIN_SAMPLES: usize = WHISPER_RATE as usize / 10;
/// Loudest 20 ms frame (RMS, full scale 1.0) below which audio counts as silence (-50 dBFS).
/// Whisper "hears" words in silence ("you", "Thank you.") and its no-speech probability is no
/// help with these settings, so silence never reaches it.
const SILENCE_RMS: f32 = 0.003;

/// Decoding states kept for reuse: one per concurrent transcription is enough (the speech pool
/// bounds concurrency), a few more absorb bursts without holding memory forever.
const MAX_IDLE_STATES: usize = 4;

/// whisper.cpp speech-to-text over a ggml model (e.g. `ggml-tiny.en.bin`).
pub struct WhisperStt {
    ctx: WhisperContext,
    idle_states: std::sync::Mutex<Vec<whisper_rs::WhisperState>>,
    threads: usize,
    name: String,
}

impl WhisperStt {
    /// Loads the ggml model at `model`; `threads` CPU threads per transcription (2 is a good
    /// default on small machines: more parallel calls beat more threads per call).
    pub fn new(model: &Path, threads: usize) -> Result<Self, SpeechError> {
        if !model.is_file() {
            return Err(SpeechError::ModelMissing(format!(
                "whisper model {} not found; run `callpilot models install`",
                model.display()
            )));
        }
        // Route whisper.cpp's chatty stderr logging into `tracing`.
        whisper_rs::install_logging_hooks();
        let ctx = WhisperContext::new_with_params(model, WhisperContextParameters::default())
            .map_err(|e| {
                SpeechError::InvalidModel(format!(
                    "whisper.cpp cannot load {}: {e}",
                    model.display()
                ))
            })?;
        let stem = model
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model");
        let name = format!("whisper-{}", stem.trim_start_matches("ggml-"));
        Ok(WhisperStt {
            ctx,
            idle_states: std::sync::Mutex::new(Vec::new()),
            threads: threads.max(1),
            name,
        })
    }

    fn params(&self) -> FullParams<'static, 'static> {
        let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        p.set_n_threads(self.threads as i32);
        p.set_language(Some("en"));
        p.set_translate(false);
        p.set_no_context(true);
        p.set_single_segment(true);
        p.set_no_timestamps(true);
        p.set_temperature(0.0);
        // No fallback to sampling at higher temperatures: it multiplies latency on hard audio.
        p.set_temperature_inc(0.0);
        p.set_audio_ctx(AUDIO_CTX);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        p
    }

    fn transcribe_pass(&self, samples: &[f32]) -> Result<String, SpeechError> {
        // A decoding state holds ~190 MB of compute buffers; allocating one per utterance cost
        // tens of milliseconds on every turn, so finished states go back to a small free list.
        let pooled = self.idle_states.lock().ok().and_then(|mut v| v.pop());
        let mut state = match pooled {
            Some(s) => s,
            None => self
                .ctx
                .create_state()
                .map_err(|e| SpeechError::Inference(format!("whisper state: {e}")))?,
        };
        state
            .full(self.params(), samples)
            .map_err(|e| SpeechError::Inference(format!("whisper: {e}")))?;
        let mut text = String::new();
        for segment in state.as_iter() {
            let s = segment
                .to_str_lossy()
                .map_err(|e| SpeechError::Inference(format!("whisper segment: {e}")))?;
            text.push_str(&s);
        }
        if let Ok(mut idle) = self.idle_states.lock() {
            if idle.len() < MAX_IDLE_STATES {
                idle.push(state);
            }
        }
        Ok(text)
    }
}

impl Stt for WhisperStt {
    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError> {
        if sample_rate == 0 {
            return Err(SpeechError::InvalidInput("sample rate 0".into()));
        }
        let f = audio::resample::i16_to_f32(pcm);
        let samples = audio::resample(&f, sample_rate, WHISPER_RATE);
        let mut pieces = Vec::new();
        for chunk in pass_pieces(&samples) {
            if chunk.len() < MIN_SAMPLES || is_silence(chunk) {
                continue;
            }
            let text = strip_non_speech(&self.transcribe_pass(chunk)?);
            if !text.is_empty() {
                pieces.push(text);
            }
        }
        Ok(pieces.join(" "))
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn frame_rms(frame: &[f32]) -> f32 {
    (frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32).sqrt()
}

/// Whether no 20 ms frame of `samples` (16 kHz, f32) rises above [`SILENCE_RMS`].
fn is_silence(samples: &[f32]) -> bool {
    samples
        .chunks(FRAME_SAMPLES)
        .all(|frame| frame_rms(frame) < SILENCE_RMS)
}

/// Splits `samples` into pieces Whisper can take in one pass ([`MAX_PASS_SAMPLES`]), cutting
/// long audio at the quietest frame near the limit.
fn pass_pieces(samples: &[f32]) -> Vec<&[f32]> {
    let mut pieces = Vec::new();
    let mut rest = samples;
    while rest.len() > MAX_PASS_SAMPLES {
        let search_from = MAX_PASS_SAMPLES - CUT_SEARCH_SAMPLES;
        let cut = (search_from..MAX_PASS_SAMPLES - FRAME_SAMPLES + 1)
            .step_by(FRAME_SAMPLES)
            .min_by(|&a, &b| {
                let (ea, eb) = (
                    frame_rms(&rest[a..a + FRAME_SAMPLES]),
                    frame_rms(&rest[b..b + FRAME_SAMPLES]),
                );
                ea.total_cmp(&eb)
            })
            .map_or(MAX_PASS_SAMPLES, |start| start + FRAME_SAMPLES / 2);
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// Removes Whisper's non-speech annotations — `[BLANK_AUDIO]`, `(music)`, `*laughs*`, `♪` —
/// which are not words the caller said, and tidies the spacing.
pub fn strip_non_speech(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match closing {
            Some(end) if c == end => closing = None,
            Some(_) => {}
            None => match c {
                '[' => closing = Some(']'),
                '(' => closing = Some(')'),
                '*' => closing = Some('*'),
                '♪' | '♫' => {}
                _ => out.push(c),
            },
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let joined = words.join(" ");
    // What is left of an annotation-only result is punctuation at most.
    if joined.chars().any(char::is_alphanumeric) {
        joined
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_speech_annotations_are_stripped() {
        assert_eq!(strip_non_speech(" [BLANK_AUDIO]"), "");
        assert_eq!(strip_non_speech(" (music)"), "");
        assert_eq!(strip_non_speech("♪ ♪"), "");
        assert_eq!(
            strip_non_speech(" *laughs* Hello there. [NOISE]"),
            "Hello there."
        );
        assert_eq!(
            strip_non_speech(" How much is the premium plan?"),
            "How much is the premium plan?"
        );
    }

    #[test]
    fn quiet_line_noise_counts_as_silence_but_speech_level_does_not() {
        let hiss: Vec<f32> = (0..16000)
            .map(|i| if i % 2 == 0 { 0.001 } else { -0.001 })
            .collect();
        assert!(is_silence(&hiss));
        let mut word = hiss.clone();
        for (i, s) in word[8000..8320].iter_mut().enumerate() {
            *s = 0.05 * (i as f32 * 0.3).sin();
        }
        assert!(!is_silence(&word));
    }

    #[test]
    fn long_audio_is_cut_in_passes_at_a_quiet_moment() {
        let rate = WHISPER_RATE as usize;
        // 40 s of "speech" with a pause at 13.5 s and another at 27 s.
        let mut samples: Vec<f32> = (0..40 * rate)
            .map(|i| 0.3 * (i as f32 * 0.05).sin())
            .collect();
        for pause in [13 * rate + rate / 2, 27 * rate] {
            samples[pause..pause + FRAME_SAMPLES * 2].fill(0.0);
        }
        let pieces = pass_pieces(&samples);
        assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), samples.len());
        assert!(pieces.iter().all(|p| p.len() <= MAX_PASS_SAMPLES));
        let first = pieces[0].len();
        assert!(
            (13 * rate + rate / 2..13 * rate + rate / 2 + 2 * FRAME_SAMPLES).contains(&first),
            "{first}"
        );
        assert_eq!(pieces.len(), 3);
        assert_eq!(pass_pieces(&samples[..rate]).len(), 1);
    }

    #[test]
    fn missing_model_says_how_to_install() {
        let err = WhisperStt::new(Path::new("/nonexistent/ggml-tiny.en.bin"), 2)
            .err()
            .expect("missing model is an error");
        assert!(
            err.to_string().contains("callpilot models install"),
            "{err}"
        );
    }
}
