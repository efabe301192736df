//! Whether a transcript reads like a finished caller turn ("How much is the premium plan?") or
//! like the caller pausing mid-sentence ("I would like to", "my number is four one five").
//!
//! A silence timer alone cannot tell a 700 ms hesitation from the end of a question, so it
//! either cuts hesitating callers off or makes every answer wait. With preemptive turns
//! ([`crate::TurnConfig::preemptive_silence`]) the engine ends the utterance after a short
//! silence, starts the answer at once, and asks a [`TurnCompletion`] about the transcript: a
//! complete one is answered as soon as the reply is ready, an incomplete one only once the
//! caller has been silent for the full `end_of_turn_silence` (and is dropped if they go on).
//!
//! The built-in [`LexicalCompletion`] looks at how the transcript ends. Its mistakes are
//! asymmetric on purpose: calling a finished sentence incomplete only costs that turn the
//! long wait, while calling an unfinished one complete lets the agent talk over the caller, so
//! anything that commonly continues counts as incomplete. A deployment with a better judge
//! (a language model's end-of-utterance probability) injects it with
//! [`crate::Conversation::with_turn_completion`].

/// The judgement on a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Reads like a finished turn: answer as soon as the reply is ready.
    Complete,
    /// The caller is probably in the middle of something: wait for the long silence.
    Incomplete,
}

/// Judges whether the caller's words so far make a finished turn.
pub trait TurnCompletion: Send {
    /// `transcript` is everything the caller said since the agent last answered, as the STT
    /// gave it (punctuation and case vary by engine).
    fn judge(&mut self, transcript: &str) -> Completion;
}

/// The built-in English judge: a turn is incomplete when its last word is one that rarely ends
/// an utterance (an article, preposition, conjunction, auxiliary, subject pronoun, possessive
/// or filler), when it ends in a phrase callers use to hold the floor ("let me think"), or when
/// it ends in a run of spoken digits shorter than a phone number.
#[derive(Debug, Clone, Copy, Default)]
pub struct LexicalCompletion;

/// Words that almost never end a finished utterance.
const TRAILING_INCOMPLETE: &[&str] = &[
    // articles and determiners
    "a",
    "an",
    "the",
    "this",
    "these",
    "those",
    "some",
    "any",
    "every",
    "each",
    "another",
    // possessives
    "my",
    "your",
    "our",
    "their",
    "his",
    "her",
    "its",
    // subject pronouns and their contractions
    "i",
    "we",
    "they",
    "he",
    "she",
    "i'm",
    "we're",
    "they're",
    "you're",
    "he's",
    "she's",
    "it's",
    "that's",
    "there's",
    "i've",
    "we've",
    "i'd",
    "we'd",
    "i'll",
    "we'll",
    // auxiliaries, modals and the copula
    "is",
    "are",
    "was",
    "were",
    "am",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "will",
    "would",
    "can",
    "could",
    "should",
    "shall",
    "may",
    "might",
    "must",
    "gonna",
    "wanna",
    // prepositions
    "to",
    "of",
    "for",
    "with",
    "in",
    "on",
    "at",
    "from",
    "by",
    "about",
    "into",
    "onto",
    "than",
    "as",
    "like",
    "between",
    "through",
    "after",
    "before",
    "until",
    "since",
    "without",
    "during",
    "against",
    "via",
    "per",
    // conjunctions and clause openers
    "and",
    "or",
    "but",
    "so",
    "because",
    "cause",
    "if",
    "when",
    "while",
    "although",
    "though",
    "unless",
    "whether",
    "that",
    "which",
    "who",
    "whom",
    "whose",
    "where",
    "what",
    "how",
    "why",
    "then",
    "also",
    "plus",
    // fillers
    "um",
    "uh",
    "er",
    "erm",
    "uhm",
    "hmm",
    "mm",
    "ah",
    "well",
    "basically",
    "actually",
    "just",
    "really",
    "very",
];

/// Phrases callers use to keep the floor while they think.
const HOLDING_PHRASES: &[&[&str]] = &[
    &["let", "me", "think"],
    &["let", "me", "see"],
    &["let", "me", "check"],
    &["i", "was", "wondering"],
    &["i", "wonder"],
    &["i", "mean"],
    &["you", "know"],
    &["hold", "on"],
    &["one", "second"],
    &["one", "sec"],
    &["just", "a", "second"],
    &["just", "a", "moment"],
    &["wait"],
];

/// Spoken digits (and the "oh" people say for zero).
const DIGITS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// Words that announce a number being read out.
const NUMBER_WORDS: &[&str] = &[
    "number",
    "phone",
    "digits",
    "code",
    "account",
    "zip",
    "pin",
    "extension",
    "card",
    "id",
];

/// Digits in a full phone number: a shorter run at the end is probably still being read.
const PHONE_NUMBER_DIGITS: usize = 10;

/// Lowercased words without punctuation (apostrophes kept: "i'm" is one word).
fn words(transcript: &str) -> Vec<String> {
    transcript
        .split(|c: char| c.is_whitespace() || (c.is_ascii_punctuation() && c != '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Digits a word stands for when read out ("four" → 1, "415" → 3); `None` if not a number.
fn digit_count(word: &str) -> Option<usize> {
    if DIGITS.contains(&word) {
        return Some(1);
    }
    (!word.is_empty() && word.chars().all(|c| c.is_ascii_digit())).then_some(word.len())
}

impl TurnCompletion for LexicalCompletion {
    fn judge(&mut self, transcript: &str) -> Completion {
        let words = words(transcript);
        let Some(last) = words.last() else {
            return Completion::Incomplete;
        };
        if TRAILING_INCOMPLETE.contains(&last.as_str()) {
            return Completion::Incomplete;
        }
        if HOLDING_PHRASES
            .iter()
            .any(|p| words.len() >= p.len() && words[words.len() - p.len()..] == **p)
        {
            return Completion::Incomplete;
        }
        // A run of digits: a caller reading a number pauses between groups, so it is
        // incomplete until it has a phone number's length. A lone number word is an answer
        // ("two"), unless the caller announced a number ("my number is four").
        let run: Vec<usize> = words.iter().rev().map_while(|w| digit_count(w)).collect();
        let digits: usize = run.iter().sum();
        if !run.is_empty() && digits < PHONE_NUMBER_DIGITS {
            let announced = words[..words.len() - run.len()]
                .iter()
                .any(|w| NUMBER_WORDS.contains(&w.as_str()));
            if run.len() >= 2 || digits >= 2 || announced {
                return Completion::Incomplete;
            }
        }
        Completion::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(t: &str) -> Completion {
        LexicalCompletion.judge(t)
    }

    #[test]
    fn finished_questions_and_short_answers_are_complete() {
        for t in [
            "How much is the premium plan?",
            "Do you ship to Canada",
            "yes",
            "No thanks.",
            "okay",
            "I'd like to change my address.",
            "Two.",
            "I have two",
        ] {
            assert_eq!(judge(t), Completion::Complete, "{t}");
        }
    }

    #[test]
    fn trailing_function_words_and_fillers_are_incomplete() {
        for t in [
            "I would like to",
            "So what I need is",
            "My account number is",
            "Um, my name is",
            "It says here that",
            "Well,",
            "I was wondering",
            "Let me think...",
            "and uh",
            "",
        ] {
            assert_eq!(judge(t), Completion::Incomplete, "{t:?}");
        }
    }

    #[test]
    fn a_number_being_read_is_incomplete_until_it_has_phone_length() {
        assert_eq!(judge("my number is four one five"), Completion::Incomplete);
        assert_eq!(judge("415 555"), Completion::Incomplete);
        assert_eq!(
            judge("four one five five five five one two one two"),
            Completion::Complete
        );
        assert_eq!(judge("4155551212"), Completion::Complete);
    }
}
