//! G.711 mu-law, the codec of Twilio Media Streams (`audio/x-mulaw`, 8 kHz).
//!
//! Standard ITU-T G.711 segment encoding with the 0x84 bias; decoding uses a table built at
//! compile time because it runs for every inbound sample of every call.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// Encodes one linear PCM16 sample to mu-law.
pub fn encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    if s > CLIP {
        s = CLIP;
    }
    s += BIAS;
    // Exponent = position of the highest set bit above bit 7.
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && (s & mask) == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

const fn decode_const(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn build_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = decode_const(i as u8);
        i += 1;
    }
    t
}

static DECODE_TABLE: [i16; 256] = build_table();

/// Decodes one mu-law byte to linear PCM16.
#[inline]
pub fn decode(byte: u8) -> i16 {
    DECODE_TABLE[byte as usize]
}

/// Encodes a PCM16 buffer.
pub fn encode_all(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().map(|&s| encode(s)).collect()
}

/// Decodes a mu-law buffer.
pub fn decode_all(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| decode(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codewords_match_g711() {
        // Silence encodes to 0xFF, and 0xFF/0x7F decode to (+/-) zero.
        assert_eq!(encode(0), 0xFF);
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        // Full scale.
        assert_eq!(encode(32767), 0x80);
        assert_eq!(encode(-32768), 0x00);
        assert_eq!(decode(0x80), 32124);
        assert_eq!(decode(0x00), -32124);
    }

    #[test]
    fn every_codeword_survives_decode_then_encode() {
        for b in 0u8..=255 {
            let s = decode(b);
            let again = encode(s);
            // 0x7F and 0xFF both mean zero.
            if s == 0 {
                assert!(again == 0xFF || again == 0x7F);
            } else {
                assert_eq!(again, b, "codeword {b:#x} -> {s}");
            }
        }
    }

    #[test]
    fn quantisation_error_is_relative_to_level() {
        for s in (-32000i32..32000).step_by(97) {
            let d = decode(encode(s as i16)) as i32;
            let err = (d - s).abs();
            // Segment step is at most 1/16 of the segment's base: ~3.2 % plus the bias.
            assert!(err <= (s.abs() / 16) + 8, "{s} -> {d}");
        }
    }
}
