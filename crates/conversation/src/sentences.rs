//! Splits the brain's streamed reply into sentences, so each can be synthesized as soon as it is
//! complete: the caller hears the first sentence while the brain is still writing the rest.
//!
//! A boundary is `.`, `?`, `!` or `…` (runs like `?!` or `...` included, closing quotes and
//! brackets kept with the sentence) followed by whitespace, or a line break. Because the
//! following whitespace must have arrived, `"$4."` + `"50"` split across chunks is never cut.
//! Titles and dotted abbreviations ("Mr.", "e.g.", "p.m.") and single-letter initials are not
//! boundaries.

/// Words that end with a dot without ending the sentence (lowercase, dot stripped).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "approx", "dept", "inc", "ltd",
    "co", "corp", "ave", "blvd", "rd", "apt", "fig", "tel", "ext",
];

/// Above this many bytes without a boundary, a run-on reply is cut at a clause break so
/// synthesis can start (LLMs occasionally emit very long sentences).
const SOFT_LIMIT: usize = 300;
/// A clause cut never leaves less than this before it.
const MIN_CLAUSE: usize = 80;

const TERMINATORS: &[char] = &['.', '?', '!', '…'];
const CLOSERS: &[char] = &['"', '\'', ')', ']', '”', '’', '»'];

/// Incremental sentence splitter for one reply.
#[derive(Debug, Default)]
pub(crate) struct SentenceSplitter {
    buf: String,
}

impl SentenceSplitter {
    /// Adds a chunk; returns the sentences it completed, in order.
    pub(crate) fn push(&mut self, chunk: &str) -> Vec<String> {
        self.buf.push_str(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.boundary() {
            let rest = self.buf.split_off(end);
            let sentence = std::mem::replace(&mut self.buf, rest);
            if let Some(s) = clean(&sentence) {
                out.push(s);
            }
        }
        out
    }

    /// The reply is complete: returns what remains as the last sentence.
    pub(crate) fn finish(&mut self) -> Option<String> {
        clean(&std::mem::take(&mut self.buf))
    }

    /// Byte index just past the first complete sentence in the buffer.
    fn boundary(&self) -> Option<usize> {
        let b = &self.buf;
        let chars: Vec<(usize, char)> = b.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (pos, c) = chars[i];
            if c == '\n' {
                if b[..pos].trim().is_empty() {
                    i += 1;
                    continue;
                }
                return Some(pos + 1);
            }
            if TERMINATORS.contains(&c) {
                let mut j = i;
                while j + 1 < chars.len()
                    && (TERMINATORS.contains(&chars[j + 1].1) || CLOSERS.contains(&chars[j + 1].1))
                {
                    j += 1;
                }
                let Some(&(next_pos, next)) = chars.get(j + 1) else {
                    // The character after the terminator has not arrived yet.
                    return self.soft_cut();
                };
                if next.is_whitespace() && !(c == '.' && j == i && is_abbreviation(&b[..pos])) {
                    return Some(next_pos);
                }
                i = j + 1;
                continue;
            }
            i += 1;
        }
        self.soft_cut()
    }

    /// Cut point for a run-on sentence: the last clause break after `MIN_CLAUSE` bytes.
    fn soft_cut(&self) -> Option<usize> {
        if self.buf.len() <= SOFT_LIMIT {
            return None;
        }
        [", ", "; ", ": ", " - ", " — "]
            .iter()
            .filter_map(|sep| self.buf.rfind(sep).map(|p| p + sep.len()))
            .filter(|&p| p >= MIN_CLAUSE)
            .max()
    }
}

/// Whether the word ending `before` (the text up to a single dot) is an abbreviation.
fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"')
        .next()
        .unwrap_or("");
    if word.is_empty() {
        return false;
    }
    // "e.g", "i.e", "p.m", "U.S": single letters separated by dots.
    if word.contains('.') {
        return word
            .split('.')
            .all(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic));
    }
    let mut letters = word.chars();
    // A single capital letter is an initial ("J. Smith").
    if let (Some(first), None) = (letters.next(), letters.next()) {
        if first.is_uppercase() {
            return true;
        }
    }
    ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

/// Trims a sentence; `None` if nothing speakable remains (only punctuation or space).
fn clean(s: &str) -> Option<String> {
    let t = s.trim();
    t.chars().any(char::is_alphanumeric).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&str]) -> Vec<String> {
        let mut s = SentenceSplitter::default();
        let mut out: Vec<String> = chunks.iter().flat_map(|c| s.push(c)).collect();
        out.extend(s.finish());
        out
    }

    #[test]
    fn splits_on_terminal_punctuation_followed_by_space() {
        assert_eq!(
            split_all(&["Hello there. How are you? Great!"]),
            vec!["Hello there.", "How are you?", "Great!"]
        );
    }

    #[test]
    fn sentence_is_released_only_when_following_space_arrives() {
        let mut s = SentenceSplitter::default();
        assert!(s.push("It costs $4.").is_empty());
        assert!(s.push("50 today").is_empty());
        assert_eq!(s.push(". Anything").as_slice(), &["It costs $4.50 today."]);
        assert_eq!(s.finish().as_deref(), Some("Anything"));
    }

    #[test]
    fn abbreviations_and_initials_do_not_end_sentences() {
        assert_eq!(
            split_all(&[
                "Mr. Smith and Dr. Jones, e.g. the experts, meet J. Doe at 5 p.m. today. Bye."
            ]),
            vec![
                "Mr. Smith and Dr. Jones, e.g. the experts, meet J. Doe at 5 p.m. today.",
                "Bye."
            ]
        );
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        assert_eq!(
            split_all(&["He said \"yes.\" Then left?! Ok... fine"]),
            vec!["He said \"yes.\"", "Then left?!", "Ok...", "fine"]
        );
    }

    #[test]
    fn token_by_token_streaming_matches_whole_text() {
        let text = "Sure, I can help. Your balance is $12.75. Anything else?";
        let tokens: Vec<String> = text.chars().map(|c| c.to_string()).collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        assert_eq!(split_all(&refs), split_all(&[text]));
        assert_eq!(split_all(&[text]).len(), 3);
    }

    #[test]
    fn line_breaks_end_sentences_and_punctuation_only_pieces_are_dropped() {
        assert_eq!(
            split_all(&["First item\nSecond item\n\n... "]),
            vec!["First item", "Second item"]
        );
    }

    #[test]
    fn run_on_text_is_cut_at_a_clause_break() {
        let long = "word ".repeat(30) + ", " + &"more ".repeat(50);
        let mut s = SentenceSplitter::default();
        let out = s.push(&long);
        assert_eq!(out.len(), 1);
        assert!(out[0].ends_with(','));
    }
}
