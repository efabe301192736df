//! Intent recognition by meaning: the caller's words and every example phrase are embedded
//! ([`crate::embedding`]) and compared by cosine similarity, so paraphrases that share no word
//! with any example ("what's it gonna cost me" → price) are still understood.
//!
//! [`IntentRecognizer`] combines this with the lexical [`IntentMatcher`] (see its docs for the
//! rule): embeddings decide when they are sure, the lexical matcher covers what they miss (and
//! everything when no embedding model is installed), and it always spots products.

use std::sync::Arc;

use crate::agent::{AgentConfig, Product};
use crate::builtin_intents::intents_with_builtins;
use crate::embedding::{cosine, normalize_l2, Embedder};
use crate::error::BrainError;
use crate::intent::IntentMatcher;

/// Minimum similarity for a semantic match with the default [`Scoring::NearestExample`].
/// Measured on the held-out set (crates/brain/tests/data/nlu_heldout.tsv, demo agent plus
/// built-ins): accuracy is flat from 0.40 to 0.48 and drops on both sides, so the middle.
pub const DEFAULT_SEMANTIC_THRESHOLD: f32 = 0.45;

/// Words that only fill time. Dropped before embedding: a bare "um" would otherwise land
/// near whichever short example resembles it.
const FILLERS: &[&str] = &[
    "ah", "er", "erm", "hm", "hmm", "mm", "mhm", "uh", "uhm", "um", "umm",
];

/// How an utterance is compared with an intent's examples. Accuracy of each on the held-out
/// set, each at its best threshold: nearest example 0.90, blend 0.90, centroid 0.88.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scoring {
    /// Similarity to the mean of the intent's example vectors: robust to one odd example, but
    /// scores sit lower (best threshold about 0.42) and a wide intent, with many different
    /// phrasings, blurs into a vague average.
    Centroid,
    /// Similarity to the single closest example: sharp, keeps working as examples are added.
    #[default]
    NearestExample,
    /// The mean of both.
    Blend,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    examples: Vec<Vec<f32>>,
    centroid: Vec<f32>,
}

/// Intents recognised by embedding similarity. Build once per agent: every example is embedded
/// at construction; classifying then costs one embedding of the utterance.
#[derive(Clone)]
pub struct SemanticIntents {
    embedder: Arc<dyn Embedder>,
    entries: Vec<Entry>,
    threshold: f32,
    scoring: Scoring,
}

impl std::fmt::Debug for SemanticIntents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemanticIntents")
            .field("embedder", &self.embedder.name())
            .field("intents", &self.entries.len())
            .field("threshold", &self.threshold)
            .field("scoring", &self.scoring)
            .finish()
    }
}

impl SemanticIntents {
    /// Embeds the examples of each `(intent name, examples)` pair.
    pub fn new(
        intents: &[(String, Vec<String>)],
        embedder: Arc<dyn Embedder>,
    ) -> Result<SemanticIntents, BrainError> {
        let texts: Vec<String> = intents
            .iter()
            .flat_map(|(_, ex)| ex.iter().map(|e| strip_fillers(e)))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut vectors = embedder.embed(&refs)?.into_iter();
        let mut entries = Vec::with_capacity(intents.len());
        for (name, examples) in intents {
            let examples: Vec<Vec<f32>> = vectors.by_ref().take(examples.len()).collect();
            let mut centroid = vec![0.0; embedder.dim()];
            for v in &examples {
                centroid.iter_mut().zip(v).for_each(|(c, x)| *c += x);
            }
            normalize_l2(&mut centroid);
            entries.push(Entry {
                name: name.clone(),
                examples,
                centroid,
            });
        }
        Ok(SemanticIntents {
            embedder,
            entries,
            threshold: DEFAULT_SEMANTIC_THRESHOLD,
            scoring: Scoring::default(),
        })
    }

    /// Changes the minimum similarity for a match (default [`DEFAULT_SEMANTIC_THRESHOLD`]).
    pub fn with_threshold(mut self, threshold: f32) -> SemanticIntents {
        self.threshold = threshold;
        self
    }

    /// Changes how utterances are compared with examples (default [`Scoring::NearestExample`]).
    pub fn with_scoring(mut self, scoring: Scoring) -> SemanticIntents {
        self.scoring = scoring;
        self
    }

    /// The minimum similarity for a match.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The best intent for `text` and its similarity, if that reaches the threshold. An
    /// embedding failure is logged and reported as no match.
    pub fn classify(&self, text: &str) -> Option<(String, f32)> {
        match self.rank(text) {
            Ok(ranked) => ranked
                .into_iter()
                .next()
                .filter(|(_, score)| *score >= self.threshold),
            Err(e) => {
                tracing::warn!(error = %e, "semantic intent recognition failed");
                None
            }
        }
    }

    /// Every intent with its similarity to `text`, best first (empty for filler-only speech).
    pub fn rank(&self, text: &str) -> Result<Vec<(String, f32)>, BrainError> {
        let text = strip_fillers(text);
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let v = self
            .embedder
            .embed(&[&text])?
            .pop()
            .ok_or_else(|| BrainError::Embedding("the embedder returned no vector".into()))?;
        let mut ranked: Vec<(String, f32)> = self
            .entries
            .iter()
            .map(|e| (e.name.clone(), self.score(e, &v)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(ranked)
    }

    fn score(&self, entry: &Entry, v: &[f32]) -> f32 {
        let centroid = || cosine(v, &entry.centroid);
        let nearest = || {
            entry
                .examples
                .iter()
                .map(|e| cosine(v, e))
                .fold(f32::MIN, f32::max)
        };
        match self.scoring {
            Scoring::Centroid => centroid(),
            Scoring::NearestExample => nearest(),
            Scoring::Blend => 0.5 * (centroid() + nearest()),
        }
    }
}

/// `text` without filler words, lowercased, words separated by single spaces.
fn strip_fillers(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| {
            let bare = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            !bare.is_empty() && !FILLERS.contains(&bare.as_str())
        })
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Which recogniser produced an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Embedding similarity.
    Semantic,
    /// The lexical, fuzzy [`IntentMatcher`].
    Lexical,
}

/// What [`IntentRecognizer::recognize`] understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// The recognised intent, if any.
    pub intent: Option<String>,
    /// Confidence of that intent on the scale of the method that chose it; without an intent,
    /// the best score seen (for logs).
    pub confidence: f32,
    /// Who decided; `None` without an intent.
    pub method: Option<Method>,
    /// The first product mentioned, as an index into the products given at construction.
    pub product: Option<usize>,
}

/// Embedding similarity below this is not trusted even when the lexical matcher agrees.
const AGREEMENT_FLOOR: f32 = 0.3;

/// The combined intent recogniser.
///
/// The rule, in order (thresholds measured on the held-out set, see `tests/nlu_accuracy.rs`):
/// 1. The semantic match, when its similarity reaches the semantic threshold: embeddings
///    understand paraphrases and reject unrelated speech better than word overlap.
/// 2. Otherwise the lexical match, when it reaches its own threshold *and* the embeddings are
///    unavailable, or rank the same intent first with at least [`AGREEMENT_FLOOR`]: the lexical
///    matcher shines on heavily misheard words ("enterprize") that blur an embedding, but on its
///    own it lets a shared word drag unrelated speech into an intent.
/// 3. Otherwise nothing.
///
/// Products are always spotted lexically (names and aliases are exact vocabulary).
#[derive(Debug, Clone)]
pub struct IntentRecognizer {
    lexical: IntentMatcher,
    semantic: Option<SemanticIntents>,
}

impl IntentRecognizer {
    /// A recogniser for `(intent name, examples)` pairs and `products`; semantic when an
    /// `embedder` is given (its failure to embed the examples is an error).
    pub fn new(
        intents: &[(String, Vec<String>)],
        products: &[Product],
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<IntentRecognizer, BrainError> {
        let lexical = IntentMatcher::new(
            intents.iter().map(|(n, ex)| (n.as_str(), ex.as_slice())),
            products,
        );
        let semantic = embedder
            .map(|e| SemanticIntents::new(intents, e))
            .transpose()?;
        Ok(IntentRecognizer { lexical, semantic })
    }

    /// A recogniser for an agent's intents plus the built-in ones it does not redefine
    /// ([`crate::builtin_intents`]).
    pub fn for_agent(
        agent: &AgentConfig,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<IntentRecognizer, BrainError> {
        IntentRecognizer::new(&intents_with_builtins(agent), &agent.products, embedder)
    }

    /// Whether embeddings are in use.
    pub fn is_semantic(&self) -> bool {
        self.semantic.is_some()
    }

    /// The lexical matcher (also used alone when no embedder is given).
    pub fn lexical(&self) -> &IntentMatcher {
        &self.lexical
    }

    /// The semantic recogniser, when an embedder was given.
    pub fn semantic(&self) -> Option<&SemanticIntents> {
        self.semantic.as_ref()
    }

    /// Recognises the intent and product in `text` (see the type's docs for the rule).
    pub fn recognize(&self, text: &str) -> Recognition {
        let lexical = self.lexical.classify(text);
        let product = lexical.product;
        let ranked = self.semantic.as_ref().map(|s| (s, s.rank(text)));
        let top = match ranked {
            None => None,
            Some((s, Ok(r))) => Some((s.threshold(), r.into_iter().next())),
            Some((_, Err(e))) => {
                // A failing model degrades to the lexical matcher rather than to silence.
                tracing::warn!(error = %e, "semantic intent recognition failed; lexical only");
                None
            }
        };
        let found = |intent: String, confidence: f32, method: Method| Recognition {
            intent: Some(intent),
            confidence,
            method: Some(method),
            product,
        };
        if let Some((threshold, Some((name, score)))) = &top {
            if score >= threshold {
                return found(name.clone(), *score, Method::Semantic);
            }
        }
        if let Some(m) = lexical.intent {
            let agrees = match &top {
                None => true,
                Some((_, Some((name, score)))) => *name == m.intent && *score >= AGREEMENT_FLOOR,
                Some((_, None)) => false,
            };
            if agrees {
                return found(m.intent, m.confidence, Method::Lexical);
            }
        }
        let best_semantic = top.and_then(|(_, t)| t).map_or(0.0, |(_, s)| s);
        Recognition {
            intent: None,
            confidence: best_semantic.max(lexical.top_score),
            method: None,
            product,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fillers_are_dropped_before_embedding() {
        assert_eq!(
            strip_fillers("Um, how much is, uh, Premium?"),
            "how much is, premium?"
        );
        assert_eq!(strip_fillers("uh... umm"), "");
    }

    #[test]
    fn without_an_embedder_the_lexical_matcher_decides() {
        let intents = vec![(
            "price".to_string(),
            vec![
                "how much is it".to_string(),
                "what does it cost".to_string(),
            ],
        )];
        let r = IntentRecognizer::new(&intents, &[], None).unwrap();
        assert!(!r.is_semantic());
        let got = r.recognize("how much does it cost");
        assert_eq!(got.intent.as_deref(), Some("price"));
        assert_eq!(got.method, Some(Method::Lexical));
        assert_eq!(r.recognize("the weather is lovely").intent, None);
    }
}
