//! Converts a CTranslate2 Whisper model (`model.bin` + `tokenizer.json`) into the ggml file
//! whisper.cpp loads.
//!
//! The only Whisper weights on the package registries we can reach are CTranslate2 exports, and
//! whisper.cpp reads only its own format. The conversion is pure data reshuffling, following
//! whisper.cpp's `convert-pt-to-ggml.py`: same hyper-parameters, mel filterbank, vocabulary and
//! tensor names, weights in f16 and the small tensors in f32.
//!
//! ggml layout: magic `0x67676d6c`; 11 `i32` hyper-parameters (n_vocab, n_audio_ctx,
//! n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head,
//! n_text_layer, n_mels, ftype); the mel filterbank (`i32` n_mel, `i32` n_bins, f32 values); the
//! vocabulary (`i32` count, then `i32` length + bytes per token); then per tensor `i32` n_dims,
//! `i32` name length, `i32` type (0 f32, 1 f16), the dims innermost first, the name, the data.
//!
//! The output (75 MB for tiny.en) is streamed tensor by tensor, chunk by chunk: memory use stays
//! flat whatever the model size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::SpeechError;

mod ct2_reader;
mod numeric;

use ct2_reader::{invalid, read_index, read_scalar_int, var, DType, Variable};
pub(crate) use numeric::{f16_to_f32, f32_to_f16, slaney_mel_filters};

/// ggml's file magic ("ggml" as a little-endian u32).
const GGML_MAGIC: u32 = 0x6767_6d6c;
/// Whisper's front end: 16 kHz audio, 25 ms FFT window.
const SAMPLE_RATE: f64 = 16_000.0;
const N_FFT: usize = 400;
/// Elements converted per read/write round trip.
const CHUNK_ELEMENTS: usize = 1 << 18;

/// Converts `model_bin` (CTranslate2 `WhisperSpec`) and its `tokenizer_json` into a whisper.cpp
/// ggml file at `out`. `progress(done, total)` receives tensor bytes written so far.
pub fn convert(
    model_bin: &Path,
    tokenizer_json: &Path,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), SpeechError> {
    let mut input = BufReader::new(
        File::open(model_bin)
            .map_err(|e| SpeechError::ModelMissing(format!("{}: {e}", model_bin.display())))?,
    );
    let vars = read_index(&mut input)?;
    let hparams = HParams::from_vars(&vars, &mut input)?;
    let vocab = read_vocabulary(tokenizer_json)?;
    let plan = tensor_plan(&hparams, &vars)?;
    let total: u64 = plan.iter().map(|t| t.out_bytes()).sum();

    let mut w = BufWriter::with_capacity(1 << 20, File::create(out)?);
    write_u32(&mut w, GGML_MAGIC)?;
    for v in hparams.as_array() {
        write_i32(&mut w, v)?;
    }
    let n_bins = N_FFT / 2 + 1;
    write_i32(&mut w, hparams.n_mels)?;
    write_i32(&mut w, n_bins as i32)?;
    for f in slaney_mel_filters(SAMPLE_RATE, N_FFT, hparams.n_mels as usize) {
        w.write_all(&f.to_le_bytes())?;
    }
    write_i32(&mut w, vocab.len() as i32)?;
    for token in &vocab {
        write_i32(&mut w, token.len() as i32)?;
        w.write_all(token)?;
    }

    let mut done = 0u64;
    progress(done, total);
    for tensor in &plan {
        write_tensor(&mut w, &mut input, tensor, &mut |n| {
            done += n;
            progress(done, total);
        })?;
    }
    w.flush()?;
    Ok(())
}

/// The hyper-parameters block of a whisper.cpp ggml file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HParams {
    n_vocab: i32,
    n_audio_ctx: i32,
    n_audio_state: i32,
    n_audio_head: i32,
    n_audio_layer: i32,
    n_text_ctx: i32,
    n_text_state: i32,
    n_text_head: i32,
    n_text_layer: i32,
    n_mels: i32,
}

impl HParams {
    fn from_vars<R: Read + Seek>(
        vars: &HashMap<String, Variable>,
        r: &mut R,
    ) -> Result<Self, SpeechError> {
        let dim = |name: &str, i: usize| -> Result<i32, SpeechError> {
            var(vars, name)?
                .dims
                .get(i)
                .map(|&d| d as i32)
                .ok_or_else(|| invalid(format!("{name} has no dimension {i}")))
        };
        let count_layers = |prefix: &str| {
            (0..)
                .take_while(|i| {
                    vars.keys()
                        .any(|k| k.starts_with(&format!("{prefix}/layer_{i}/")))
                })
                .count() as i32
        };
        Ok(HParams {
            n_vocab: dim("decoder/embeddings/weight", 0)?,
            n_audio_ctx: dim("encoder/position_encodings/encodings", 0)?,
            n_audio_state: dim("encoder/position_encodings/encodings", 1)?,
            n_audio_head: read_scalar_int(r, var(vars, "encoder/num_heads")?)?,
            n_audio_layer: count_layers("encoder"),
            n_text_ctx: dim("decoder/position_encodings/encodings", 0)?,
            n_text_state: dim("decoder/embeddings/weight", 1)?,
            n_text_head: read_scalar_int(r, var(vars, "decoder/num_heads")?)?,
            n_text_layer: count_layers("decoder"),
            n_mels: dim("encoder/conv1/weight", 1)?,
        })
    }

    /// In file order; the trailing 1 is `ftype` (weights in f16).
    fn as_array(&self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            1,
        ]
    }
}

/// Output element type of a ggml tensor (the numbers are ggml's type codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutType {
    F32 = 0,
    F16 = 1,
}

/// One ggml tensor to write: which rows of which CTranslate2 variable, under which name.
#[derive(Debug, Clone)]
struct PlannedTensor {
    name: String,
    source: Variable,
    /// First row and row count taken from the source (fused Q|K|V weights are split by rows).
    rows: (u64, u64),
    /// Shape in PyTorch order (outermost first); written reversed as ggml wants.
    shape: Vec<u64>,
    out: OutType,
}

impl PlannedTensor {
    fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    fn out_bytes(&self) -> u64 {
        self.elements() * if self.out == OutType::F32 { 4 } else { 2 }
    }
}

/// Collects the ggml tensors to write, in whisper.cpp's names, from the CTranslate2 variables.
struct Planner<'a> {
    vars: &'a HashMap<String, Variable>,
    plan: Vec<PlannedTensor>,
}

impl Planner<'_> {
    /// Part `index` of `parts` equal row blocks of `src` becomes the ggml tensor `name`.
    fn tensor(
        &mut self,
        name: String,
        src: &str,
        index: u64,
        parts: u64,
    ) -> Result<(), SpeechError> {
        let source = var(self.vars, src)?.clone();
        if !matches!(source.dtype, DType::F16 | DType::F32) {
            return Err(invalid(format!(
                "{src} is {:?}; only f16/f32 (not quantised) models can be converted",
                source.dtype
            )));
        }
        let total_rows = *source.dims.first().unwrap_or(&1);
        if total_rows % parts != 0 {
            return Err(invalid(format!(
                "{src}: {total_rows} rows do not split in {parts}"
            )));
        }
        let n_rows = total_rows / parts;
        let mut shape = source.dims.clone();
        if let Some(first) = shape.first_mut() {
            *first = n_rows;
        }
        let conv_bias = name.starts_with("encoder.conv") && name.ends_with(".bias");
        if conv_bias {
            // whisper.cpp declares conv biases as [n, 1] tensors.
            shape.push(1);
        }
        // Small tensors stay f32, as upstream's converter keeps them: ggml adds them to f32
        // activations and whisper.cpp checks each tensor's type against its own layout.
        let out = if shape.len() < 2 || conv_bias || name.ends_with("positional_embedding") {
            OutType::F32
        } else {
            OutType::F16
        };
        self.plan.push(PlannedTensor {
            name,
            source,
            rows: (index * n_rows, n_rows),
            shape,
            out,
        });
        Ok(())
    }

    fn whole(&mut self, name: &str, src: &str) -> Result<(), SpeechError> {
        self.tensor(name.to_string(), src, 0, 1)
    }

    fn linear(&mut self, src: &str, dst: &str) -> Result<(), SpeechError> {
        self.whole(&format!("{dst}.weight"), &format!("{src}/weight"))?;
        self.whole(&format!("{dst}.bias"), &format!("{src}/bias"))
    }

    fn norm(&mut self, src: &str, dst: &str) -> Result<(), SpeechError> {
        self.whole(&format!("{dst}.weight"), &format!("{src}/gamma"))?;
        self.whole(&format!("{dst}.bias"), &format!("{src}/beta"))
    }

    /// A fused projection (Q|K|V or K|V) split by rows into `dsts`; Whisper's keys have no bias.
    fn fused(&mut self, src: &str, dst_prefix: &str, dsts: &[&str]) -> Result<(), SpeechError> {
        let parts = dsts.len() as u64;
        for (i, dst) in dsts.iter().enumerate() {
            let i = i as u64;
            self.tensor(
                format!("{dst_prefix}.{dst}.weight"),
                &format!("{src}/weight"),
                i,
                parts,
            )?;
            if *dst != "key" {
                self.tensor(
                    format!("{dst_prefix}.{dst}.bias"),
                    &format!("{src}/bias"),
                    i,
                    parts,
                )?;
            }
        }
        Ok(())
    }

    /// Self-attention, its layer norm and the MLP: shared by encoder and decoder blocks.
    fn block_common(&mut self, s: &str, d: &str) -> Result<(), SpeechError> {
        self.fused(
            &format!("{s}/self_attention/linear_0"),
            &format!("{d}.attn"),
            &["query", "key", "value"],
        )?;
        self.linear(
            &format!("{s}/self_attention/linear_1"),
            &format!("{d}.attn.out"),
        )?;
        self.norm(
            &format!("{s}/self_attention/layer_norm"),
            &format!("{d}.attn_ln"),
        )?;
        self.linear(&format!("{s}/ffn/linear_0"), &format!("{d}.mlp.0"))?;
        self.linear(&format!("{s}/ffn/linear_1"), &format!("{d}.mlp.2"))?;
        self.norm(&format!("{s}/ffn/layer_norm"), &format!("{d}.mlp_ln"))
    }
}

/// Builds the list of ggml tensors whisper.cpp expects (it refuses a file missing any of them).
fn tensor_plan(
    hp: &HParams,
    vars: &HashMap<String, Variable>,
) -> Result<Vec<PlannedTensor>, SpeechError> {
    let mut p = Planner {
        vars,
        plan: Vec::new(),
    };
    p.whole(
        "encoder.positional_embedding",
        "encoder/position_encodings/encodings",
    )?;
    p.linear("encoder/conv1", "encoder.conv1")?;
    p.linear("encoder/conv2", "encoder.conv2")?;
    for l in 0..hp.n_audio_layer {
        p.block_common(
            &format!("encoder/layer_{l}"),
            &format!("encoder.blocks.{l}"),
        )?;
    }
    p.norm("encoder/layer_norm", "encoder.ln_post")?;

    p.whole(
        "decoder.positional_embedding",
        "decoder/position_encodings/encodings",
    )?;
    p.whole(
        "decoder.token_embedding.weight",
        "decoder/embeddings/weight",
    )?;
    for l in 0..hp.n_text_layer {
        let (s, d) = (format!("decoder/layer_{l}"), format!("decoder.blocks.{l}"));
        p.block_common(&s, &d)?;
        p.linear(
            &format!("{s}/attention/linear_0"),
            &format!("{d}.cross_attn.query"),
        )?;
        p.fused(
            &format!("{s}/attention/linear_1"),
            &format!("{d}.cross_attn"),
            &["key", "value"],
        )?;
        p.linear(
            &format!("{s}/attention/linear_2"),
            &format!("{d}.cross_attn.out"),
        )?;
        p.norm(
            &format!("{s}/attention/layer_norm"),
            &format!("{d}.cross_attn_ln"),
        )?;
    }
    p.norm("decoder/layer_norm", "decoder.ln")?;
    Ok(p.plan)
}

fn write_i32<W: Write>(w: &mut W, v: i32) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn write_u32<W: Write>(w: &mut W, v: u32) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

/// Writes one tensor header and its data, converting element types chunk by chunk.
fn write_tensor<W: Write, R: Read + Seek>(
    w: &mut W,
    r: &mut R,
    t: &PlannedTensor,
    progress: &mut dyn FnMut(u64),
) -> Result<(), SpeechError> {
    write_i32(w, t.shape.len() as i32)?;
    write_i32(w, t.name.len() as i32)?;
    write_i32(w, t.out as i32)?;
    for d in t.shape.iter().rev() {
        write_i32(w, *d as i32)?;
    }
    w.write_all(t.name.as_bytes())?;

    let src = &t.source;
    let row_elems: u64 = src.dims.iter().skip(1).product();
    let es = src.dtype.size();
    r.seek(SeekFrom::Start(src.offset + t.rows.0 * row_elems * es))?;
    let mut remaining = t.rows.1 * row_elems;
    let mut inbuf = vec![0u8; CHUNK_ELEMENTS * es as usize];
    let mut outbuf = Vec::with_capacity(CHUNK_ELEMENTS * 4);
    while remaining > 0 {
        let n = remaining.min(CHUNK_ELEMENTS as u64) as usize;
        let chunk = &mut inbuf[..n * es as usize];
        r.read_exact(chunk)
            .map_err(|e| invalid(format!("truncated data for {}: {e}", t.name)))?;
        outbuf.clear();
        convert_elements(chunk, src.dtype, t.out, &mut outbuf);
        w.write_all(&outbuf)?;
        progress(outbuf.len() as u64);
        remaining -= n as u64;
    }
    Ok(())
}

fn convert_elements(input: &[u8], from: DType, to: OutType, out: &mut Vec<u8>) {
    match (from, to) {
        (DType::F16, OutType::F16) | (DType::F32, OutType::F32) => out.extend_from_slice(input),
        (DType::F16, OutType::F32) => {
            for c in input.chunks_exact(2) {
                let v = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        (DType::F32, OutType::F16) => {
            for c in input.chunks_exact(4) {
                let v = f32_to_f16(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        // `tensor_plan` only admits float sources.
        _ => unreachable!("integer tensors are rejected by tensor_plan"),
    }
}

/// GPT-2's byte-level BPE shows every byte as a printable character; this maps the characters
/// back to bytes (the inverse of `bytes_to_unicode`).
fn byte_decoder() -> HashMap<char, u8> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut map = HashMap::with_capacity(256);
    let mut next = 256u32;
    for b in 0u32..256 {
        let c = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        map.insert(char::from_u32(c).expect("valid code point"), b as u8);
    }
    map
}

/// The token byte strings for ids below `<|endoftext|>`, as whisper.cpp's vocabulary block
/// holds them (special tokens are synthesised by whisper.cpp itself).
fn read_vocabulary(tokenizer_json: &Path) -> Result<Vec<Vec<u8>>, SpeechError> {
    let text = std::fs::read_to_string(tokenizer_json)
        .map_err(|e| SpeechError::ModelMissing(format!("{}: {e}", tokenizer_json.display())))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("tokenizer.json: {e}")))?;
    let vocab = json["model"]["vocab"]
        .as_object()
        .ok_or_else(|| invalid("tokenizer.json has no model.vocab"))?;
    let eot = vocab
        .get("<|endoftext|>")
        .and_then(|v| v.as_u64())
        .or_else(|| {
            json["added_tokens"]
                .as_array()?
                .iter()
                .find_map(|t| (t["content"] == "<|endoftext|>").then(|| t["id"].as_u64())?)
        })
        .ok_or_else(|| invalid("tokenizer.json lacks <|endoftext|>"))? as usize;
    let decoder = byte_decoder();
    let mut tokens: Vec<Option<Vec<u8>>> = vec![None; eot];
    for (token, id) in vocab {
        let Some(id) = id.as_u64().map(|i| i as usize) else {
            continue;
        };
        if id >= eot {
            continue;
        }
        let bytes = token
            .chars()
            .map(|c| decoder.get(&c).copied())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| invalid(format!("token {token:?} is not byte-level BPE")))?;
        tokens[id] = Some(bytes);
    }
    tokens
        .into_iter()
        .enumerate()
        .map(|(id, t)| t.ok_or_else(|| invalid(format!("tokenizer.json lacks token id {id}"))))
        .collect()
}
#[cfg(test)]
mod tests;
