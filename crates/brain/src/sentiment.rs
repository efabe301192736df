//! Per-turn sentiment of what the caller said, so the agent (and post-call analytics) can tell a
//! pleased caller from one who is losing patience, and hand an angry caller to a person early.
//!
//! The core is a VADER-style lexicon scorer written for customer calls: each known word or
//! phrase has a valence from -4 to +4; negation ("not happy") flips and damps it, intensifiers
//! ("really", "so") and dampeners ("kind of") scale it, words after "but" count more, and the
//! sum is squashed into -1..1. It is instant and explainable. [`SentimentAnalyzer`] can blend
//! in embedding similarity to a few anchor sentences, which catches negative turns that use no
//! lexicon word ("I've been on hold for forty minutes").

use std::sync::Arc;

use crate::embedding::{cosine, Embedder};
use crate::error::BrainError;
use crate::normalize::tokens;

/// Polarity of a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentimentLabel {
    Positive,
    Neutral,
    Negative,
}

impl SentimentLabel {
    /// The label as stored and printed: "positive", "neutral" or "negative".
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Positive => "positive",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Negative => "negative",
        }
    }
}

/// Sentiment of one turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// -1.0 (very negative) to 1.0 (very positive).
    pub score: f32,
}

impl Sentiment {
    fn from_score(score: f32) -> Sentiment {
        let score = score.clamp(-1.0, 1.0);
        let label = if score >= LABEL_THRESHOLD {
            SentimentLabel::Positive
        } else if score <= -LABEL_THRESHOLD {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        };
        Sentiment { label, score }
    }
}

/// |score| from which a turn is positive or negative. Higher than VADER's 0.05 because one
/// mild word ("fine") should not colour a business question.
const LABEL_THRESHOLD: f32 = 0.15;
/// A single turn at or below this counts as frustration on its own.
const STRONGLY_NEGATIVE: f32 = -0.6;
/// VADER's normalisation constant: sum / sqrt(sum² + ALPHA).
const ALPHA: f32 = 15.0;
/// Negation flips a valence and damps it (VADER's N_SCALAR).
const NEGATION_SCALE: f32 = -0.74;
/// What an intensifier adds to (or a dampener removes from) the magnitude of the next valence.
const BOOST: f32 = 0.293;
/// How many words before a sentiment word may negate or intensify it.
const REACH: usize = 3;

/// Valence of words and phrases (space-separated; `a|b` inside a phrase means either word).
/// Tokens are as `normalize::tokens` produces them: lowercase, "don't" → "do not", numbers as
/// digits. Phrases are matched before single words, longest first.
const LEXICON: &[(&str, f32)] = &[
    // Positive.
    ("great", 3.1),
    ("excellent", 3.2),
    ("perfect", 2.9),
    ("wonderful", 3.0),
    ("awesome", 3.1),
    ("fantastic", 3.1),
    ("amazing", 2.8),
    ("brilliant", 2.8),
    ("superb", 3.1),
    ("terrific", 3.0),
    ("outstanding", 3.0),
    ("fabulous", 3.0),
    ("lovely", 2.8),
    ("good", 1.9),
    ("nice", 1.8),
    ("fine", 0.8),
    ("cool", 1.3),
    ("happy", 2.7),
    ("glad", 2.0),
    ("pleased", 2.2),
    ("delighted", 2.9),
    ("satisfied", 1.8),
    ("love", 3.2),
    ("enjoy", 2.2),
    ("pleasure", 2.5),
    ("thanks", 1.6),
    ("thank", 1.5),
    ("appreciate", 2.3),
    ("grateful", 2.5),
    ("helpful", 2.0),
    ("helped", 1.5),
    ("easy", 1.6),
    ("quick", 1.0),
    ("smooth", 1.2),
    ("interested", 1.7),
    ("interesting", 1.7),
    ("excited", 2.2),
    ("exciting", 2.2),
    ("impressive", 2.3),
    ("impressed", 2.3),
    ("recommend", 1.5),
    ("best", 3.0),
    ("better", 1.9),
    ("reasonable", 1.3),
    ("affordable", 1.5),
    ("fair", 1.0),
    ("friendly", 2.2),
    ("relieved", 1.8),
    ("resolved", 1.5),
    ("solved", 1.5),
    ("fixed", 1.2),
    ("yay", 2.4),
    ("sounds good", 1.8),
    ("that helps", 1.5),
    ("makes sense", 1.2),
    ("no problem", 1.2),
    ("well done", 2.5),
    ("works great", 2.5),
    // Polite refusals are not negative in themselves.
    ("no thank|thanks", 0.0),
    ("no worries", 1.2),
    // Negative: general.
    ("bad", -2.5),
    ("terrible", -3.1),
    ("horrible", -3.1),
    ("awful", -3.1),
    ("worst", -3.1),
    ("worse", -2.1),
    ("poor", -2.1),
    ("useless", -2.5),
    ("rubbish", -2.3),
    ("garbage", -2.6),
    ("crap", -2.5),
    ("sucks", -2.5),
    ("suck", -2.3),
    ("hate", -2.9),
    ("stupid", -2.4),
    ("pathetic", -2.8),
    ("disgusting", -3.0),
    ("nightmare", -2.9),
    ("mess", -2.0),
    ("hopeless", -2.6),
    ("damn", -1.7),
    ("hell", -2.0),
    ("shit", -2.6),
    ("unhappy", -2.4),
    ("sad", -2.1),
    ("worried", -1.8),
    ("concerned", -1.2),
    ("scared", -2.0),
    ("afraid", -1.6),
    ("difficult", -1.3),
    ("complicated", -1.3),
    ("confusing", -1.5),
    ("confused", -1.5),
    ("wrong", -2.1),
    ("problem", -1.5),
    ("problems", -1.5),
    ("issue", -1.2),
    ("issues", -1.2),
    ("error", -1.5),
    ("broken", -1.9),
    ("fail", -2.0),
    ("failed", -2.0),
    ("failing", -2.0),
    ("slow", -1.3),
    ("late", -1.0),
    ("delay", -1.2),
    ("delayed", -1.2),
    ("expensive", -1.0),
    ("overpriced", -2.0),
    // Negative: the frustration of a customer on the phone.
    ("ridiculous", -2.5),
    ("unacceptable", -2.9),
    ("annoying", -2.2),
    ("annoyed", -2.2),
    ("angry", -2.7),
    ("furious", -3.2),
    ("mad", -2.2),
    ("upset", -2.2),
    ("frustrated", -2.5),
    ("frustrating", -2.5),
    ("frustration", -2.4),
    ("disappointed", -2.3),
    ("disappointing", -2.3),
    ("incompetent", -2.8),
    ("rude", -2.3),
    ("unbelievable", -1.5),
    ("scam", -3.0),
    ("fraud", -3.0),
    ("ripoff", -2.8),
    ("rip off", -2.8),
    ("ripped off", -2.8),
    ("overcharged", -2.3),
    ("lied", -2.5),
    ("lying", -2.5),
    ("cheated", -2.8),
    ("ignored", -2.0),
    ("complaint", -2.0),
    ("complain", -2.0),
    ("cancel", -1.6),
    ("cancelled", -1.5),
    ("canceled", -1.5),
    ("cancelling", -1.6),
    ("canceling", -1.6),
    ("cancellation", -1.3),
    ("refund", -1.0),
    ("waste", -2.0),
    ("waste of time", -2.6),
    ("waste of money", -2.6),
    ("sick of", -2.5),
    ("tired of", -2.0),
    ("fed up", -2.5),
    ("had enough", -2.2),
    ("not work|working", -2.0),
    ("still waiting", -1.8),
    ("been waiting", -1.5),
    ("on hold", -1.2),
    ("hung up", -1.5),
    ("third time", -1.5),
    ("again and again", -1.2),
    ("leave me alone", -2.4),
    ("stop calling", -1.8),
    ("speak|talk to a|your|the manager|supervisor", -1.6),
    ("get me a|your manager", -1.6),
    ("are you kidding", -1.8),
    ("kidding me", -1.8),
    ("what the hell", -2.5),
    ("a joke", -2.0),
    ("sue", -2.5),
    ("lawyer", -1.5),
    ("report you", -2.0),
];

/// Words that negate the sentiment word following within [`REACH`] words.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without", "hardly",
];

/// Words that strengthen (+) or weaken (-) the sentiment word following them.
const BOOSTERS: &[(&str, f32)] = &[
    ("very", BOOST),
    ("really", BOOST),
    ("so", BOOST),
    ("extremely", BOOST),
    ("totally", BOOST),
    ("absolutely", BOOST),
    ("incredibly", BOOST),
    ("completely", BOOST),
    ("super", BOOST),
    ("too", BOOST),
    ("such", BOOST),
    ("utterly", BOOST),
    ("truly", BOOST),
    ("freaking", BOOST),
    ("fucking", BOOST),
    ("bloody", BOOST),
    ("seriously", BOOST),
    ("slightly", -BOOST),
    ("somewhat", -BOOST),
    ("barely", -BOOST),
    ("little", -BOOST),
    ("bit", -BOOST),
    ("kinda", -BOOST),
    ("sorta", -BOOST),
];

/// Scores one turn with the lexicon alone.
pub fn sentiment(text: &str) -> Sentiment {
    Sentiment::from_score(lexicon_score(text))
}

/// Whether the caller is frustrated now, judging by the latest turns of `history` (oldest
/// first): the last two turns were both negative, or the last one alone was strongly negative.
pub fn is_frustrated(history: &[Sentiment]) -> bool {
    match history {
        [.., a, b]
            if a.label == SentimentLabel::Negative && b.label == SentimentLabel::Negative =>
        {
            true
        }
        [.., last] => last.score <= STRONGLY_NEGATIVE,
        [] => false,
    }
}

/// The lexicon score of `text` in -1..1 (0.0 when no known word occurs).
fn lexicon_score(text: &str) -> f32 {
    let lexicon = compiled_lexicon();
    // Clauses are scored apart so that negation does not leak across punctuation
    // ("no, that's great").
    let clauses: Vec<Vec<String>> = text
        .split([',', '.', ';', '!', '?'])
        .map(tokens)
        .filter(|t| !t.is_empty())
        .collect();
    let but_at = clauses
        .iter()
        .enumerate()
        .flat_map(|(c, toks)| toks.iter().enumerate().map(move |(i, t)| (c, i, t)))
        .find(|(_, _, t)| *t == "but")
        .map(|(c, i, _)| (c, i));
    let mut sum = 0.0f32;
    for (c, toks) in clauses.iter().enumerate() {
        // Lexicon entries, left to right, longest first; a word inside a matched phrase
        // ("no problem", "no thanks") is not also a negation of what follows.
        let mut matches = Vec::new();
        let mut in_phrase = vec![false; toks.len()];
        let mut i = 0;
        while i < toks.len() {
            match lexicon.match_at(&toks[i..]) {
                Some((len, valence)) => {
                    matches.push((i, valence));
                    in_phrase[i..i + len].iter_mut().for_each(|f| *f = true);
                    i += len;
                }
                None => i += 1,
            }
        }
        for (i, valence) in matches {
            let mut v = valence;
            let start = i.saturating_sub(REACH);
            let before = (start..i)
                .filter(|&j| !in_phrase[j])
                .map(|j| (i - j, &toks[j]));
            let mut negated = false;
            for (distance, word) in before {
                let boost = BOOSTERS.iter().find(|(w, _)| w == word);
                if let (Some((_, b)), true) = (boost, v != 0.0) {
                    // Away from zero; farther boosters count less (VADER: 1.0, 0.95, 0.9).
                    v += b * v.signum() * (1.05 - 0.05 * distance as f32);
                }
                negated |= NEGATIONS.contains(&word.as_str());
            }
            if negated {
                v *= NEGATION_SCALE;
            }
            if let Some(but) = but_at {
                v *= if (c, i) < but { 0.5 } else { 1.5 };
            }
            sum += v;
        }
    }
    let bangs = text.matches('!').count().min(4) as f32 * 0.292;
    if sum > 0.0 {
        sum += bangs;
    } else if sum < 0.0 {
        sum -= bangs;
    }
    sum / (sum * sum + ALPHA).sqrt()
}

/// The lexicon as token patterns, longest first.
struct CompiledLexicon(Vec<(Vec<Vec<String>>, f32)>);

impl CompiledLexicon {
    /// Length and valence of the longest entry matching at the start of `toks`.
    fn match_at(&self, toks: &[String]) -> Option<(usize, f32)> {
        self.0.iter().find_map(|(pattern, v)| {
            let fits = pattern.len() <= toks.len()
                && pattern.iter().zip(toks).all(|(alts, t)| alts.contains(t));
            fits.then_some((pattern.len(), *v))
        })
    }
}

fn compiled_lexicon() -> &'static CompiledLexicon {
    static LEX: std::sync::OnceLock<CompiledLexicon> = std::sync::OnceLock::new();
    LEX.get_or_init(|| {
        let mut entries: Vec<(Vec<Vec<String>>, f32)> = LEXICON
            .iter()
            .map(|(phrase, v)| {
                let pattern = phrase
                    .split(' ')
                    .map(|alts| alts.split('|').map(str::to_owned).collect())
                    .collect();
                (pattern, *v)
            })
            .collect();
        entries.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        CompiledLexicon(entries)
    })
}

/// Anchor sentences for the embedding half of [`SentimentAnalyzer`].
const POSITIVE_ANCHORS: &[&str] = &[
    "thank you so much, that's really helpful",
    "great, that's exactly what I needed",
    "I'm very happy with your service",
    "perfect, that sounds good to me",
];
const NEGATIVE_ANCHORS: &[&str] = &[
    "this is ridiculous, I'm really frustrated",
    "you are wasting my time and not helping at all",
    "I've been waiting forever and nobody fixes my problem",
    "I'm angry, I want to cancel and speak to a manager",
];
const NEUTRAL_ANCHORS: &[&str] = &[
    "I'd like to know the price of the plan",
    "what are your opening hours",
    "my account number is five five two one",
    "can you tell me more about that",
];

/// Weight of the anchor similarity when the lexicon finds nothing (less as it finds more).
const EMBEDDING_WEIGHT: f32 = 0.4;
/// Converts a similarity margin to a score in -1..1 (margins rarely exceed 0.3).
const MARGIN_GAIN: f32 = 4.0;

/// Sentiment from the lexicon, blended with embedding similarity to anchor sentences when an
/// embedder is given.
#[derive(Clone)]
pub struct SentimentAnalyzer {
    embedder: Option<Arc<dyn Embedder>>,
    /// Positive, negative and neutral anchor vectors.
    anchors: [Vec<Vec<f32>>; 3],
}

impl std::fmt::Debug for SentimentAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentimentAnalyzer")
            .field(
                "embedder",
                &self.embedder.as_ref().map(|e| e.name().to_owned()),
            )
            .finish()
    }
}

impl SentimentAnalyzer {
    /// An analyzer; with an `embedder`, its anchor sentences are embedded now.
    pub fn new(embedder: Option<Arc<dyn Embedder>>) -> Result<SentimentAnalyzer, BrainError> {
        let mut anchors: [Vec<Vec<f32>>; 3] = Default::default();
        if let Some(e) = &embedder {
            for (slot, texts) in
                anchors
                    .iter_mut()
                    .zip([POSITIVE_ANCHORS, NEGATIVE_ANCHORS, NEUTRAL_ANCHORS])
            {
                *slot = e.embed(texts)?;
            }
        }
        Ok(SentimentAnalyzer { embedder, anchors })
    }

    /// The sentiment of one caller turn. An embedding failure falls back to the lexicon.
    pub fn analyze(&self, text: &str) -> Sentiment {
        let lexical = lexicon_score(text);
        let Some(embedder) = &self.embedder else {
            return Sentiment::from_score(lexical);
        };
        match embedder.embed(&[text]) {
            Ok(mut v) if !v.is_empty() => {
                let semantic = self.anchor_score(&v.swap_remove(0));
                // The embedding speaks in proportion to the lexicon's silence: it cannot read
                // negation ("not happy" sits near "happy"), but it hears complaints that use
                // no lexicon word.
                Sentiment::from_score(lexical + EMBEDDING_WEIGHT * semantic * (1.0 - lexical.abs()))
            }
            Ok(_) => Sentiment::from_score(lexical),
            Err(e) => {
                tracing::warn!(error = %e, "sentiment embedding failed; lexicon only");
                Sentiment::from_score(lexical)
            }
        }
    }

    /// -1..1: how much closer `v` is to the positive or negative anchors than to the others.
    fn anchor_score(&self, v: &[f32]) -> f32 {
        let best = |anchors: &[Vec<f32>]| {
            anchors
                .iter()
                .map(|a| cosine(v, a))
                .fold(f32::MIN, f32::max)
        };
        let [pos, neg, neu] = [
            best(&self.anchors[0]),
            best(&self.anchors[1]),
            best(&self.anchors[2]),
        ];
        let margin = if pos > neg {
            (pos - neg.max(neu)).max(0.0)
        } else {
            -(neg - pos.max(neu)).max(0.0)
        };
        (margin * MARGIN_GAIN).clamp(-1.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str) -> SentimentLabel {
        sentiment(text).label
    }

    #[test]
    fn lexicon_has_about_150_entries_all_in_range() {
        assert!(LEXICON.len() >= 150, "{}", LEXICON.len());
        assert!(LEXICON.iter().all(|(_, v)| (-4.0..=4.0).contains(v)));
    }

    #[test]
    fn plain_positive_negative_and_neutral_turns() {
        assert_eq!(label("that's great, thank you"), SentimentLabel::Positive);
        assert_eq!(label("this is ridiculous"), SentimentLabel::Negative);
        assert_eq!(
            label("how much is the premium plan"),
            SentimentLabel::Neutral
        );
        assert_eq!(sentiment("").score, 0.0);
    }

    #[test]
    fn negation_flips_and_does_not_cross_punctuation() {
        assert_eq!(label("I'm not happy with this"), SentimentLabel::Negative);
        assert_eq!(label("that's not bad at all"), SentimentLabel::Positive);
        assert_eq!(label("no, that's great"), SentimentLabel::Positive);
        assert_eq!(label("it doesn't work"), SentimentLabel::Negative);
    }

    #[test]
    fn intensifiers_strengthen_and_but_shifts_weight() {
        assert!(sentiment("I'm really frustrated").score < sentiment("I'm frustrated").score);
        assert!(sentiment("it's good but way too expensive").score < sentiment("it's good").score);
        assert!(sentiment("this is bad!!").score < sentiment("this is bad").score);
    }

    #[test]
    fn customer_frustration_phrases_are_negative() {
        for text in [
            "what a waste of time",
            "let me speak to a manager",
            "I want to cancel",
            "I'm fed up with this",
            "I've been on hold for ages",
        ] {
            assert_eq!(label(text), SentimentLabel::Negative, "{text}");
        }
    }

    #[test]
    fn frustration_needs_two_negative_turns_or_one_strong_one() {
        let s = |score: f32| Sentiment::from_score(score);
        assert!(!is_frustrated(&[]));
        assert!(!is_frustrated(&[s(-0.3)]));
        assert!(is_frustrated(&[s(-0.3), s(-0.2)]));
        assert!(!is_frustrated(&[s(-0.3), s(0.0), s(-0.2)]));
        assert!(is_frustrated(&[s(0.5), s(-0.7)]));
        assert!(is_frustrated(&[sentiment(
            "this is absolutely ridiculous, a total waste of time"
        )]));
    }
}
