//! The unit of audio that flows through a call: 20 ms of 8 kHz mono PCM16.

/// Sample rate of the phone network (and of every [`Frame`]).
pub const SAMPLE_RATE_8K: u32 = 8000;
/// Duration of one frame. Twilio Media Streams send one 20 ms frame per message.
pub const FRAME_MS: u64 = 20;
/// Samples in one 20 ms frame at 8 kHz (= bytes of one mu-law frame).
pub const FRAME_SAMPLES_8K: usize = 160;

/// 20 ms of 8 kHz mono signed 16-bit PCM.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(pub [i16; FRAME_SAMPLES_8K]);

impl Frame {
    /// A frame of digital silence.
    pub const SILENCE: Frame = Frame([0; FRAME_SAMPLES_8K]);

    /// Builds a frame from up to 160 samples; a short slice is padded with silence.
    pub fn from_slice(samples: &[i16]) -> Frame {
        let mut f = [0i16; FRAME_SAMPLES_8K];
        let n = samples.len().min(FRAME_SAMPLES_8K);
        f[..n].copy_from_slice(&samples[..n]);
        Frame(f)
    }

    /// The samples of this frame.
    pub fn samples(&self) -> &[i16] {
        &self.0
    }

    /// Root-mean-square level, 0..=32768.
    pub fn rms(&self) -> f32 {
        let sum: f64 = self.0.iter().map(|&s| (s as f64) * (s as f64)).sum();
        (sum / FRAME_SAMPLES_8K as f64).sqrt() as f32
    }

    /// Decodes one 160-byte mu-law payload (shorter payloads are padded with silence).
    pub fn from_mulaw(bytes: &[u8]) -> Frame {
        let mut f = [0i16; FRAME_SAMPLES_8K];
        for (o, &b) in f.iter_mut().zip(bytes.iter()) {
            *o = crate::mulaw::decode(b);
        }
        Frame(f)
    }

    /// Encodes this frame as 160 mu-law bytes.
    pub fn to_mulaw(&self) -> Vec<u8> {
        self.0.iter().map(|&s| crate::mulaw::encode(s)).collect()
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame(rms={:.0})", self.rms())
    }
}

/// Splits 8 kHz PCM into 20 ms frames; the last partial frame is padded with silence.
pub fn split_frames(pcm8k: &[i16]) -> Vec<Frame> {
    pcm8k
        .chunks(FRAME_SAMPLES_8K)
        .map(Frame::from_slice)
        .collect()
}

/// Joins frames back into one PCM buffer.
pub fn join_frames(frames: &[Frame]) -> Vec<i16> {
    let mut out = Vec::with_capacity(frames.len() * FRAME_SAMPLES_8K);
    for f in frames {
        out.extend_from_slice(&f.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_pads_last_frame_and_join_restores_length() {
        let pcm: Vec<i16> = (0..400).map(|i| i as i16).collect();
        let frames = split_frames(&pcm);
        assert_eq!(frames.len(), 3);
        let joined = join_frames(&frames);
        assert_eq!(&joined[..400], &pcm[..]);
        assert!(joined[400..].iter().all(|&s| s == 0));
    }

    #[test]
    fn mulaw_frame_round_trip_is_close() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.2).sin() * 8000.0) as i16)
            .collect();
        let f = Frame::from_slice(&pcm);
        let back = Frame::from_mulaw(&f.to_mulaw());
        for (a, b) in f.0.iter().zip(back.0.iter()) {
            assert!((*a as i32 - *b as i32).abs() <= 300, "{a} vs {b}");
        }
    }
}
