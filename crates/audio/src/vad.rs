//! Voice-activity detection per 20 ms phone frame, with `earshot` (a small pure-Rust network,
//! tens of microseconds per frame: cheap enough to run on every frame of every call).
//!
//! earshot wants 16 kHz audio in 256-sample (16 ms) chunks while the phone gives 8 kHz in 160-sample
//! (20 ms) frames, so each frame is upsampled 2x by linear interpolation (plenty for a voice/no-voice
//! decision) and fed through a small carry buffer.

use crate::frame::Frame;

const CHUNK: usize = 256;

/// Tunables of the detector.
#[derive(Debug, Clone, Copy)]
pub struct VadConfig {
    /// Score at or above which a frame counts as speech (earshot's suggested default is 0.5).
    pub threshold: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig { threshold: 0.5 }
    }
}

/// Streaming voice detector for one audio stream (one per call; ~8 KiB of state).
pub struct VoiceDetector {
    detector: Box<earshot::Detector>,
    config: VadConfig,
    buf: Vec<i16>,
    last_sample: i16,
    last_score: f32,
}

impl VoiceDetector {
    /// A fresh detector.
    pub fn new(config: VadConfig) -> Self {
        VoiceDetector {
            detector: earshot::Detector::default_boxed(),
            config,
            buf: Vec::with_capacity(CHUNK * 2),
            last_sample: 0,
            last_score: 0.0,
        }
    }

    /// Speech probability (0..=1) of this 20 ms frame.
    pub fn score(&mut self, frame: &Frame) -> f32 {
        for &s in frame.samples() {
            let mid = ((self.last_sample as i32 + s as i32) / 2) as i16;
            self.buf.push(mid);
            self.buf.push(s);
            self.last_sample = s;
        }
        let mut best: Option<f32> = None;
        let mut consumed = 0;
        while self.buf.len() - consumed >= CHUNK {
            let p = self
                .detector
                .predict_i16(&self.buf[consumed..consumed + CHUNK]);
            best = Some(best.map_or(p, |b: f32| b.max(p)));
            consumed += CHUNK;
        }
        self.buf.drain(..consumed);
        if let Some(p) = best {
            self.last_score = p;
        }
        self.last_score
    }

    /// Whether this 20 ms frame holds speech.
    pub fn is_speech(&mut self, frame: &Frame) -> bool {
        self.score(frame) >= self.config.threshold
    }

    /// Forgets all state (e.g. between calls when a detector is reused).
    pub fn reset(&mut self) {
        self.detector.reset();
        self.buf.clear();
        self.last_sample = 0;
        self.last_score = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_not_speech() {
        let mut vad = VoiceDetector::new(VadConfig::default());
        for _ in 0..50 {
            assert!(!vad.is_speech(&Frame::SILENCE));
        }
    }

    #[test]
    fn steady_tone_is_not_speech() {
        // A pure tone (dial tone-like) has no speech structure.
        let mut vad = VoiceDetector::new(VadConfig::default());
        let mut speech_frames = 0;
        for k in 0..100 {
            let pcm: Vec<i16> = (0..160)
                .map(|i| {
                    (((k * 160 + i) as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin()
                        * 6000.0) as i16
                })
                .collect();
            if vad.is_speech(&Frame::from_slice(&pcm)) {
                speech_frames += 1;
            }
        }
        assert!(
            speech_frames < 20,
            "{speech_frames} of 100 tone frames called speech"
        );
    }
}
