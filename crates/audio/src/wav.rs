//! Minimal RIFF/WAVE PCM16 reader and writer (recordings, test fixtures, debugging dumps).

use std::io::{Read, Write};

/// Errors reading a WAV file.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a RIFF/WAVE file")]
    NotWav,
    #[error("unsupported WAV format: {0} (only 16-bit PCM is supported)")]
    Unsupported(String),
    #[error("WAV file has no data chunk")]
    NoData,
}

/// Writes mono PCM16 as a WAV file.
pub fn write_wav<W: Write>(mut w: W, samples: &[i16], sample_rate: u32) -> Result<(), WavError> {
    let data_len = (samples.len() * 2) as u32;
    w.write_all(b"RIFF")?;
    w.write_all(&(36 + data_len).to_le_bytes())?;
    w.write_all(b"WAVEfmt ")?;
    w.write_all(&16u32.to_le_bytes())?;
    w.write_all(&1u16.to_le_bytes())?; // PCM
    w.write_all(&1u16.to_le_bytes())?; // mono
    w.write_all(&sample_rate.to_le_bytes())?;
    w.write_all(&(sample_rate * 2).to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&16u16.to_le_bytes())?;
    w.write_all(b"data")?;
    w.write_all(&data_len.to_le_bytes())?;
    let mut bytes = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    w.write_all(&bytes)?;
    Ok(())
}

/// Reads a PCM16 WAV file; multi-channel files keep only the first channel.
/// Returns the samples and the sample rate.
pub fn read_wav<R: Read>(mut r: R) -> Result<(Vec<i16>, u32), WavError> {
    let mut all = Vec::new();
    r.read_to_end(&mut all)?;
    if all.len() < 12 || &all[0..4] != b"RIFF" || &all[8..12] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut pos = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= all.len() {
        let id = &all[pos..pos + 4];
        let len =
            u32::from_le_bytes([all[pos + 4], all[pos + 5], all[pos + 6], all[pos + 7]]) as usize;
        let body_start = pos + 8;
        let body_end = (body_start + len).min(all.len());
        let body = &all[body_start..body_end];
        if id == b"fmt " && body.len() >= 16 {
            let format = u16::from_le_bytes([body[0], body[1]]);
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            fmt = Some((format, channels, rate, bits));
        } else if id == b"data" {
            let (format, channels, rate, bits) =
                fmt.ok_or_else(|| WavError::Unsupported("data before fmt chunk".into()))?;
            // 0xFFFE is WAVE_FORMAT_EXTENSIBLE, which sox and others write for plain PCM too.
            if (format != 1 && format != 0xFFFE) || bits != 16 || channels == 0 {
                return Err(WavError::Unsupported(format!(
                    "format {format}, {bits} bits, {channels} channels"
                )));
            }
            let stride = 2 * channels as usize;
            let samples = body
                .chunks_exact(stride)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok((samples, rate));
        }
        // Chunks are padded to even length.
        pos = body_start + len + (len & 1);
    }
    Err(WavError::NoData)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trips() {
        let pcm: Vec<i16> = (0..1000).map(|i| (i * 31 % 2000) as i16 - 1000).collect();
        let mut buf = Vec::new();
        write_wav(&mut buf, &pcm, 16000).unwrap();
        let (back, rate) = read_wav(&buf[..]).unwrap();
        assert_eq!(rate, 16000);
        assert_eq!(back, pcm);
    }

    #[test]
    fn garbage_is_rejected_clearly() {
        assert!(matches!(
            read_wav(&b"hello world, not audio"[..]),
            Err(WavError::NotWav)
        ));
    }
}
