//! A bounded pool of blocking workers shared by all calls.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::{SpeechAudio, SpeechError, Stt, Tts};

/// Runs STT and TTS jobs on tokio's blocking threads, at most `max_parallel` of each kind at
/// once: on a small machine, more parallel inference only makes every call slower.
#[derive(Clone)]
pub struct SpeechPool {
    stt: Arc<dyn Stt>,
    tts: Arc<dyn Tts>,
    stt_slots: Arc<Semaphore>,
    tts_slots: Arc<Semaphore>,
}

impl SpeechPool {
    /// A pool over shared providers.
    pub fn new(
        stt: Arc<dyn Stt>,
        tts: Arc<dyn Tts>,
        max_parallel_stt: usize,
        max_parallel_tts: usize,
    ) -> Self {
        SpeechPool {
            stt,
            tts,
            stt_slots: Arc::new(Semaphore::new(max_parallel_stt.max(1))),
            tts_slots: Arc::new(Semaphore::new(max_parallel_tts.max(1))),
        }
    }

    /// The STT provider's name.
    pub fn stt_name(&self) -> &str {
        self.stt.name()
    }

    /// The TTS provider's name.
    pub fn tts_name(&self) -> &str {
        self.tts.name()
    }

    /// Transcribes on a blocking worker once a slot is free.
    pub async fn transcribe(&self, pcm: Vec<i16>, sample_rate: u32) -> Result<String, SpeechError> {
        let _permit = self
            .stt_slots
            .acquire()
            .await
            .map_err(|e| SpeechError::Worker(e.to_string()))?;
        let stt = self.stt.clone();
        tokio::task::spawn_blocking(move || stt.transcribe(&pcm, sample_rate))
            .await
            .map_err(|e| SpeechError::Worker(e.to_string()))?
    }

    /// Synthesises on a blocking worker once a slot is free.
    pub async fn synthesize(&self, text: String) -> Result<SpeechAudio, SpeechError> {
        let _permit = self
            .tts_slots
            .acquire()
            .await
            .map_err(|e| SpeechError::Worker(e.to_string()))?;
        let tts = self.tts.clone();
        tokio::task::spawn_blocking(move || tts.synthesize(&text))
            .await
            .map_err(|e| SpeechError::Worker(e.to_string()))?
    }
}
