//! Turning sampled tokens into the text deltas a caller sees.
//!
//! Two things stand between a token and a [`brain::llm::LlmEvent::TextDelta`]:
//! - a token is a byte string, and byte-level BPE vocabularies split one multi-byte character
//!   (an emoji, an accented letter) across tokens, so bytes must wait until they form whole
//!   characters ([`Utf8Pieces`]);
//! - a stop string can arrive split over several tokens, so text that could be the start of one
//!   must be held back until it is known not to be ([`StopScanner`]); otherwise the caller would
//!   already have spoken half of the stop marker.

/// Reassembles UTF-8 text from token pieces, holding back an incomplete trailing character.
#[derive(Debug, Default)]
pub(crate) struct Utf8Pieces {
    pending: Vec<u8>,
}

impl Utf8Pieces {
    /// Adds one token's bytes and returns every character completed so far. Invalid byte
    /// sequences (not merely incomplete ones) become U+FFFD rather than stalling the stream.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The first `valid` bytes were just checked to be UTF-8.
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // Incomplete character at the end: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is still held when generation ends (an unfinished character becomes U+FFFD).
    pub(crate) fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// Finds stop strings in streamed text without emitting any part of them.
#[derive(Debug)]
pub(crate) struct StopScanner {
    stops: Vec<String>,
    held: String,
}

/// What [`StopScanner::push`] lets through.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Text that is safe to emit now.
    pub(crate) text: String,
    /// A stop string was found; `text` is everything before it and generation should end.
    pub(crate) stopped: bool,
}

impl StopScanner {
    /// A scanner for these stop strings (empty ones are ignored).
    pub(crate) fn new(stops: &[String]) -> Self {
        StopScanner {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Adds text; returns what can be emitted and whether a stop string ended the reply.
    pub(crate) fn push(&mut self, text: &str) -> Scanned {
        self.held.push_str(text);
        let earliest = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(at) = earliest {
            let text = self.held[..at].to_string();
            self.held.clear();
            return Scanned {
                text,
                stopped: true,
            };
        }
        // Hold back the longest tail that could still grow into a stop string.
        let keep_from = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|stop| stop.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let text = self.held[..keep_from].to_string();
        self.held.drain(..keep_from);
        Scanned {
            text,
            stopped: false,
        }
    }

    /// The held-back tail once generation ended for another reason: it was not a stop string.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multibyte_character_split_across_tokens_is_emitted_whole() {
        let euro = "€".as_bytes(); // 3 bytes
        let mut pieces = Utf8Pieces::default();
        assert_eq!(pieces.push(b"costs "), "costs ");
        assert_eq!(pieces.push(&euro[..1]), "");
        assert_eq!(pieces.push(&euro[1..2]), "");
        assert_eq!(pieces.push(&[euro[2], b'5']), "€5");
        assert_eq!(pieces.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters_without_stalling() {
        let mut pieces = Utf8Pieces::default();
        assert_eq!(pieces.push(&[b'a', 0xFF, b'b']), "a\u{FFFD}b");
        assert_eq!(pieces.push(&[0xE2, 0x82]), "");
        assert_eq!(pieces.finish(), "\u{FFFD}");
    }

    #[test]
    fn stop_string_split_over_pushes_is_never_emitted() {
        let mut scanner = StopScanner::new(&["<|im_end|>".to_string()]);
        let a = scanner.push("The plan is $30<|im");
        assert_eq!(a.text, "The plan is $30");
        assert!(!a.stopped);
        let b = scanner.push("_end|> trailing");
        assert_eq!(b.text, "");
        assert!(b.stopped);
    }

    #[test]
    fn held_prefix_is_released_when_it_does_not_become_a_stop_string() {
        let mut scanner = StopScanner::new(&["\nUser:".to_string()]);
        let a = scanner.push("Yes.\nUs");
        assert_eq!(a.text, "Yes.");
        let b = scanner.push("ually");
        assert_eq!(b.text, "\nUsually");
        assert!(!b.stopped);
        scanner.push("\nU");
        assert_eq!(scanner.finish(), "\nU");
    }

    #[test]
    fn earliest_of_several_stop_strings_wins() {
        let mut scanner = StopScanner::new(&["BBB".to_string(), "A".to_string()]);
        let out = scanner.push("xxBBB yyA");
        assert_eq!(
            out,
            Scanned {
                text: "xx".into(),
                stopped: true
            }
        );
    }

    #[test]
    fn without_stop_strings_text_passes_straight_through() {
        let mut scanner = StopScanner::new(&[String::new()]);
        assert_eq!(scanner.push("héllo").text, "héllo");
        assert_eq!(scanner.finish(), "");
    }
}
