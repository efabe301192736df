//! Sans-IO core of one fake listen stream: decodes audio, runs an energy VAD on 20 ms frames and
//! decides, in audio time, when Deepgram would send `SpeechStarted`, interim and final `Results`,
//! and `UtteranceEnd`. Transcription is left to the IO layer (it needs a blocking [`speech::Stt`]).
//!
//! Audio time (samples received / sample rate) drives every decision, like the real service:
//! a client may stream faster than real time and gets the same events, which keeps tests fast.

use std::collections::VecDeque;

/// Raw audio encodings the fake accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// G.711 mu-law, one byte per sample.
    Mulaw,
    /// Signed 16-bit little-endian PCM.
    Linear16,
}

/// The per-stream settings the session needs.
#[derive(Debug, Clone)]
pub(crate) struct SessionSettings {
    pub encoding: Encoding,
    pub sample_rate: u32,
    pub endpointing_ms: Option<u32>,
    pub utterance_end_ms: Option<u32>,
    pub interim_results: bool,
    pub vad_events: bool,
    /// Audio between two interim results while speech goes on.
    pub interim_every_ms: u32,
    /// RMS (0..=32768) above which a 20 ms frame counts as speech.
    pub speech_rms: f32,
}

/// What the stream must send next; `Interim` and `Final` carry the audio to transcribe.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    SpeechStarted {
        timestamp: f64,
    },
    Interim {
        pcm: Vec<i16>,
        start: f64,
        duration: f64,
    },
    Final {
        pcm: Vec<i16>,
        start: f64,
        duration: f64,
        /// Audio time where the last voiced frame ended (for word timings).
        speech_end: f64,
        speech_final: bool,
        from_finalize: bool,
    },
    UtteranceEnd {
        last_word_end: f64,
    },
}

/// Audio since the first voiced frame that has not been finalized yet.
#[derive(Debug)]
struct Utterance {
    start_sample: u64,
    pcm: Vec<i16>,
    voiced_end_sample: u64,
    silence_ms: u32,
    last_interim_sample: u64,
}

/// One stream's VAD and endpointing state.
#[derive(Debug)]
pub(crate) struct ListenSession {
    settings: SessionSettings,
    frame_len: usize,
    /// Decoded samples not yet filling a whole frame.
    carry: Vec<i16>,
    /// A linear16 byte whose partner arrives in the next message.
    odd_byte: Option<u8>,
    /// Samples processed (whole frames), i.e. the audio clock.
    samples: u64,
    utterance: Option<Utterance>,
    /// (deadline in audio seconds, last word end) of a pending `UtteranceEnd`.
    utterance_end: Option<(f64, f64)>,
    steps: VecDeque<Step>,
}

impl ListenSession {
    pub fn new(settings: SessionSettings) -> Self {
        let frame_len = (settings.sample_rate as usize / 50).max(1);
        Self {
            settings,
            frame_len,
            carry: Vec::new(),
            odd_byte: None,
            samples: 0,
            utterance: None,
            utterance_end: None,
            steps: VecDeque::new(),
        }
    }

    /// Seconds of audio received (whole frames).
    pub fn audio_seconds(&self) -> f64 {
        self.seconds(self.samples)
    }

    /// Feeds one binary message of raw audio.
    pub fn push_audio(&mut self, bytes: &[u8]) {
        match self.settings.encoding {
            Encoding::Mulaw => self.carry.extend(audio::mulaw::decode_all(bytes)),
            Encoding::Linear16 => {
                let mut bytes = bytes.iter().copied();
                if let Some(low) = self.odd_byte.take() {
                    match bytes.next() {
                        Some(high) => self.carry.push(i16::from_le_bytes([low, high])),
                        None => self.odd_byte = Some(low),
                    }
                }
                let rest: Vec<u8> = bytes.collect();
                let mut pairs = rest.chunks_exact(2);
                for pair in &mut pairs {
                    self.carry.push(i16::from_le_bytes([pair[0], pair[1]]));
                }
                if let [last] = pairs.remainder() {
                    self.odd_byte = Some(*last);
                }
            }
        }
        let whole = self.carry.len() / self.frame_len * self.frame_len;
        let frames: Vec<i16> = self.carry.drain(..whole).collect();
        for frame in frames.chunks_exact(self.frame_len) {
            self.process_frame(frame);
        }
    }

    /// `Finalize`: turns the pending utterance into a final with `from_finalize: true`.
    /// Returns whether there was anything to flush.
    pub fn finalize(&mut self) -> bool {
        self.finish_utterance(false, true)
    }

    /// `CloseStream`: turns the pending utterance into a final and drops the pending
    /// `UtteranceEnd` (the stream ends before its gap could pass).
    pub fn close(&mut self) {
        self.finish_utterance(false, false);
        self.utterance_end = None;
    }

    /// The next thing to send, in order.
    pub fn poll_step(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    fn seconds(&self, samples: u64) -> f64 {
        samples as f64 / self.settings.sample_rate as f64
    }

    fn process_frame(&mut self, frame: &[i16]) {
        let frame_start = self.samples;
        self.samples += frame.len() as u64;
        let frame_end = self.samples;
        let frame_ms = (frame.len() as u64 * 1000 / self.settings.sample_rate as u64) as u32;
        if rms(frame) > self.settings.speech_rms {
            // Speech resumed before the gap elapsed: no UtteranceEnd for the previous words.
            self.utterance_end = None;
            if self.utterance.is_none() {
                self.utterance = Some(Utterance {
                    start_sample: frame_start,
                    pcm: Vec::new(),
                    voiced_end_sample: frame_start,
                    silence_ms: 0,
                    last_interim_sample: frame_start,
                });
                if self.settings.vad_events {
                    self.steps.push_back(Step::SpeechStarted {
                        timestamp: self.seconds(frame_start),
                    });
                }
            }
            let rate = self.settings.sample_rate as f64;
            let interim_every =
                self.settings.interim_every_ms as u64 * self.settings.sample_rate as u64 / 1000;
            let utterance = self.utterance.as_mut().expect("utterance was just ensured");
            utterance.pcm.extend_from_slice(frame);
            utterance.silence_ms = 0;
            utterance.voiced_end_sample = frame_end;
            if self.settings.interim_results
                && frame_end - utterance.last_interim_sample >= interim_every.max(1)
            {
                utterance.last_interim_sample = frame_end;
                let step = Step::Interim {
                    pcm: utterance.pcm.clone(),
                    start: utterance.start_sample as f64 / rate,
                    duration: (frame_end - utterance.start_sample) as f64 / rate,
                };
                self.steps.push_back(step);
            }
        } else if let Some(utterance) = self.utterance.as_mut() {
            utterance.pcm.extend_from_slice(frame);
            utterance.silence_ms += frame_ms;
            let silence_ms = utterance.silence_ms;
            match (self.settings.endpointing_ms, self.settings.utterance_end_ms) {
                (Some(endpointing), _) if silence_ms >= endpointing => {
                    self.finish_utterance(true, false);
                }
                // Without endpointing nothing would ever settle the words; Deepgram still
                // finalizes them when the utterance-end gap passes.
                (None, Some(gap)) if silence_ms >= gap => {
                    self.finish_utterance(false, false);
                }
                _ => {}
            }
        }
        if let Some((deadline, last_word_end)) = self.utterance_end {
            if self.seconds(frame_end) + 1e-9 >= deadline {
                self.utterance_end = None;
                self.steps.push_back(Step::UtteranceEnd { last_word_end });
            }
        }
    }

    fn finish_utterance(&mut self, speech_final: bool, from_finalize: bool) -> bool {
        let Some(utterance) = self.utterance.take() else {
            return false;
        };
        let start = self.seconds(utterance.start_sample);
        let speech_end = self.seconds(utterance.voiced_end_sample);
        self.steps.push_back(Step::Final {
            pcm: utterance.pcm,
            start,
            duration: self.seconds(self.samples - utterance.start_sample),
            speech_end,
            speech_final,
            from_finalize,
        });
        if let (Some(gap), true) = (
            self.settings.utterance_end_ms,
            self.settings.interim_results,
        ) {
            self.utterance_end = Some((speech_end + gap as f64 / 1000.0, speech_end));
        }
        true
    }
}

fn rms(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SessionSettings {
        SessionSettings {
            encoding: Encoding::Mulaw,
            sample_rate: 8000,
            endpointing_ms: Some(300),
            utterance_end_ms: Some(1000),
            interim_results: true,
            vad_events: true,
            interim_every_ms: 500,
            speech_rms: 300.0,
        }
    }

    /// `ms` of a loud 440 Hz tone (mu-law), or of digital silence.
    fn audio(ms: u32, loud: bool) -> Vec<u8> {
        let n = 8 * ms as usize;
        let pcm: Vec<i16> = (0..n)
            .map(|i| {
                if loud {
                    ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16
                } else {
                    0
                }
            })
            .collect();
        audio::mulaw::encode_all(&pcm)
    }

    fn drain(session: &mut ListenSession) -> Vec<Step> {
        std::iter::from_fn(|| session.poll_step()).collect()
    }

    fn kinds(steps: &[Step]) -> Vec<&'static str> {
        steps
            .iter()
            .map(|s| match s {
                Step::SpeechStarted { .. } => "started",
                Step::Interim { .. } => "interim",
                Step::Final {
                    speech_final: true, ..
                } => "speech_final",
                Step::Final {
                    from_finalize: true,
                    ..
                } => "finalize",
                Step::Final { .. } => "final",
                Step::UtteranceEnd { .. } => "utterance_end",
            })
            .collect()
    }

    #[test]
    fn speech_then_silence_gives_started_interims_speech_final_then_utterance_end() {
        let mut session = ListenSession::new(settings());
        session.push_audio(&audio(200, false));
        session.push_audio(&audio(1200, true));
        assert_eq!(
            kinds(&drain(&mut session)),
            ["started", "interim", "interim"]
        );
        session.push_audio(&audio(280, false));
        assert!(
            drain(&mut session).is_empty(),
            "endpointing needs 300 ms of silence"
        );
        session.push_audio(&audio(20, false));
        let steps = drain(&mut session);
        let Step::Final {
            start,
            duration,
            speech_end,
            pcm,
            ..
        } = &steps[0]
        else {
            panic!("expected a final, got {steps:?}");
        };
        assert_eq!(kinds(&steps), ["speech_final"]);
        assert!((start - 0.2).abs() < 1e-9);
        assert!((duration - 1.5).abs() < 1e-9);
        assert!((speech_end - 1.4).abs() < 1e-9);
        assert_eq!(pcm.len(), 1500 * 8);
        session.push_audio(&audio(680, false));
        assert!(
            drain(&mut session).is_empty(),
            "UtteranceEnd waits 1000 ms after the last word"
        );
        session.push_audio(&audio(20, false));
        assert_eq!(
            drain(&mut session),
            [Step::UtteranceEnd { last_word_end: 1.4 }]
        );
    }

    #[test]
    fn speech_resuming_within_the_gap_cancels_the_utterance_end() {
        let mut session = ListenSession::new(settings());
        session.push_audio(&audio(400, true));
        session.push_audio(&audio(400, false));
        session.push_audio(&audio(400, true));
        session.push_audio(&audio(900, false));
        assert_eq!(
            kinds(&drain(&mut session)),
            ["started", "speech_final", "started", "speech_final"]
        );
    }

    #[test]
    fn finalize_flushes_pending_speech_once() {
        let mut session = ListenSession::new(SessionSettings {
            interim_results: false,
            vad_events: false,
            ..settings()
        });
        assert!(!session.finalize(), "nothing to flush before speech");
        session.push_audio(&audio(600, true));
        assert!(session.finalize());
        assert!(!session.finalize());
        assert_eq!(kinds(&drain(&mut session)), ["finalize"]);
    }

    #[test]
    fn without_endpointing_the_gap_finalizes_and_ends_the_utterance() {
        let mut session = ListenSession::new(SessionSettings {
            endpointing_ms: None,
            ..settings()
        });
        session.push_audio(&audio(300, true));
        session.push_audio(&audio(1000, false));
        assert_eq!(
            kinds(&drain(&mut session)),
            ["started", "final", "utterance_end"]
        );
    }

    #[test]
    fn linear16_split_across_messages_is_reassembled() {
        let mut session = ListenSession::new(SessionSettings {
            encoding: Encoding::Linear16,
            ..settings()
        });
        let pcm: Vec<u8> = (0..1600)
            .flat_map(|i| (if i % 2 == 0 { 9000i16 } else { -9000i16 }).to_le_bytes())
            .collect();
        // An odd split leaves half a sample for the next message.
        session.push_audio(&pcm[..1001]);
        session.push_audio(&pcm[1001..]);
        assert!((session.audio_seconds() - 0.2).abs() < 1e-9);
        assert_eq!(kinds(&drain(&mut session)), ["started"]);
    }
}
