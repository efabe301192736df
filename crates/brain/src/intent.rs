//! Lexical, fuzzy intent recognition built for ASR transcripts.
//!
//! Each utterance and each example phrase is normalised (see `normalize`), product mentions are
//! replaced by a placeholder (so "how much is premium" teaches the matcher about every product),
//! stop words are dropped, and the remaining tokens are compared with fuzzy equality so that
//! "preemium" or "enterprize" still count. The score of an intent combines
//! - *recall*: how much of one example's meaning the utterance covers (best example wins), and
//! - *precision*: how much of the utterance the intent's vocabulary explains,
//!
//! as their harmonic mean, with token weights that favour words specific to few intents (inverse document frequency
//! over intents). A character-level phrase similarity rescues split or merged words
//! ("good bye"). Below [`DEFAULT_THRESHOLD`] nothing is matched.

use std::collections::{HashMap, HashSet};

use crate::agent::{AgentConfig, Product};
use crate::normalize::{is_stop_word, stem, tokens};

/// Minimum confidence for a match. Tuned on the demo agent's phrasing table
/// (crates/brain/tests/demo_agent.rs): real requests score 0.65 or more, unrelated speech that
/// happens to share a word with an example ("the weather is *nice* today") about 0.5.
pub const DEFAULT_THRESHOLD: f32 = 0.6;

/// Stands in for any product mention. `<` cannot survive normalisation, so no spoken word can
/// collide with it.
const PRODUCT_TOKEN: &str = "<product>";

/// Tokens shorter than this must match exactly: fuzzy equality between short words is noise
/// ("hi" vs "bye").
const FUZZY_MIN_LEN: usize = 4;

/// A recognised intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentMatch {
    /// The intent's name.
    pub intent: String,
    /// 0.0–1.0.
    pub confidence: f32,
}

/// Everything the matcher read from one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// The best intent, if its confidence reaches the threshold.
    pub intent: Option<IntentMatch>,
    /// The best score seen, even below the threshold (for logs).
    pub top_score: f32,
    /// The first product mentioned, as an index into the products the matcher was built with.
    pub product: Option<usize>,
}

/// A preprocessed text: content tokens and their phrase form.
#[derive(Debug, Clone)]
struct Prepared {
    content: Vec<String>,
    phrase: String,
}

#[derive(Debug, Clone)]
struct IntentEntry {
    name: String,
    examples: Vec<Prepared>,
    vocab: Vec<String>,
}

/// Matches utterances to intents and spots product mentions. Build once per agent; matching is
/// allocation-light and takes microseconds for agents of a few dozen examples.
#[derive(Debug, Clone)]
pub struct IntentMatcher {
    intents: Vec<IntentEntry>,
    /// Per product: the token sequences that name it (name first, then aliases).
    products: Vec<Vec<Vec<String>>>,
    weights: HashMap<String, f32>,
    threshold: f32,
}

impl IntentMatcher {
    /// A matcher for `(intent name, example phrases)` pairs, recognising `products`.
    pub fn new<'a>(
        intents: impl IntoIterator<Item = (&'a str, &'a [String])>,
        products: &[Product],
    ) -> IntentMatcher {
        let products: Vec<Vec<Vec<String>>> = products
            .iter()
            .map(|p| {
                std::iter::once(&p.name)
                    .chain(&p.aliases)
                    .map(|n| tokens(n).iter().map(|t| stem(t)).collect::<Vec<_>>())
                    .filter(|seq| !seq.is_empty())
                    .collect()
            })
            .collect();
        let mut matcher = IntentMatcher {
            intents: Vec::new(),
            products,
            weights: HashMap::new(),
            threshold: DEFAULT_THRESHOLD,
        };
        for (name, examples) in intents {
            let examples: Vec<Prepared> = examples.iter().map(|e| matcher.prepare(e).0).collect();
            let mut seen = HashSet::new();
            let vocab = examples
                .iter()
                .flat_map(|e| e.content.iter().cloned())
                .filter(|t| seen.insert(t.clone()))
                .collect();
            matcher.intents.push(IntentEntry {
                name: name.to_owned(),
                examples,
                vocab,
            });
        }
        // Inverse document frequency, where a "document" is an intent's vocabulary.
        let n = matcher.intents.len().max(1) as f32;
        let mut df: HashMap<String, f32> = HashMap::new();
        for entry in &matcher.intents {
            for t in &entry.vocab {
                *df.entry(t.clone()).or_default() += 1.0;
            }
        }
        matcher.weights = df
            .into_iter()
            .map(|(t, d)| (t, 1.0 + (n / d).ln()))
            .collect();
        matcher
    }

    /// A matcher for an agent's intents and products.
    pub fn from_config(agent: &AgentConfig) -> IntentMatcher {
        IntentMatcher::new(
            agent
                .intents
                .iter()
                .map(|i| (i.name.as_str(), i.examples.as_slice())),
            &agent.products,
        )
    }

    /// Changes the minimum confidence for a match (default [`DEFAULT_THRESHOLD`]).
    pub fn with_threshold(mut self, threshold: f32) -> IntentMatcher {
        self.threshold = threshold;
        self
    }

    /// Recognises the intent and product in `utterance`.
    pub fn classify(&self, utterance: &str) -> Classification {
        let (u, product) = self.prepare(utterance);
        let mut best: Option<(usize, f32)> = None;
        if !u.content.is_empty() {
            for (i, entry) in self.intents.iter().enumerate() {
                let score = self.score_intent(entry, &u);
                if best.is_none_or(|(_, b)| score > b) {
                    best = Some((i, score));
                }
            }
        }
        let top_score = best.map_or(0.0, |(_, s)| s);
        let intent = best
            .filter(|&(_, s)| s >= self.threshold)
            .map(|(i, s)| IntentMatch {
                intent: self.intents[i].name.clone(),
                confidence: s,
            });
        Classification {
            intent,
            top_score,
            product,
        }
    }

    /// The first product `utterance` mentions (by name or alias, fuzzily), as an index.
    pub fn detect_product(&self, utterance: &str) -> Option<usize> {
        self.prepare(utterance).1
    }

    /// Normalises `text`, replaces product mentions with [`PRODUCT_TOKEN`] and returns the
    /// result together with the first product mentioned.
    fn prepare(&self, text: &str) -> (Prepared, Option<usize>) {
        let raw = tokens(text);
        // Stop words are listed unstemmed ("does" would stem to "doe").
        let toks: Vec<String> = raw.iter().map(|t| stem(t)).collect();
        let mut first_product = None;
        let mut content = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            if let Some((product, len)) = self.product_at(&toks[i..]) {
                first_product.get_or_insert(product);
                content.push(PRODUCT_TOKEN.to_owned());
                i += len;
                continue;
            }
            if !is_stop_word(&raw[i]) {
                content.push(toks[i].clone());
            }
            i += 1;
        }
        let phrase = content.join(" ");
        (Prepared { content, phrase }, first_product)
    }

    /// The product named at the start of `toks` and how many tokens name it; the longest
    /// name wins so that an alias "premium plus" beats a product "premium".
    fn product_at(&self, toks: &[String]) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for (p, names) in self.products.iter().enumerate() {
            for name in names {
                let fits = name.len() <= toks.len()
                    && name
                        .iter()
                        .zip(toks)
                        .all(|(n, t)| token_similarity(n, t) > 0.0);
                if fits && best.is_none_or(|(_, len)| name.len() > len) {
                    best = Some((p, name.len()));
                }
            }
        }
        best
    }

    fn weight(&self, token: &str) -> f32 {
        // Unknown words weigh like a word shared by every intent: they dilute precision a
        // little without drowning the words that matter.
        self.weights.get(token).copied().unwrap_or(1.0)
    }

    fn score_intent(&self, entry: &IntentEntry, u: &Prepared) -> f32 {
        let precision = {
            let (mut hit, mut all) = (0.0, 0.0);
            for t in &u.content {
                let w = self.weight(t);
                all += w;
                hit += w * best_similarity(t, &entry.vocab);
            }
            if all > 0.0 {
                hit / all
            } else {
                0.0
            }
        };
        let mut best = 0.0f32;
        for ex in &entry.examples {
            let (mut hit, mut all) = (0.0, 0.0);
            for t in &ex.content {
                let w = self.weight(t);
                all += w;
                hit += w * covered(t, &u.content);
            }
            let recall = if all > 0.0 { hit / all } else { 0.0 };
            // Harmonic mean: both must be high. Weighting recall higher was tried and let
            // one shared word ("nice" in "have a nice day") carry unrelated speech over the
            // threshold; chatter around a real request is tolerated through the weights
            // instead, since words unknown to every intent weigh least.
            let f = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            // Squared so that the moderate similarity of unrelated short strings stays well
            // below the threshold, while near-identical phrases keep a high score.
            let phrase = strsim::normalized_levenshtein(&u.phrase, &ex.phrase) as f32;
            best = best.max(f).max(phrase * phrase);
        }
        best
    }
}

/// How well example token `t` is covered by the utterance: by one token, or by two adjacent
/// ones written together ("good bye" covers "goodbye").
fn covered(t: &str, utterance: &[String]) -> f32 {
    let single = best_similarity(t, utterance);
    if single >= 1.0 {
        return single;
    }
    let joined = utterance
        .windows(2)
        .map(|w| token_similarity(t, &format!("{}{}", w[0], w[1])))
        .fold(0.0, f32::max);
    single.max(joined)
}

fn best_similarity(t: &str, candidates: &[String]) -> f32 {
    let mut best = 0.0f32;
    for c in candidates {
        best = best.max(token_similarity(t, c));
        if best >= 1.0 {
            break;
        }
    }
    best
}

/// 1.0 for equal tokens, the similarity for near-equal long tokens (ASR misspellings), else 0.
fn token_similarity(a: &str, b: &str) -> f32 {
    if a == b {
        return 1.0;
    }
    if a.len() < FUZZY_MIN_LEN
        || b.len() < FUZZY_MIN_LEN
        || a == PRODUCT_TOKEN
        || b == PRODUCT_TOKEN
    {
        return 0.0;
    }
    // Levenshtein catches substitutions ("enterprize"); Jaro-Winkler, held to a higher bar
    // because it forgives a lot, catches shared stems ("pricing"/"price").
    let lev = strsim::normalized_levenshtein(a, b) as f32;
    let jw = strsim::jaro_winkler(a, b) as f32;
    if lev >= 0.8 {
        lev
    } else if jw >= 0.9 {
        jw * 0.9
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(name: &str, aliases: &[&str]) -> Product {
        Product {
            name: name.into(),
            price: "one dollar".into(),
            description: String::new(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn matcher() -> IntentMatcher {
        let price = vec![
            "how much is basic".to_string(),
            "what does it cost".to_string(),
        ];
        let bye = vec!["goodbye".to_string(), "bye".to_string()];
        IntentMatcher::new(
            [("price", price.as_slice()), ("bye", bye.as_slice())],
            &[product("Basic", &[]), product("Premium", &["pro plan"])],
        )
    }

    #[test]
    fn fuzzy_tokens_match_only_when_long_and_close() {
        assert!(token_similarity("premium", "preemium") > 0.8);
        assert!(token_similarity("enterprise", "enterprize") > 0.8);
        assert_eq!(token_similarity("hi", "bye"), 0.0);
        assert_eq!(token_similarity("talk", "take"), 0.0);
    }

    #[test]
    fn product_examples_generalise_to_other_products() {
        let c = matcher().classify("how much is the premium");
        assert_eq!(c.intent.unwrap().intent, "price");
        assert_eq!(c.product, Some(1));
    }

    #[test]
    fn product_aliases_and_misspellings_are_detected() {
        let m = matcher();
        assert_eq!(m.detect_product("tell me about the pro plan"), Some(1));
        assert_eq!(m.detect_product("the preemium one"), Some(1));
        assert_eq!(m.detect_product("basic"), Some(0));
        assert_eq!(m.detect_product("nothing here"), None);
    }

    #[test]
    fn split_words_still_match() {
        assert_eq!(matcher().classify("good bye").intent.unwrap().intent, "bye");
    }

    #[test]
    fn unrelated_speech_matches_nothing() {
        let c = matcher().classify("the weather is lovely today");
        assert_eq!(c.intent, None);
        assert!(c.top_score < DEFAULT_THRESHOLD);
        assert_eq!(matcher().classify("um uh").intent, None);
    }
}
