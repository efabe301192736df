//! Converter tests on a tiny synthetic CTranslate2 model built here, byte by byte.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;

use super::*;

const D: u64 = 4; // model width
const N_MELS: u64 = 2;

/// One CTranslate2 variable: name, dims, dtype code, raw bytes.
type RawVar = (String, Vec<u64>, u8, Vec<u8>);

/// Element (r, c) of a synthetic matrix: exact in f16, and tells which source row it came from.
fn value(r: u64, c: u64) -> f32 {
    r as f32 + c as f32 / 8.0
}

fn f16_matrix(name: &str, dims: &[u64]) -> RawVar {
    let rows = dims[0];
    let cols: u64 = dims[1..].iter().product();
    let mut bytes = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            bytes.extend_from_slice(&f32_to_f16(value(r, c)).to_le_bytes());
        }
    }
    (name.to_string(), dims.to_vec(), 4, bytes)
}

fn ct2_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn synthetic_vars() -> Vec<RawVar> {
    let mut v = vec![
        (
            "encoder/num_heads".to_string(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ),
        (
            "decoder/num_heads".to_string(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ),
        ("decoder/activation".to_string(), vec![], 1, vec![1]),
        f16_matrix("encoder/position_encodings/encodings", &[3, D]),
        f16_matrix("encoder/conv1/weight", &[D, N_MELS, 3]),
        f16_matrix("encoder/conv1/bias", &[D]),
        f16_matrix("encoder/conv2/weight", &[D, D, 3]),
        f16_matrix("encoder/conv2/bias", &[D]),
        f16_matrix("decoder/position_encodings/encodings", &[5, D]),
        f16_matrix("decoder/embeddings/weight", &[6, D]),
    ];
    let linear = |v: &mut Vec<RawVar>, p: &str, out: u64, inp: u64| {
        v.push(f16_matrix(&format!("{p}/weight"), &[out, inp]));
        v.push(f16_matrix(&format!("{p}/bias"), &[out]));
    };
    let norm = |v: &mut Vec<RawVar>, p: &str| {
        v.push(f16_matrix(&format!("{p}/gamma"), &[D]));
        v.push(f16_matrix(&format!("{p}/beta"), &[D]));
    };
    for side in ["encoder", "decoder"] {
        let p = format!("{side}/layer_0");
        linear(&mut v, &format!("{p}/self_attention/linear_0"), 3 * D, D);
        linear(&mut v, &format!("{p}/self_attention/linear_1"), D, D);
        norm(&mut v, &format!("{p}/self_attention/layer_norm"));
        linear(&mut v, &format!("{p}/ffn/linear_0"), 4 * D, D);
        linear(&mut v, &format!("{p}/ffn/linear_1"), D, 4 * D);
        norm(&mut v, &format!("{p}/ffn/layer_norm"));
        norm(&mut v, &format!("{side}/layer_norm"));
    }
    let p = "decoder/layer_0/attention";
    linear(&mut v, &format!("{p}/linear_0"), D, D);
    linear(&mut v, &format!("{p}/linear_1"), 2 * D, D);
    linear(&mut v, &format!("{p}/linear_2"), D, D);
    norm(&mut v, &format!("{p}/layer_norm"));
    v
}

fn ct2_file(vars: &[RawVar]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&6u32.to_le_bytes());
    ct2_string(&mut out, "WhisperSpec");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
    for (name, dims, dtype, bytes) in vars {
        ct2_string(&mut out, name);
        out.push(dims.len() as u8);
        for d in dims {
            out.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        out.push(*dtype);
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    // One alias, as real Whisper exports have (projection tied to the embedding).
    out.extend_from_slice(&1u32.to_le_bytes());
    ct2_string(&mut out, "decoder/projection/weight");
    ct2_string(&mut out, "decoder/embeddings/weight");
    out
}

const TOKENIZER: &str = r#"{"added_tokens":[{"id":3,"content":"<|endoftext|>"}],
  "model":{"type":"BPE","vocab":{"!":0,"Ġhi":1,"Ċ":2,"<|endoftext|>":3}}}"#;

struct GgmlTensor {
    dims: Vec<i32>,
    ftype: i32,
    data: Vec<u8>,
}

impl GgmlTensor {
    fn f32s(&self) -> Vec<f32> {
        match self.ftype {
            0 => self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            _ => self
                .data
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        }
    }
}

struct Ggml {
    hparams: Vec<i32>,
    mel_shape: (i32, i32),
    vocab: Vec<Vec<u8>>,
    tensors: HashMap<String, GgmlTensor>,
}

fn parse_ggml(bytes: &[u8]) -> Ggml {
    let mut r = Cursor::new(bytes);
    let i32_ = |r: &mut Cursor<&[u8]>| {
        let mut b = [0u8; 4];
        r.read_exact(&mut b).unwrap();
        i32::from_le_bytes(b)
    };
    assert_eq!(i32_(&mut r) as u32, GGML_MAGIC);
    let hparams: Vec<i32> = (0..11).map(|_| i32_(&mut r)).collect();
    let mel_shape = (i32_(&mut r), i32_(&mut r));
    r.seek(SeekFrom::Current((mel_shape.0 * mel_shape.1 * 4) as i64))
        .unwrap();
    let n_vocab = i32_(&mut r);
    let vocab = (0..n_vocab)
        .map(|_| {
            let n = i32_(&mut r) as usize;
            let mut b = vec![0u8; n];
            r.read_exact(&mut b).unwrap();
            b
        })
        .collect();
    let mut tensors = HashMap::new();
    while (r.position() as usize) < bytes.len() {
        let n_dims = i32_(&mut r);
        let name_len = i32_(&mut r) as usize;
        let ftype = i32_(&mut r);
        let dims: Vec<i32> = (0..n_dims).map(|_| i32_(&mut r)).collect();
        let mut name = vec![0u8; name_len];
        r.read_exact(&mut name).unwrap();
        let elems: i32 = dims.iter().product();
        let mut data = vec![0u8; elems as usize * if ftype == 0 { 4 } else { 2 }];
        r.read_exact(&mut data).unwrap();
        tensors.insert(
            String::from_utf8(name).unwrap(),
            GgmlTensor { dims, ftype, data },
        );
    }
    Ggml {
        hparams,
        mel_shape,
        vocab,
        tensors,
    }
}

fn convert_synthetic(tag: &str) -> Ggml {
    let dir = std::env::temp_dir().join(format!("callpilot-ct2-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model: PathBuf = dir.join("model.bin");
    let tokenizer = dir.join("tokenizer.json");
    let out = dir.join("ggml.bin");
    std::fs::write(&model, ct2_file(&synthetic_vars())).unwrap();
    std::fs::write(&tokenizer, TOKENIZER).unwrap();
    let mut last = (0, 0);
    convert(&model, &tokenizer, &out, &mut |done, total| {
        last = (done, total)
    })
    .unwrap();
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        last.1 > 0 && last.0 == last.1,
        "progress ends at total: {last:?}"
    );
    parse_ggml(&bytes)
}

#[test]
fn header_records_hyperparameters_read_from_the_ct2_model() {
    let g = convert_synthetic("hparams");
    // n_vocab, audio ctx/state/head/layer, text ctx/state/head/layer, n_mels, ftype f16.
    assert_eq!(g.hparams, vec![6, 3, 4, 2, 1, 5, 4, 2, 1, 2, 1]);
    assert_eq!(g.mel_shape, (2, 201));
}

#[test]
fn vocabulary_undoes_gpt2_byte_level_mapping_below_endoftext() {
    let g = convert_synthetic("vocab");
    assert_eq!(
        g.vocab,
        vec![b"!".to_vec(), b" hi".to_vec(), b"\n".to_vec()]
    );
}

#[test]
fn names_map_to_whisper_cpp_tensors_and_keys_have_no_bias() {
    let g = convert_synthetic("names");
    for name in [
        "encoder.positional_embedding",
        "encoder.conv1.weight",
        "encoder.conv2.bias",
        "encoder.blocks.0.attn.query.weight",
        "encoder.blocks.0.attn.out.bias",
        "encoder.blocks.0.attn_ln.weight",
        "encoder.blocks.0.mlp.0.weight",
        "encoder.blocks.0.mlp.2.bias",
        "encoder.blocks.0.mlp_ln.bias",
        "encoder.ln_post.weight",
        "decoder.positional_embedding",
        "decoder.token_embedding.weight",
        "decoder.blocks.0.cross_attn.query.bias",
        "decoder.blocks.0.cross_attn.key.weight",
        "decoder.blocks.0.cross_attn.value.bias",
        "decoder.blocks.0.cross_attn.out.weight",
        "decoder.blocks.0.cross_attn_ln.weight",
        "decoder.ln.bias",
    ] {
        assert!(g.tensors.contains_key(name), "missing {name}");
    }
    assert!(!g.tensors.contains_key("encoder.blocks.0.attn.key.bias"));
    assert!(!g
        .tensors
        .contains_key("decoder.blocks.0.cross_attn.key.bias"));
    // Per block: self-attn 7 + attn_ln 2 + mlp 4 + mlp_ln 2 = 15; the decoder's adds cross-attn
    // query 2, key 1, value 2, out 2, ln 2 = 9. Plus encoder pos/conv (5) + ln_post (2), decoder
    // pos/embedding (2) + ln (2).
    assert_eq!(g.tensors.len(), 15 + 7 + (15 + 9) + 4);
}

#[test]
fn fused_qkv_is_split_into_consecutive_row_blocks() {
    let g = convert_synthetic("qkv");
    for (i, part) in ["query", "key", "value"].iter().enumerate() {
        let t = &g.tensors[&format!("encoder.blocks.0.attn.{part}.weight")];
        assert_eq!(
            t.dims,
            vec![D as i32, D as i32],
            "ggml dims are reversed [in, out]"
        );
        let values = t.f32s();
        for r in 0..D {
            for c in 0..D {
                let expected = value(i as u64 * D + r, c);
                assert_eq!(
                    values[(r * D + c) as usize],
                    expected,
                    "{part} row {r} col {c}"
                );
            }
        }
    }
    let value_bias = g.tensors["encoder.blocks.0.attn.value.bias"].f32s();
    assert_eq!(
        value_bias,
        (0..D).map(|r| value(2 * D + r, 0)).collect::<Vec<_>>()
    );
    // Cross-attention K|V: value takes the second half.
    let cross_value = g.tensors["decoder.blocks.0.cross_attn.value.weight"].f32s();
    assert_eq!(cross_value[0], value(D, 0));
}

#[test]
fn small_tensors_are_f32_and_weights_f16_with_reversed_dims() {
    let g = convert_synthetic("types");
    let conv_bias = &g.tensors["encoder.conv1.bias"];
    assert_eq!(
        (conv_bias.ftype, conv_bias.dims.clone()),
        (0, vec![1, D as i32])
    );
    assert_eq!(
        conv_bias.f32s(),
        (0..D).map(|r| value(r, 0)).collect::<Vec<_>>()
    );
    assert_eq!(g.tensors["encoder.positional_embedding"].ftype, 0);
    assert_eq!(g.tensors["decoder.positional_embedding"].ftype, 0);
    assert_eq!(g.tensors["decoder.ln.weight"].ftype, 0);
    let conv = &g.tensors["encoder.conv1.weight"];
    assert_eq!(
        (conv.ftype, conv.dims.clone()),
        (1, vec![3, N_MELS as i32, D as i32])
    );
    assert_eq!(g.tensors["decoder.token_embedding.weight"].ftype, 1);
}

#[test]
fn wrong_spec_is_rejected_with_a_clear_error() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&6u32.to_le_bytes());
    ct2_string(&mut bytes, "TransformerSpec");
    let err = read_index(&mut Cursor::new(bytes)).unwrap_err();
    assert!(err.to_string().contains("WhisperSpec"), "{err}");
}

#[test]
fn mel_filters_match_openai_whisper_mel_80() {
    let f = slaney_mel_filters(16_000.0, 400, 80);
    assert_eq!(f.len(), 80 * 201);
    let at = |m: usize, bin: usize| f[m * 201 + bin];
    // Reference values from openai-whisper's assets/mel_filters.npz (mel_80).
    let close = |a: f32, b: f32| (a - b).abs() < 1e-7;
    assert!(close(at(0, 1), 0.024_862_595), "{}", at(0, 1));
    assert_eq!(at(0, 2), 0.0);
    assert!(close(at(1, 1), 0.001_990_822));
    assert!(close(at(1, 2), 0.022_871_772));
    assert!(close(at(40, 42), 0.005_411_105));
    assert!(close(at(40, 43), 0.014_735_566));
    assert!(close(at(40, 44), 0.006_518_19));
    assert!(close(at(79, 193), 0.003_141_313_3));
    assert!(close(at(79, 199), 0.000_448_759));
    assert_eq!(at(79, 200), 0.0);
    let sum: f64 = f.iter().map(|&v| v as f64).sum();
    assert!((sum - 1.999_024_092).abs() < 1e-5, "{sum}");
}

#[test]
fn half_precision_conversions_round_trip_and_round_to_nearest_even() {
    for bits in (0u16..=u16::MAX).filter(|b| (b >> 10) & 0x1f != 0x1f) {
        assert_eq!(f32_to_f16(f16_to_f32(bits)), bits, "{bits:#x}");
    }
    assert_eq!(f32_to_f16(1.0), 0x3c00);
    assert_eq!(f32_to_f16(-2.0), 0xc000);
    assert_eq!(f32_to_f16(65504.0), 0x7bff);
    assert_eq!(f32_to_f16(1e6), 0x7c00);
    // 1 + 2^-11 is halfway between 1 and the next half: ties go to the even mantissa (1.0).
    assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
    assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
}
