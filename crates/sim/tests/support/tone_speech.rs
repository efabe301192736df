//! TEST-ONLY speech: a "TTS" that renders text as a tone whose length is proportional to the
//! text, and an "STT" that maps a tone's length back to the known phrase of that length.
//! It lets the tests check timing and transcripts end to end without any speech model; it is
//! not a speech engine and must never be used outside tests.

use speech::{SpeechAudio, SpeechError, Stt, Tts};

/// Tone length per character of text.
pub const MS_PER_CHAR: usize = 20;
/// The TTS output rate (not 8 kHz, so that the sim's resampling path is exercised).
const RATE: u32 = 16_000;
/// How far a measured length may be from a phrase's length to be recognised as it.
const TOLERANCE_MS: usize = 70;

/// Tone TTS + length-matching STT over a fixed phrase book.
pub struct ToneSpeech {
    pub phrases: Vec<&'static str>,
}

/// Length of `text` rendered as a tone.
pub fn tone_ms(text: &str) -> usize {
    text.chars().count() * MS_PER_CHAR
}

impl Tts for ToneSpeech {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let n = tone_ms(text) * RATE as usize / 1000;
        let samples = (0..n)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / RATE as f64).sin() * 8000.0)
                    as i16
            })
            .collect();
        Ok(SpeechAudio {
            samples,
            sample_rate: RATE,
        })
    }

    fn name(&self) -> &str {
        "test-tone-tts"
    }
}

impl Stt for ToneSpeech {
    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError> {
        let ms = pcm.len() * 1000 / sample_rate as usize;
        let best = self.phrases.iter().min_by_key(|p| tone_ms(p).abs_diff(ms));
        Ok(match best {
            Some(p) if tone_ms(p).abs_diff(ms) <= TOLERANCE_MS => p.to_string(),
            _ => format!("[tone {ms} ms]"),
        })
    }

    fn name(&self) -> &str {
        "test-tone-stt"
    }
}

/// The agent side: `text` as 160-byte mu-law frames at 8 kHz (last frame padded with silence).
pub fn agent_frames(speech: &ToneSpeech, text: &str) -> Vec<Vec<u8>> {
    let audio = speech.synthesize(text).expect("tone synthesis cannot fail");
    let pcm = audio::resample_i16(&audio.samples, audio.sample_rate, audio::SAMPLE_RATE_8K);
    pcm.chunks(160)
        .map(|c| {
            let mut f = audio::mulaw::encode_all(c);
            f.resize(160, 0xFF);
            f
        })
        .collect()
}
