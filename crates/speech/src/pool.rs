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

    /// The shared STT provider.
    pub fn stt(&self) -> &Arc<dyn Stt> {
        &self.stt
    }

    /// The shared TTS provider.
    pub fn tts(&self) -> &Arc<dyn Tts> {
        &self.tts
    }

    /// Transcribes on a blocking worker once a slot is free.
    pub async fn transcribe(&self, pcm: Vec<i16>, sample_rate: u32) -> Result<String, SpeechError> {
        self.transcribe_with(self.stt.clone(), pcm, sample_rate)
            .await
    }

    /// Transcribes with `stt` (e.g. an agent's own provider) within this pool's slots.
    pub async fn transcribe_with(
        &self,
        stt: Arc<dyn Stt>,
        pcm: Vec<i16>,
        sample_rate: u32,
    ) -> Result<String, SpeechError> {
        // Network providers wait, they don't compute: no reason to queue them behind models.
        let _permit = if stt.cpu_bound() {
            Some(
                self.stt_slots
                    .acquire()
                    .await
                    .map_err(|e| SpeechError::Worker(e.to_string()))?,
            )
        } else {
            None
        };
        tokio::task::spawn_blocking(move || stt.transcribe(&pcm, sample_rate))
            .await
            .map_err(|e| SpeechError::Worker(e.to_string()))?
    }

    /// Synthesises on a blocking worker once a slot is free.
    pub async fn synthesize(&self, text: String) -> Result<SpeechAudio, SpeechError> {
        self.synthesize_with(self.tts.clone(), text).await
    }

    /// Synthesises with `tts` (e.g. an agent's own voice) within this pool's slots.
    pub async fn synthesize_with(
        &self,
        tts: Arc<dyn Tts>,
        text: String,
    ) -> Result<SpeechAudio, SpeechError> {
        let _permit = if tts.cpu_bound() {
            Some(
                self.tts_slots
                    .acquire()
                    .await
                    .map_err(|e| SpeechError::Worker(e.to_string()))?,
            )
        } else {
            None
        };
        tokio::task::spawn_blocking(move || tts.synthesize(&text))
            .await
            .map_err(|e| SpeechError::Worker(e.to_string()))?
    }
}
