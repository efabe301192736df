//! Cheap, deterministic speech engines for the fakes in load tests: the benchmark measures
//! callpilot's orchestration, so the fakes' "models" must cost next to nothing and answer
//! the same way every run. Their latency is modelled by the fakes' `reply_delay` instead.

use speech::{SpeechAudio, SpeechError, Stt, Tts};

use crate::signal::voiced_tone;

/// Phrase for an utterance with less than [`SHORT_UTTERANCE_MS`] of loud audio.
pub const SHORT_PHRASE: &str = "What plans do you have?";
/// Phrase for a longer utterance.
pub const LONG_PHRASE: &str = "How much is the premium plan?";
/// Boundary between the two phrases, in milliseconds of audio above the loudness floor.
pub const SHORT_UTTERANCE_MS: u64 = 1200;
/// RMS of a 20 ms frame below which it counts as silence.
const SILENCE_RMS: f64 = 300.0;

/// Speech-to-text by utterance length: nothing for under 100 ms of loud audio (noise), else
/// [`SHORT_PHRASE`] or [`LONG_PHRASE`] by whether the loud part is shorter than
/// [`SHORT_UTTERANCE_MS`]. Both phrases are questions the demo agent answers by intent, and
/// neither ends nor transfers the call, so a load call keeps talking for its whole duration.
#[derive(Debug, Default, Clone, Copy)]
pub struct LengthStt;

impl LengthStt {
    /// Milliseconds of audio in 20 ms frames whose RMS is above the silence floor.
    pub fn loud_ms(pcm: &[i16], sample_rate: u32) -> u64 {
        let frame = (sample_rate as usize / 50).max(1);
        let loud = pcm
            .chunks(frame)
            .filter(|c| {
                let e = c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64;
                e.sqrt() >= SILENCE_RMS
            })
            .count();
        loud as u64 * 20
    }
}

impl Stt for LengthStt {
    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError> {
        let ms = Self::loud_ms(pcm, sample_rate);
        Ok(match ms {
            0..100 => String::new(),
            ms if ms < SHORT_UTTERANCE_MS => SHORT_PHRASE.to_owned(),
            _ => LONG_PHRASE.to_owned(),
        })
    }

    fn name(&self) -> &str {
        "bench-length-stt"
    }

    fn cpu_bound(&self) -> bool {
        false
    }
}

/// Text-to-speech as a voice-like tone at 8 kHz (no resampling anywhere), `ms_per_char`
/// milliseconds per character of text (40 ms ≈ a brisk 25 characters a second).
#[derive(Debug, Clone, Copy)]
pub struct ToneTts {
    /// Audio length per character of text.
    pub ms_per_char: u64,
}

impl Default for ToneTts {
    fn default() -> Self {
        ToneTts { ms_per_char: 40 }
    }
}

impl Tts for ToneTts {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let chars = text.chars().count().max(1) as u64;
        Ok(SpeechAudio {
            samples: voiced_tone(chars * self.ms_per_char, 8000, 6000.0),
            sample_rate: 8000,
        })
    }

    fn name(&self) -> &str {
        "bench-tone-tts"
    }

    fn cpu_bound(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::silence;

    #[test]
    fn length_stt_maps_loud_audio_length_to_a_phrase() {
        let stt = LengthStt;
        let mut short = silence(300, 8000);
        short.extend(voiced_tone(800, 8000, 6000.0));
        short.extend(silence(300, 8000));
        assert_eq!(stt.transcribe(&short, 8000).unwrap(), SHORT_PHRASE);
        let long = voiced_tone(1600, 8000, 6000.0);
        assert_eq!(stt.transcribe(&long, 8000).unwrap(), LONG_PHRASE);
        assert_eq!(stt.transcribe(&silence(2000, 8000), 8000).unwrap(), "");
    }

    #[test]
    fn tone_tts_length_is_proportional_to_text() {
        let tts = ToneTts { ms_per_char: 40 };
        let a = tts.synthesize("Hello.").unwrap();
        let b = tts.synthesize("Hello. Hello.").unwrap();
        assert_eq!(a.sample_rate, 8000);
        assert_eq!(a.samples.len(), 6 * 40 * 8);
        assert_eq!(b.samples.len(), 13 * 40 * 8);
    }
}
