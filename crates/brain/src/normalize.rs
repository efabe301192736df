//! Text normalisation for matching what a caller said (as transcribed by ASR) against example
//! phrases. Transcripts vary in case, punctuation, contractions and number style ("19" vs
//! "nineteen"); normalising both sides the same way removes those differences before any
//! comparison.

/// Words that carry little meaning for intent recognition. Kept short on purpose: question
/// words ("how", "what") and verbs ("talk", "want") stay, because they tell intents apart.
const STOP_WORDS: &[&str] = &[
    "a", "about", "actually", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but",
    "by", "can", "could", "did", "do", "does", "er", "for", "from", "get", "got", "had", "has",
    "have", "hmm", "i", "if", "in", "is", "it", "just", "kind", "like", "may", "me", "might", "mm",
    "my", "of", "oh", "on", "or", "our", "really", "should", "so", "some", "sort", "that", "the",
    "their", "them", "then", "there", "these", "this", "those", "to", "uh", "uhm", "um", "umm",
    "us", "very", "was", "we", "well", "were", "will", "with", "would", "you", "your",
];

const UNITS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &[
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// Lowercased word tokens of `text`, with contractions expanded or dropped and spelled-out
/// numbers turned into digits ("forty-nine" → "49"). Stop words are kept (see [`content`]).
pub(crate) fn tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace(['’', '‘', '`'], "'");
    let mut words = Vec::new();
    for raw in lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let raw = raw.trim_matches('\'');
        if raw.is_empty() {
            continue;
        }
        expand_contraction(raw, &mut words);
    }
    numbers_to_digits(words)
}

/// Whether `token` is a stop word.
pub(crate) fn is_stop_word(token: &str) -> bool {
    STOP_WORDS.binary_search(&token).is_ok()
}

/// Light suffix stripping so "plans"/"plan" and "prices"/"price" compare equal. Deliberately
/// crude (no dictionary): fuzzy matching absorbs what it misses.
pub(crate) fn stem(token: &str) -> String {
    let n = token.len();
    if n > 4 && token.ends_with("ies") {
        return format!("{}y", &token[..n - 3]);
    }
    if n > 3
        && token.ends_with('s')
        && !token.ends_with("ss")
        && !token.ends_with("us")
        && !token.ends_with("is")
    {
        return token[..n - 1].to_owned();
    }
    token.to_owned()
}

fn expand_contraction(word: &str, out: &mut Vec<String>) {
    // "n't" carries negation: keep it as its own word. The other suffixes ('s, 're, 'm, 'll,
    // 'd, 've) only expand to stop words, so dropping them is the same as expanding them.
    let (stem, not) = match word {
        "can't" | "cant" => ("can", true),
        "won't" => ("will", true),
        w => match w.strip_suffix("n't") {
            Some(s) => (s, true),
            None => (w, false),
        },
    };
    let stem = ["'s", "'re", "'m", "'ll", "'d", "'ve"]
        .iter()
        .find_map(|suffix| stem.strip_suffix(suffix))
        .unwrap_or(stem);
    let stem: String = stem.chars().filter(|&c| c != '\'').collect();
    if !stem.is_empty() {
        out.push(stem);
    }
    if not {
        out.push("not".to_owned());
    }
}

#[derive(Clone, Copy, PartialEq)]
enum NumWord {
    Unit(u64),
    Ten(u64),
    Hundred,
    Thousand,
}

fn number_word(w: &str) -> Option<NumWord> {
    if let Some(i) = UNITS.iter().position(|u| *u == w) {
        return Some(NumWord::Unit(i as u64));
    }
    if let Some(i) = TENS.iter().position(|t| *t == w) {
        return Some(NumWord::Ten(20 + 10 * i as u64));
    }
    match w {
        "hundred" => Some(NumWord::Hundred),
        "thousand" => Some(NumWord::Thousand),
        _ => None,
    }
}

/// Collapses runs of number words into one digit token: "one hundred and ninety nine" → "199".
/// A word that cannot continue the number in progress starts a new one, so a spelled phone
/// number ("one two three") stays three numbers.
fn numbers_to_digits(words: Vec<String>) -> Vec<String> {
    /// A number being read: thousands part, the part below a thousand, the last word's kind.
    struct Acc {
        total: u64,
        current: u64,
        last: NumWord,
    }
    let mut out = Vec::with_capacity(words.len());
    let mut acc: Option<Acc> = None;
    let flush = |acc: &mut Option<Acc>, out: &mut Vec<String>| {
        if let Some(a) = acc.take() {
            out.push((a.total + a.current).to_string());
        }
    };
    let mut iter = words.into_iter().peekable();
    while let Some(w) = iter.next() {
        // "and" inside a number ("one hundred and five") belongs to it.
        if w == "and" && acc.is_some() {
            let next = iter.peek().and_then(|n| number_word(n));
            if matches!(next, Some(NumWord::Unit(_) | NumWord::Ten(_))) {
                continue;
            }
        }
        let Some(kind) = number_word(&w) else {
            flush(&mut acc, &mut out);
            out.push(w);
            continue;
        };
        let continued = acc.as_mut().is_some_and(|a| {
            use NumWord::*;
            let ok = match (a.last, kind) {
                (Ten(_), Unit(v)) => v < 10,
                (Hundred | Thousand, Unit(_) | Ten(_)) => true,
                (Unit(_), Hundred) => a.current < 20,
                (Unit(_) | Ten(_) | Hundred, Thousand) => a.total == 0,
                _ => false,
            };
            if ok {
                match kind {
                    Unit(v) | Ten(v) => a.current += v,
                    Hundred => a.current *= 100,
                    Thousand => {
                        a.total = a.current * 1000;
                        a.current = 0;
                    }
                }
                a.last = kind;
            }
            ok
        });
        if !continued {
            flush(&mut acc, &mut out);
            let (total, current) = match kind {
                NumWord::Unit(v) | NumWord::Ten(v) => (0, v),
                NumWord::Hundred => (0, 100),
                NumWord::Thousand => (1000, 0),
            };
            acc = Some(Acc {
                total,
                current,
                last: kind,
            });
        }
    }
    flush(&mut acc, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        tokens(s)
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn lowercases_and_strips_punctuation() {
        assert_eq!(t("Hello, HOW much?!"), ["hello", "how", "much"]);
        assert_eq!(t("  ...  "), Vec::<String>::new());
    }

    #[test]
    fn expands_contractions() {
        assert_eq!(t("What's the price"), ["what", "the", "price"]);
        assert_eq!(t("I don’t want that"), ["i", "do", "not", "want", "that"]);
        assert_eq!(t("can't"), ["can", "not"]);
        assert_eq!(
            t("I'd like Brightline's plan"),
            ["i", "like", "brightline", "plan"]
        );
    }

    #[test]
    fn spelled_numbers_become_digits() {
        assert_eq!(t("forty-nine dollars"), ["49", "dollars"]);
        assert_eq!(t("one hundred and ninety nine"), ["199"]);
        assert_eq!(t("a hundred"), ["a", "100"]);
        assert_eq!(t("two thousand twenty six"), ["2026"]);
        assert_eq!(t("one two three"), ["1", "2", "3"]);
        assert_eq!(t("twenty twenty"), ["20", "20"]);
        assert_eq!(t("rock and roll"), ["rock", "and", "roll"]);
        assert_eq!(t("$19/month"), ["19", "month"]);
    }

    #[test]
    fn stemming_folds_plurals_only() {
        assert_eq!(stem("plans"), "plan");
        assert_eq!(stem("prices"), "price");
        assert_eq!(stem("companies"), "company");
        assert_eq!(stem("business"), "business");
        assert_eq!(stem("yes"), "yes");
        assert_eq!(stem("bus"), "bus");
    }
}
