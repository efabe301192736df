//! Deterministic synthetic audio: tones, seeded noise and silence, so every benchmark run feeds
//! the same samples and figures can be compared between runs and machines.

use std::f32::consts::TAU;

/// A tiny xorshift generator: the noise must be identical on every run (fixed seed) and the
/// benchmarks should not depend on a particular `rand` version's stream.
#[derive(Debug, Clone)]
pub struct Noise {
    state: u64,
}

impl Noise {
    /// A generator seeded with `seed` (0 is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Noise {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// Next uniform value in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((self.state >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }

    /// `n` samples of white noise at `amplitude` (0..=32767).
    pub fn samples(&mut self, n: usize, amplitude: f32) -> Vec<i16> {
        (0..n)
            .map(|_| (self.next_f32() * amplitude).clamp(-32768.0, 32767.0) as i16)
            .collect()
    }

    /// Adds white noise at `amplitude` to `pcm` in place (saturating).
    pub fn add_to(&mut self, pcm: &mut [i16], amplitude: f32) {
        for s in pcm {
            let v = *s as f32 + self.next_f32() * amplitude;
            *s = v.clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// `ms` milliseconds of a voice-like tone at `rate` Hz: a 150 Hz fundamental with harmonics and
/// a 4 Hz syllable envelope, loud enough for an energy gate and for earshot to call it voice
/// more often than not (a pure sine is not speech-like enough for a neural VAD).
pub fn voiced_tone(ms: u64, rate: u32, amplitude: f32) -> Vec<i16> {
    let n = (ms * rate as u64 / 1000) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let env = 0.6 + 0.4 * (TAU * 4.0 * t).sin().abs();
            let mut v = 0.0;
            for (k, w) in [(1.0, 1.0), (2.0, 0.6), (3.0, 0.4), (5.0, 0.2), (8.0, 0.1)] {
                v += w * (TAU * 150.0 * k * t).sin();
            }
            (v / 2.3 * env * amplitude).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// `ms` milliseconds of digital silence at `rate` Hz.
pub fn silence(ms: u64, rate: u32) -> Vec<i16> {
    vec![0; (ms * rate as u64 / 1000) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_identical_for_the_same_seed_and_differs_between_seeds() {
        let a = Noise::new(7).samples(1000, 1000.0);
        let b = Noise::new(7).samples(1000, 1000.0);
        let c = Noise::new(8).samples(1000, 1000.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|s| s.unsigned_abs() <= 1000));
    }

    #[test]
    fn voiced_tone_has_requested_length_and_energy() {
        let t = voiced_tone(500, 8000, 8000.0);
        assert_eq!(t.len(), 4000);
        let rms = (t.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / t.len() as f64).sqrt();
        assert!(rms > 1000.0, "rms {rms}");
    }
}
