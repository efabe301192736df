//! Sample-rate conversion with a windowed-sinc (Blackman) interpolator.
//!
//! Used at the edges of a call: Piper speaks at 22 050 Hz and the phone wants 8 kHz; Whisper wants
//! 16 kHz. Downsampling must low-pass first or the phone line hears aliasing, so the kernel's
//! cutoff follows the lower of the two Nyquist frequencies.
//!
//! Output sample `n` sits at input position `n * from / to`. With the ratio reduced by its gcd to
//! `up:down` (e.g. 22 050→8 000 = 160:441), that position's fractional part only ever takes `up`
//! values, so the kernel is evaluated once per (phase, tap) into a polyphase table and each output
//! is a dot product over a contiguous slice of input. Tables are cached per reduced ratio. Ratios
//! whose table would be too large fall back to a finely sampled kernel with linear interpolation.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::{Arc, Mutex, OnceLock};

/// Zero crossings of the sinc kernel kept on each side (quality vs cost).
const ZERO_CROSSINGS: f64 = 12.0;

/// Above this many phases a polyphase table costs more to build than most buffers take to
/// resample (8000→8001 would need 8001 phases), so the interpolated kernel is used instead.
const MAX_PHASES: u64 = 4096;

/// Cap on polyphase table entries (4 MiB of f32), which matters for steep downsampling where the
/// kernel is long.
const MAX_TABLE_LEN: usize = 1 << 20;

/// Fallback kernel samples per zero crossing. Linear interpolation error is about
/// `pi^2 / (8 * 512^2)` ≈ 5e-6 of the peak, well below f32-over-16-bit audio needs.
const FINE_STEPS_PER_CROSSING: usize = 512;

/// Distinct ratios a process uses are few (8k, 16k, 22.05k, 24k pairs); the cap only guards
/// against unbounded growth if a caller feeds arbitrary rates.
const MAX_CACHED_TABLES: usize = 32;

/// Resamples `input` from `from_hz` to `to_hz`. Output length is `len * to / from` (rounded).
/// A rate of 0 yields an empty output.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz || input.is_empty() {
        return input.to_vec();
    }
    if from_hz == 0 || to_hz == 0 {
        return Vec::new();
    }
    let ratio = to_hz as f64 / from_hz as f64;
    let out_len = ((input.len() as f64) * ratio).round() as usize;
    let table = table_for(from_hz, to_hz);
    let mut out = Vec::with_capacity(out_len);
    match &table.kernel {
        Kernel::Polyphase {
            weights,
            first_tap,
            width,
        } => polyphase(
            input, &table, weights, *first_tap, *width, out_len, &mut out,
        ),
        Kernel::Interpolated { fine } => interpolated(input, &table, fine, out_len, &mut out),
    }
    out
}

/// Everything derived from one reduced ratio `step:phases` (input advance per output = `step /
/// phases` samples).
struct Table {
    /// Input samples advanced per output, numerator (reduced `from`).
    step: u64,
    /// Denominator (reduced `to`); the number of distinct fractional positions.
    phases: u64,
    /// Cutoff relative to the input's Nyquist.
    cutoff: f64,
    /// Kernel half-width in input samples.
    half_width: f64,
    kernel: Kernel,
}

enum Kernel {
    /// `weights[p * width + k]` is the tap at input offset `first_tap + k` from the integer part
    /// of the position, for fractional part `p / phases`. Each phase sums to 1; taps outside the
    /// kernel's support for that phase are 0 so every phase can share one width.
    Polyphase {
        weights: Vec<f32>,
        first_tap: isize,
        width: usize,
    },
    /// `g(x) = sinc(x) * blackman(x)` sampled at `x = -ZERO_CROSSINGS + i / FINE_STEPS_PER_CROSSING`.
    Interpolated { fine: Vec<f32> },
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

type Cache = Mutex<HashMap<(u64, u64), Arc<Table>>>;

/// Returns the (cached) table for a rate pair. Building the 22.05k→8k table costs ~11k kernel
/// evaluations, several times the cost of resampling a sentence with it, so it is kept.
fn table_for(from_hz: u32, to_hz: u32) -> Arc<Table> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let g = gcd(from_hz as u64, to_hz as u64);
    let key = (from_hz as u64 / g, to_hz as u64 / g);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
    if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Arc::clone(t);
    }
    // Built outside the lock so a slow build never stalls other rates; a racing duplicate build
    // is harmless.
    let table = Arc::new(build_table(key.0, key.1));
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() < MAX_CACHED_TABLES {
        map.insert(key, Arc::clone(&table));
    }
    table
}

fn build_table(step: u64, phases: u64) -> Table {
    let ratio = phases as f64 / step as f64;
    // Cutoff relative to the input's Nyquist; slightly below to leave room for the window's skirt.
    let cutoff = ratio.min(1.0) * 0.95;
    let half_width = ZERO_CROSSINGS / cutoff;
    // Tap offsets j (relative to floor(position)) with |j - frac| <= half_width, frac in [0, 1).
    let first_tap = (-half_width).ceil() as isize;
    let last_tap = (1.0 + half_width).floor() as isize;
    let width = (last_tap - first_tap + 1) as usize;
    let kernel = if phases <= MAX_PHASES && phases as usize * width <= MAX_TABLE_LEN {
        let mut weights = vec![0.0f32; phases as usize * width];
        let mut raw = vec![0.0f64; width];
        for (p, row) in weights.chunks_exact_mut(width).enumerate() {
            let frac = p as f64 / phases as f64;
            // Same support rule as per-output evaluation: taps with |t| <= half_width.
            let lo = (frac - half_width).ceil() as isize;
            let hi = (frac + half_width).floor() as isize;
            raw.fill(0.0);
            for j in lo..=hi {
                raw[(j - first_tap) as usize] = kernel(j as f64 - frac, cutoff, half_width);
            }
            let sum: f64 = raw.iter().sum();
            for (w, r) in row.iter_mut().zip(&raw) {
                *w = (r / sum) as f32;
            }
        }
        Kernel::Polyphase {
            weights,
            first_tap,
            width,
        }
    } else {
        let n = 2 * ZERO_CROSSINGS as usize * FINE_STEPS_PER_CROSSING + 1;
        let fine = (0..n)
            .map(|i| {
                let x = -ZERO_CROSSINGS + i as f64 / FINE_STEPS_PER_CROSSING as f64;
                // x counts zero crossings (t = x / cutoff input samples); the cutoff gain is
                // dropped because each output is normalised by its tap sum anyway.
                (kernel(x / cutoff, cutoff, half_width) / cutoff) as f32
            })
            .collect();
        Kernel::Interpolated { fine }
    };
    Table {
        step,
        phases,
        cutoff,
        half_width,
        kernel,
    }
}

fn polyphase(
    input: &[f32],
    table: &Table,
    weights: &[f32],
    first_tap: isize,
    width: usize,
    out_len: usize,
    out: &mut Vec<f32>,
) {
    let len = input.len() as isize;
    let (whole, part) = (table.step / table.phases, table.step % table.phases);
    // Position of output n is base + phase / phases, advanced incrementally (exact, no overflow).
    let mut base: isize = 0;
    let mut phase: u64 = 0;
    for _ in 0..out_len {
        let row = &weights[phase as usize * width..][..width];
        let start = base + first_tap;
        let value = if start >= 0 && start + width as isize <= len {
            dot(&input[start as usize..][..width], row)
        } else {
            // At the buffer's edges only some taps land on input; normalising by their sum keeps
            // DC gain at exactly 1 there too.
            let lo = start.max(0);
            let hi = (start + width as isize).min(len);
            if lo >= hi {
                0.0
            } else {
                let taps = &row[(lo - start) as usize..(hi - start) as usize];
                let norm: f32 = taps.iter().sum();
                if norm.abs() > 1e-9 {
                    dot(&input[lo as usize..hi as usize], taps) / norm
                } else {
                    0.0
                }
            }
        };
        out.push(value);
        base += whole as isize;
        phase += part;
        if phase >= table.phases {
            phase -= table.phases;
            base += 1;
        }
    }
}

fn interpolated(input: &[f32], table: &Table, fine: &[f32], out_len: usize, out: &mut Vec<f32>) {
    let len = input.len() as isize;
    let (whole, part) = (table.step / table.phases, table.step % table.phases);
    let steps = FINE_STEPS_PER_CROSSING as f64;
    let mut taps: Vec<f32> = Vec::new();
    let mut base: isize = 0;
    let mut phase: u64 = 0;
    for _ in 0..out_len {
        let frac = phase as f64 / table.phases as f64;
        let lo = (base + (frac - table.half_width).ceil() as isize).max(0);
        let hi = (base + (frac + table.half_width).floor() as isize).min(len - 1);
        let value = if lo > hi {
            0.0
        } else {
            taps.clear();
            taps.extend((lo..=hi).map(|i| {
                let x = ((i - base) as f64 - frac) * table.cutoff;
                let pos = ((x + ZERO_CROSSINGS) * steps).clamp(0.0, (fine.len() - 1) as f64);
                let k = (pos as usize).min(fine.len() - 2);
                let f = (pos - k as f64) as f32;
                fine[k] + (fine[k + 1] - fine[k]) * f
            }));
            let norm: f32 = taps.iter().sum();
            if norm.abs() > 1e-9 {
                dot(&input[lo as usize..=hi as usize], &taps) / norm
            } else {
                0.0
            }
        };
        out.push(value);
        base += whole as isize;
        phase += part;
        if phase >= table.phases {
            phase -= table.phases;
            base += 1;
        }
    }
}

/// Dot product with eight independent partial sums: float addition is not associative, so LLVM
/// only vectorises the loop if the code itself splits the accumulator.
#[inline]
fn dot(x: &[f32], w: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), w.len());
    let mut acc = [0.0f32; 8];
    let (xc, wc) = (x.chunks_exact(8), w.chunks_exact(8));
    let tail: f32 = xc
        .remainder()
        .iter()
        .zip(wc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xc.zip(wc) {
        for k in 0..8 {
            acc[k] += a[k] * b[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
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

    /// The original per-tap-trig implementation, kept as the numerical reference.
    fn reference(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
        if from_hz == to_hz || input.is_empty() {
            return input.to_vec();
        }
        let ratio = to_hz as f64 / from_hz as f64;
        let out_len = ((input.len() as f64) * ratio).round() as usize;
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
                let w = kernel(i as f64 - center, cutoff, half_width);
                acc += x as f64 * w;
                norm += w;
            }
            out.push(if norm.abs() > 1e-9 {
                (acc / norm) as f32
            } else {
                0.0
            });
        }
        out
    }

    /// Rate pairs callers use, plus ones that hit the interpolated fallback (8000:8001 has 8001
    /// phases) and odd lengths.
    const PAIRS: &[(u32, u32)] = &[
        (22_050, 8000),
        (8000, 16_000),
        (16_000, 8000),
        (24_000, 8000),
        (22_050, 16_000),
        (8000, 22_050),
        (44_100, 48_000),
        (48_000, 8000),
        (8000, 8001),
        (8001, 8000),
    ];

    fn sine(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .map(|i| (2.0 * PI * freq * i as f64 / rate as f64).sin() as f32 * 0.5)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Deterministic uniform noise in [-1, 1) (xorshift; no rand dependency for one test).
    fn noise(n: usize, mut seed: u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn output_length_follows_ratio() {
        let x = vec![0.0f32; 22050];
        assert_eq!(resample(&x, 22050, 8000).len(), 8000);
        assert_eq!(resample(&vec![0.0f32; 8000], 8000, 16000).len(), 16000);
        for &(from, to) in PAIRS {
            for len in [1usize, 2, 7, 160, 161, 999, 4410] {
                let want = (len as f64 * to as f64 / from as f64).round() as usize;
                let got = resample(&vec![0.25f32; len], from, to).len();
                assert_eq!(got, want, "{from}->{to} len {len}");
            }
        }
    }

    #[test]
    fn dc_gain_is_one_everywhere_including_edges() {
        for &(from, to) in PAIRS {
            for len in [3usize, 50, 1000] {
                let y = resample(&vec![0.7f32; len], from, to);
                for (n, v) in y.iter().enumerate() {
                    assert!(
                        (v - 0.7).abs() < 1e-5,
                        "{from}->{to} len {len} y[{n}] = {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn matches_the_reference_implementation_on_noise() {
        for (seed, &(from, to)) in PAIRS.iter().enumerate() {
            for len in [5usize, 160, 3001] {
                let x = noise(
                    len,
                    0x9E37_79B9_7F4A_7C15 ^ (seed as u64 * 7919 + len as u64),
                );
                let got = resample(&x, from, to);
                let want = reference(&x, from, to);
                assert_eq!(got.len(), want.len());
                let peak = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    worst < 1e-4 * peak,
                    "{from}->{to} len {len}: {worst} vs peak {peak}"
                );
            }
        }
    }

    #[test]
    fn pcm16_matches_the_reference_within_one_lsb() {
        let x: Vec<i16> = noise(4410, 42)
            .iter()
            .map(|v| (v * 30000.0) as i16)
            .collect();
        for &(from, to) in PAIRS {
            let got = resample_i16(&x, from, to);
            let f: Vec<f32> = x.iter().map(|&s| s as f32).collect();
            let want: Vec<i16> = reference(&f, from, to)
                .into_iter()
                .map(|s| s.round().clamp(-32768.0, 32767.0) as i16)
                .collect();
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (*a as i32 - *b as i32).abs() <= 1,
                    "{from}->{to}: {a} vs {b}"
                );
            }
        }
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
        // Each would fold back into the 0-4 kHz band at 8 kHz without a low-pass (4.5 kHz lands
        // on 3.5 kHz, 6 kHz on 2 kHz). Input rms is 0.354; 0.0035 is 40 dB down.
        for freq in [4500.0, 5000.0, 6000.0, 8000.0, 10_000.0] {
            let x = sine(freq, 22050, 0.5);
            let y = resample(&x, 22050, 8000);
            let r = rms(&y[400..y.len() - 400]);
            assert!(r < 0.0035, "{freq} Hz: aliased energy {r}");
        }
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

    #[test]
    fn tone_survives_a_round_trip_8k_16k_8k() {
        let x = sine(1000.0, 8000, 0.5);
        let back = resample(&resample(&x, 8000, 16_000), 16_000, 8000);
        assert_eq!(back.len(), x.len());
        let err: Vec<f32> = back[200..3800]
            .iter()
            .zip(&x[200..3800])
            .map(|(a, b)| a - b)
            .collect();
        assert!(rms(&err) < 1e-3, "round-trip error {}", rms(&err));
    }

    #[test]
    fn fallback_ratio_preserves_a_tone() {
        // 8000:8001 is too many phases for a table and goes through the interpolated kernel.
        let x = sine(1000.0, 8000, 0.5);
        let y = resample(&x, 8000, 8001);
        let expected = sine(1000.0, 8001, 0.5);
        let err: Vec<f32> = y[200..3800]
            .iter()
            .zip(&expected[200..3800])
            .map(|(a, b)| a - b)
            .collect();
        assert!(rms(&err) < 1e-3, "error {}", rms(&err));
    }

    #[test]
    fn zero_rates_and_empty_input_do_not_panic() {
        assert!(resample(&[], 8000, 16_000).is_empty());
        assert!(resample(&[1.0, 2.0], 0, 16_000).is_empty());
        assert!(resample(&[1.0, 2.0], 8000, 0).is_empty());
        assert_eq!(resample(&[1.0, 2.0], 8000, 8000), vec![1.0, 2.0]);
    }
}
