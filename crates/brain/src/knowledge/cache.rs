//! The on-disk embedding cache of the knowledge base: a restart re-embeds only passages whose
//! text (or model) changed.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::embedding::Embedder;
use crate::error::BrainError;

/// File format: magic, dimension (u32 LE), entry count (u32 LE), then per entry the SHA-256 of
/// (model name, text) and `dim` f32 LE values.
const CACHE_MAGIC: &[u8; 8] = b"CPEMBED1";

/// Embeddings by hash of (model name, text), optionally persisted in one file per model.
pub(super) struct EmbeddingCache {
    path: Option<PathBuf>,
    model: String,
    dim: usize,
    entries: HashMap<[u8; 32], Vec<f32>>,
    dirty: bool,
}

impl EmbeddingCache {
    pub(super) fn in_memory(model: &str, dim: usize) -> EmbeddingCache {
        EmbeddingCache {
            path: None,
            model: model.to_owned(),
            dim,
            entries: HashMap::new(),
            dirty: false,
        }
    }

    /// The cache file for `model` in `dir`. An unreadable or mismatched file is ignored (and
    /// rewritten on save): a cache is never worth failing for.
    pub(super) fn open(dir: &Path, model: &str, dim: usize) -> EmbeddingCache {
        let safe: String = model
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{safe}.embcache"));
        let mut cache = EmbeddingCache::in_memory(model, dim);
        match read_cache(&path, dim) {
            Ok(entries) => cache.entries = entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring embedding cache")
            }
        }
        cache.path = Some(path);
        cache
    }

    fn key(&self, text: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.model.as_bytes());
        h.update([0u8]);
        h.update(text.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(&h.finalize());
        key
    }

    /// Vectors for `texts`, embedding only those not cached yet.
    pub(super) fn embed(
        &mut self,
        embedder: &dyn Embedder,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, BrainError> {
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| self.key(t)).collect();
        let mut missing: Vec<&str> = Vec::new();
        let mut missing_keys = Vec::new();
        for (t, k) in texts.iter().zip(&keys) {
            if !self.entries.contains_key(k) && !missing_keys.contains(k) {
                missing.push(t);
                missing_keys.push(*k);
            }
        }
        if !missing.is_empty() {
            let vectors = embedder.embed(&missing)?;
            for (k, v) in missing_keys.into_iter().zip(vectors) {
                self.entries.insert(k, v);
            }
            self.dirty = true;
        }
        tracing::debug!(
            cached = texts.len() - missing.len(),
            embedded = missing.len(),
            "embeddings"
        );
        Ok(keys.iter().map(|k| self.entries[k].clone()).collect())
    }

    /// Writes the cache if anything was added, through a temporary file and a rename so a
    /// reader never sees half a file.
    pub(super) fn save(&mut self) -> Result<(), BrainError> {
        let (Some(path), true) = (&self.path, self.dirty) else {
            return Ok(());
        };
        let file_error = |source| BrainError::File {
            action: "write embedding cache",
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(file_error)?;
        }
        let mut bytes = Vec::with_capacity(16 + self.entries.len() * (32 + 4 * self.dim));
        bytes.extend_from_slice(CACHE_MAGIC);
        bytes.extend_from_slice(&(self.dim as u32).to_le_bytes());
        bytes.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (k, v) in &self.entries {
            bytes.extend_from_slice(k);
            v.iter()
                .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
        }
        let part = path.with_extension(format!("part-{}", std::process::id()));
        fs::File::create(&part)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| fs::rename(&part, path))
            .map_err(|e| {
                let _ = fs::remove_file(&part);
                file_error(e)
            })?;
        self.dirty = false;
        Ok(())
    }
}

fn read_cache(path: &Path, dim: usize) -> std::io::Result<HashMap<[u8; 32], Vec<f32>>> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut bytes = Vec::new();
    fs::File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() < 16 || &bytes[..8] != CACHE_MAGIC {
        return Err(invalid("not an embedding cache"));
    }
    let u32_at = |at: usize| {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
    };
    if u32_at(8) != dim {
        return Err(invalid("written for another embedding size"));
    }
    let count = u32_at(12);
    let entry = 32 + 4 * dim;
    if bytes.len() != 16 + count * entry {
        return Err(invalid("truncated"));
    }
    let mut entries = HashMap::with_capacity(count);
    for e in bytes[16..].chunks_exact(entry) {
        let mut key = [0u8; 32];
        key.copy_from_slice(&e[..32]);
        let v = e[32..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        entries.insert(key, v);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic vectors from the text's bytes, counting what it embeds.
    struct Fake(std::sync::atomic::AtomicUsize);

    impl Embedder for Fake {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BrainError> {
            self.0
                .fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, t.bytes().map(f32::from).sum(), 1.0])
                .collect())
        }
        fn dim(&self) -> usize {
            3
        }
        fn name(&self) -> &str {
            "fake/model"
        }
    }

    #[test]
    fn cache_file_round_trips_and_a_corrupt_one_is_ignored() {
        let dir = std::env::temp_dir().join(format!("brain-kb-cache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let fake = Fake(Default::default());
        let texts = vec!["alpha".to_string(), "beta".to_string(), "alpha".to_string()];
        let mut cache = EmbeddingCache::open(&dir, fake.name(), 3);
        let first = cache.embed(&fake, &texts).unwrap();
        assert_eq!(
            fake.0.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "duplicates embedded once"
        );
        cache.save().unwrap();
        let file = dir.join("fake_model.embcache");
        assert!(file.is_file());

        let mut reopened = EmbeddingCache::open(&dir, fake.name(), 3);
        assert_eq!(reopened.embed(&fake, &texts).unwrap(), first);
        assert_eq!(
            fake.0.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "served from disk"
        );
        // Another model never sees these vectors: the key includes the model name.
        let mut other = EmbeddingCache::open(&dir, "other", 3);
        other.embed(&fake, &texts[..1]).unwrap();
        assert_eq!(fake.0.load(std::sync::atomic::Ordering::Relaxed), 3);

        fs::write(&file, b"garbage").unwrap();
        let mut corrupt = EmbeddingCache::open(&dir, fake.name(), 3);
        assert_eq!(corrupt.embed(&fake, &texts).unwrap(), first);
        corrupt.save().unwrap();
        assert!(read_cache(&file, 3).is_ok(), "rewritten whole");
        assert!(
            read_cache(&file, 4).is_err(),
            "a different dimension is rejected"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
