//! Stopwatches around the local models: every transcription and synthesis the server runs is
//! logged with its start and end instant.
//!
//! Why: the store keeps four of the engine's timings per agent turn, but not the endpointing wait
//! (`conversation::TurnTimings::endpointing` is dropped when the server maps it to
//! `store::TurnTimings`), so "end of speech → transcript" mixes the end-of-turn silence with
//! Whisper's time. Timing the model call itself separates them without touching the server.
//! Everything runs in one process, so these instants share a clock with the caller's.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use speech::{SpeechAudio, SpeechError, Stt, Tts};

/// When one model call ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: Instant,
    pub end: Instant,
}

/// A shared, append-only list of [`Span`]s.
#[derive(Debug, Clone, Default)]
pub struct SpanLog(Arc<Mutex<Vec<Span>>>);

impl SpanLog {
    fn push(&self, span: Span) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(span);
    }

    /// Every span logged so far, in the order the calls finished.
    pub fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// An [`Stt`] that logs how long each transcription took.
pub struct TimedStt {
    inner: Arc<dyn Stt>,
    log: SpanLog,
}

impl TimedStt {
    pub fn new(inner: Arc<dyn Stt>, log: SpanLog) -> Self {
        TimedStt { inner, log }
    }
}

impl Stt for TimedStt {
    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError> {
        let start = Instant::now();
        let r = self.inner.transcribe(pcm, sample_rate);
        self.log.push(Span {
            start,
            end: Instant::now(),
        });
        r
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn cpu_bound(&self) -> bool {
        self.inner.cpu_bound()
    }
}

/// A [`Tts`] that logs how long each synthesis took.
pub struct TimedTts {
    inner: Arc<dyn Tts>,
    log: SpanLog,
}

impl TimedTts {
    pub fn new(inner: Arc<dyn Tts>, log: SpanLog) -> Self {
        TimedTts { inner, log }
    }
}

impl Tts for TimedTts {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let start = Instant::now();
        let r = self.inner.synthesize(text);
        self.log.push(Span {
            start,
            end: Instant::now(),
        });
        r
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn cpu_bound(&self) -> bool {
        self.inner.cpu_bound()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Stt for Echo {
        fn transcribe(&self, pcm: &[i16], _: u32) -> Result<String, SpeechError> {
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(pcm.len().to_string())
        }
        fn name(&self) -> &str {
            "echo"
        }
    }

    #[test]
    fn each_call_is_logged_with_its_result_passed_through() {
        let log = SpanLog::default();
        let stt = TimedStt::new(Arc::new(Echo), log.clone());
        assert_eq!(stt.transcribe(&[0; 7], 8000).unwrap(), "7");
        assert_eq!(stt.transcribe(&[0; 3], 8000).unwrap(), "3");
        assert_eq!(stt.name(), "echo");
        let spans = log.spans();
        assert_eq!(spans.len(), 2);
        assert!(spans[0].end > spans[0].start && spans[1].start >= spans[0].end);
    }
}
