//! Sample-rate conversion with a windowed-sinc (Blackman) interpolator.
//!
//! Used at the edges of a call: Piper speaks at 22 050 Hz and the phone wants 8 kHz; Whisper wants
//! 16 kHz. Downsampling must low-pass first or the phone line hears aliasing, so the kernel's
//! cutoff follows the lower of the two Nyquist frequencies.

use std::f64::consts::PI;

/// Zero crossings of the sinc kernel kept on each side (quality vs cost).
const ZERO_CROSSINGS: f64 = 12.0;

/// Resamples `input` from `from_hz` to `to_hz`. Output length is `len * to / from` (rounded).
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz || input.is_empty() {
        return input.to_vec();
    }
    let ratio = to_hz as f64 / from_hz as f64;
    let out_len = ((input.len() as f64) * ratio).round() as usize;
    // Cutoff relative to the input's Nyquist; slightly below to leave room for the window's skirt.
    let cutoff = ratio.min(1.0) * 0.95;
    let half_width = ZERO_CROSSINGS / cutoff;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let center = n as f64 / ratio;
        let start = (center - half_width).ceil().max(0.0) as usize;
        let end = ((center + half_width).floor() as usize).min(input.len() - 1);
        let mut acc = 0.0f64;
        let mut norm = 0.0f64;
        for (i, &x) in input.iter().enumerate().take(end + 1).skip(start) {
            let t = i as f64 - center;
            let w = kernel(t, cutoff, half_width);
            acc += x as f64 * w;
            norm += w;
        }
        // Normalising by the kernel sum keeps DC gain at exactly 1 at the buffer's edges too.
        out.push(if norm.abs() > 1e-9 {
            (acc / norm) as f32
        } else {
            0.0
        });
    }
    out
}

fn kernel(t: f64, cutoff: f64, half_width: f64) -> f64 {
    let x = t * cutoff;
    let sinc = if x.abs() < 1e-9 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    };
    // Blackman window over [-half_width, half_width].
    let p = (t + half_width) / (2.0 * half_width);
    let window = 0.42 - 0.5 * (2.0 * PI * p).cos() + 0.08 * (4.0 * PI * p).cos();
    cutoff * sinc * window
}

/// [`resample`] for PCM16, with saturation.
pub fn resample_i16(input: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    let f: Vec<f32> = input.iter().map(|&s| s as f32).collect();
    resample(&f, from_hz, to_hz)
        .into_iter()
        .map(|s| s.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// PCM16 to f32 in [-1, 1).
pub fn i16_to_f32(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&s| s as f32 / 32768.0).collect()
}

/// f32 in [-1, 1] to PCM16, with saturation.
pub fn f32_to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .map(|i| (2.0 * PI * freq * i as f64 / rate as f64).sin() as f32 * 0.5)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn output_length_follows_ratio() {
        let x = vec![0.0f32; 22050];
        assert_eq!(resample(&x, 22050, 8000).len(), 8000);
        assert_eq!(resample(&vec![0.0f32; 8000], 8000, 16000).len(), 16000);
    }

    #[test]
    fn in_band_tone_keeps_its_level_when_downsampling() {
        let x = sine(1000.0, 22050, 0.5);
        let y = resample(&x, 22050, 8000);
        let inner = &y[400..y.len() - 400];
        let r = rms(inner);
        assert!((r - 0.3535).abs() < 0.02, "rms {r}");
    }

    #[test]
    fn tone_above_new_nyquist_is_removed_not_aliased() {
        // 6 kHz at 22.05 kHz would alias to 2 kHz at 8 kHz without a low-pass.
        let x = sine(6000.0, 22050, 0.5);
        let y = resample(&x, 22050, 8000);
        let r = rms(&y[400..y.len() - 400]);
        assert!(r < 0.02, "aliased energy {r}");
    }

    #[test]
    fn upsampling_preserves_a_tone() {
        let x = sine(440.0, 8000, 0.5);
        let y = resample(&x, 8000, 16000);
        let expected = sine(440.0, 16000, 0.5);
        let err: Vec<f32> = y[200..7800]
            .iter()
            .zip(&expected[200..7800])
            .map(|(a, b)| a - b)
            .collect();
        assert!(rms(&err) < 0.01, "error {}", rms(&err));
    }
}
