//! A knowledge base the agent answers questions from: Markdown or plain-text documents, cut into
//! passages of about 40–120 words under their heading, embedded once (and cached on disk), then
//! searched by meaning. [`KnowledgeBase::answer_extractive`] turns the best passage into one or
//! two sentences a voice can say; an LLM-backed brain would pass [`KnowledgeBase::retrieve`]'s
//! passages to the model instead.
//!
//! PDF is not read: no pure-Rust PDF text extractor was worth its build time here; convert with
//! `pdftotext` first. The error says so.

mod cache;
mod chunking;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::embedding::{cosine, Embedder};
use crate::error::BrainError;
use cache::EmbeddingCache;
use chunking::{chunk_document, shorten, speakable, split_sentences, word_count};

/// Minimum retrieval score for [`KnowledgeBase::answer_extractive`]. Measured on the test FAQ
/// (crates/brain/tests/data/faq.md): answerable questions scored 0.36–0.56 (one paraphrase far
/// from its heading 0.24), unanswerable or unrelated ones at most 0.30.
pub const DEFAULT_ANSWER_THRESHOLD: f32 = 0.35;
/// How far under the threshold a clear winner may score and still answer.
const NEAR_THRESHOLD: f32 = 0.06;
/// How far a clear winner must stand above the second-best passage.
const CLEAR_MARGIN: f32 = 0.1;
/// Longest spoken answer, in words.
const MAX_ANSWER_WORDS: usize = 40;
/// A second sentence joins the answer only if it is nearly as relevant as the first.
const SECOND_SENTENCE_MARGIN: f32 = 0.15;

/// A passage found for a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The passage as plain text (Markdown markup removed).
    pub text: String,
    /// The file it comes from, as given to [`KnowledgeBase::load`].
    pub source: String,
    /// The heading it sits under, if any.
    pub heading: Option<String>,
    /// Similarity to the question (cosine, higher is closer).
    pub score: f32,
}

#[derive(Debug, Clone)]
struct Chunk {
    text: String,
    source: String,
    heading: Option<String>,
    /// The whole heading path, "Plans and billing > Do you offer refunds?".
    context: String,
    embedding: Vec<f32>,
    /// Each sentence with its embedding (in heading context), for extractive answers.
    sentences: Vec<(String, Vec<f32>)>,
}

/// Searchable passages of a set of documents.
pub struct KnowledgeBase {
    embedder: Arc<dyn Embedder>,
    chunks: Vec<Chunk>,
    threshold: f32,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("embedder", &self.embedder.name())
            .field("passages", &self.chunks.len())
            .field("threshold", &self.threshold)
            .finish()
    }
}

impl KnowledgeBase {
    /// Reads, chunks and embeds `files` (`.md`/`.markdown` as Markdown, anything else as plain
    /// text). With a `cache_dir`, embeddings are stored there keyed by model and text, so a
    /// restart only embeds passages that changed.
    pub fn load(
        files: &[PathBuf],
        embedder: Arc<dyn Embedder>,
        cache_dir: Option<&Path>,
    ) -> Result<KnowledgeBase, BrainError> {
        let mut raw = Vec::new();
        for path in files {
            let is_pdf = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
            if is_pdf {
                return Err(BrainError::Embedding(format!(
                    "{}: PDF knowledge files are not supported; convert it to text first \
                     (e.g. `pdftotext file.pdf file.txt`)",
                    path.display()
                )));
            }
            let text = fs::read_to_string(path).map_err(|source| BrainError::File {
                action: "read knowledge file",
                path: path.clone(),
                source,
            })?;
            let markdown = path.extension().is_some_and(|e| {
                e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("markdown")
            });
            let source = path.display().to_string();
            for (heading_path, body) in chunk_document(&text, markdown) {
                raw.push((source.clone(), heading_path, body));
            }
        }

        // Everything to embed: each passage, then each of its sentences, all with the heading
        // path in front, because "Yes, any time." means nothing without "Can I cancel?".
        let mut texts = Vec::new();
        let mut sentence_lists = Vec::with_capacity(raw.len());
        for (_, heading_path, body) in &raw {
            texts.push(in_context(heading_path, body));
            let sentences = split_sentences(body);
            texts.extend(sentences.iter().map(|s| in_context(heading_path, s)));
            sentence_lists.push(sentences);
        }
        let mut cache = match cache_dir {
            Some(dir) => EmbeddingCache::open(dir, embedder.name(), embedder.dim()),
            None => EmbeddingCache::in_memory(embedder.name(), embedder.dim()),
        };
        let mut vectors = cache.embed(embedder.as_ref(), &texts)?.into_iter();
        cache.save()?;

        let mut chunks = Vec::with_capacity(raw.len());
        for ((source, heading_path, body), sentences) in raw.into_iter().zip(sentence_lists) {
            let embedding = vectors.next().unwrap_or_default();
            let sentences = sentences
                .into_iter()
                .map(|s| (s, vectors.next().unwrap_or_default()))
                .collect();
            chunks.push(Chunk {
                text: body,
                source,
                heading: heading_path.last().cloned(),
                context: heading_path.join(" > "),
                embedding,
                sentences,
            });
        }
        tracing::info!(
            passages = chunks.len(),
            files = files.len(),
            "knowledge base loaded"
        );
        Ok(KnowledgeBase {
            embedder,
            chunks,
            threshold: DEFAULT_ANSWER_THRESHOLD,
        })
    }

    /// Changes the minimum score for an extractive answer (default
    /// [`DEFAULT_ANSWER_THRESHOLD`]).
    pub fn with_threshold(mut self, threshold: f32) -> KnowledgeBase {
        self.threshold = threshold;
        self
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether there are no passages.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Words in all passages together (to decide whether the whole base fits in a prompt).
    pub fn word_count(&self) -> usize {
        self.chunks.iter().map(|c| word_count(&c.text)).sum()
    }

    /// Every passage in document order as plain text, each section introduced by its heading
    /// path on a line of its own (for placing a small knowledge base whole in an LLM prompt).
    pub fn full_text(&self) -> String {
        let mut out = String::new();
        let mut last: Option<(&str, &str)> = None;
        for c in &self.chunks {
            let here = (c.source.as_str(), c.context.as_str());
            if last != Some(here) && !c.context.is_empty() {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&c.context);
                out.push_str(":\n");
            }
            last = Some(here);
            out.push_str(&c.text);
            out.push('\n');
        }
        out
    }

    /// The `k` passages closest to `question`, best first. Passages are compared whole, with
    /// their heading: scoring them by their best sentence was tried and let one shared word
    /// ("appointment") pull in unrelated passages. An embedding failure yields nothing (logged).
    pub fn retrieve(&self, question: &str, k: usize) -> Vec<Passage> {
        let Some(q) = self.embed_question(question) else {
            return Vec::new();
        };
        let mut scored: Vec<(usize, f32)> = self
            .chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (i, cosine(&q, &c.embedding)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
            .into_iter()
            .take(k)
            .map(|(i, score)| {
                let c = &self.chunks[i];
                Passage {
                    text: c.text.clone(),
                    source: c.source.clone(),
                    heading: c.heading.clone(),
                    score,
                }
            })
            .collect()
    }

    /// A short spoken answer to `question` from the best passage, if it scores at least the
    /// threshold: its most relevant sentence (plus a neighbouring one when that is nearly as
    /// relevant and fits), at most about 40 words, without Markdown or symbols a voice would spell out.
    pub fn answer_extractive(&self, question: &str) -> Option<String> {
        let q = self.embed_question(question)?;
        let mut ranked: Vec<(&Chunk, f32)> = self
            .chunks
            .iter()
            .map(|c| (c, cosine(&q, &c.embedding)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let (chunk, score) = *ranked.first()?;
        let runner_up = ranked.get(1).map_or(0.0, |r| r.1);
        // A passage just under the threshold still answers when it stands clearly apart from
        // every other one: "what are your opening hours" scored 0.35 against "Opening hours" and
        // 0.22 against the next passage.
        let clear_winner =
            score >= self.threshold - NEAR_THRESHOLD && score - runner_up >= CLEAR_MARGIN;
        if score < self.threshold && !clear_winner {
            return None;
        }
        let scores: Vec<f32> = chunk.sentences.iter().map(|(_, e)| cosine(&q, e)).collect();
        let (best, best_score) = scores
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let mut answer = speakable(&chunk.sentences[best].0);
        // The more relevant neighbour may join, in document order: FAQ answers often put the
        // direct answer first and the detail the question's words match second.
        let neighbour = [best.checked_sub(1), Some(best + 1)]
            .into_iter()
            .flatten()
            .filter_map(|i| Some((i, *scores.get(i)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, score)) = neighbour {
            let other = speakable(&chunk.sentences[i].0);
            let fits = word_count(&answer) + word_count(&other) <= MAX_ANSWER_WORDS;
            if fits && score >= best_score - SECOND_SENTENCE_MARGIN {
                answer = if i < best {
                    format!("{other} {answer}")
                } else {
                    format!("{answer} {other}")
                };
            }
        }
        Some(shorten(&answer, MAX_ANSWER_WORDS))
    }

    fn embed_question(&self, question: &str) -> Option<Vec<f32>> {
        match self.embedder.embed(&[question]) {
            Ok(mut v) if !v.is_empty() => Some(v.swap_remove(0)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "knowledge base: cannot embed the question");
                None
            }
        }
    }
}

fn in_context(heading_path: &[String], text: &str) -> String {
    if heading_path.is_empty() {
        text.to_owned()
    } else {
        format!("{}: {text}", heading_path.join(" > "))
    }
}
