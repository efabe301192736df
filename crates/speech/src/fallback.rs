//! A [`Tts`] that never leaves a caller in silence: when the primary voice fails, a second one
//! (typically the robotic but dependable espeak-ng) says the sentence instead.

use std::sync::Arc;

use crate::{SpeechAudio, SpeechError, Tts};

/// Speaks with `primary`; on its error (or silence for non-empty text) logs a warning and
/// speaks with `fallback`.
pub struct FallbackTts {
    primary: Arc<dyn Tts>,
    fallback: Arc<dyn Tts>,
    name: String,
}

impl FallbackTts {
    /// `primary` normally speaks; `fallback` covers its failures.
    pub fn new(primary: Arc<dyn Tts>, fallback: Arc<dyn Tts>) -> Self {
        let name = format!("{} (fallback {})", primary.name(), fallback.name());
        FallbackTts {
            primary,
            fallback,
            name,
        }
    }
}

impl Tts for FallbackTts {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let failure = match self.primary.synthesize(text) {
            Ok(audio) if !audio.samples.is_empty() => return Ok(audio),
            // Nothing to say is the caller's mistake, not the voice's: the fallback would agree.
            Err(e @ SpeechError::InvalidInput(_)) => return Err(e),
            Ok(_) => "no audio".to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            primary = self.primary.name(),
            fallback = self.fallback.name(),
            error = %failure,
            "primary TTS failed; speaking with the fallback voice"
        );
        self.fallback.synthesize(text)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A voice that answers with a fixed result and counts its calls.
    struct FakeVoice {
        result: fn() -> Result<SpeechAudio, SpeechError>,
        calls: AtomicUsize,
    }

    impl FakeVoice {
        fn new(result: fn() -> Result<SpeechAudio, SpeechError>) -> Arc<Self> {
            Arc::new(FakeVoice {
                result,
                calls: AtomicUsize::new(0),
            })
        }
    }

    impl Tts for FakeVoice {
        fn synthesize(&self, _text: &str) -> Result<SpeechAudio, SpeechError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            (self.result)()
        }
        fn name(&self) -> &str {
            "fake"
        }
    }

    fn audio(value: i16) -> Result<SpeechAudio, SpeechError> {
        Ok(SpeechAudio {
            samples: vec![value; 100],
            sample_rate: 22050,
        })
    }

    #[test]
    fn primary_audio_is_used_when_it_works() {
        let (primary, fallback) = (FakeVoice::new(|| audio(1)), FakeVoice::new(|| audio(2)));
        let tts = FallbackTts::new(primary.clone(), fallback.clone());
        assert_eq!(tts.synthesize("hi").unwrap().samples[0], 1);
        assert_eq!(fallback.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn fallback_speaks_when_primary_errors_or_returns_silence() {
        let broken = FakeVoice::new(|| Err(SpeechError::Inference("boom".into())));
        let tts = FallbackTts::new(broken, FakeVoice::new(|| audio(2)));
        assert_eq!(tts.synthesize("hi").unwrap().samples[0], 2);

        let mute = FakeVoice::new(|| {
            Ok(SpeechAudio {
                samples: vec![],
                sample_rate: 22050,
            })
        });
        let tts = FallbackTts::new(mute, FakeVoice::new(|| audio(3)));
        assert_eq!(tts.synthesize("hi").unwrap().samples[0], 3);
    }

    #[test]
    fn empty_text_is_not_retried_on_the_fallback() {
        let primary = FakeVoice::new(|| Err(SpeechError::InvalidInput("nothing to say".into())));
        let fallback = FakeVoice::new(|| audio(2));
        let tts = FallbackTts::new(primary, fallback.clone());
        assert!(matches!(
            tts.synthesize(" "),
            Err(SpeechError::InvalidInput(_))
        ));
        assert_eq!(fallback.calls.load(Ordering::SeqCst), 0);
    }
}
