//! Server-sent events (`text/event-stream`), the framing of streamed completions, as a sans-IO
//! parser: feed it bytes as they arrive from the socket, get back each event's `data` payload.
//!
//! It follows the WHATWG rules that matter for LLM servers: lines end in `\n`, `\r\n` or `\r`
//! (a `\r\n` may be split across two reads); a line starting with `:` is a comment (proxies send
//! them as keep-alives); `data:` may or may not be followed by one space; several `data:` lines
//! of one event are joined with `\n`; a blank line ends the event; other fields (`event:`, `id:`,
//! `retry:`) are ignored because Chat Completions never needs them.

/// Why the byte stream cannot be parsed as events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event (or one line) grew past the limit without ending: a broken or hostile server.
    #[error("event larger than {limit} bytes")]
    EventTooLarge { limit: usize },
}

/// Incremental event-stream parser. See the module documentation for the rules it follows.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line. Kept as bytes so a multi-byte UTF-8
    /// character split between two reads is decoded whole.
    line: Vec<u8>,
    /// `data` of the event being built (lines joined with `\n`).
    data: String,
    has_data: bool,
    /// The previous read ended with `\r`: a `\n` opening the next read belongs to that line end.
    skip_lf: bool,
    /// No line seen yet: a leading byte-order mark must be dropped.
    at_start: bool,
    limit: usize,
}

/// Default ceiling for one event: far above any real completion chunk (a few hundred bytes),
/// low enough that a server streaming garbage without line ends cannot exhaust memory.
pub const DEFAULT_EVENT_LIMIT: usize = 4 * 1024 * 1024;

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the [`DEFAULT_EVENT_LIMIT`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_EVENT_LIMIT)
    }

    /// A parser that fails once one event (or one line) exceeds `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        SseParser {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            skip_lf: false,
            at_start: true,
            limit,
        }
    }

    /// Feeds the next bytes of the stream and returns the `data` of every event they complete,
    /// in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, SseError> {
        let mut events = Vec::new();
        let mut rest = bytes;
        if self.skip_lf {
            self.skip_lf = false;
            if let Some((b'\n', tail)) = rest.split_first() {
                rest = tail;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..pos]);
            self.check_limit()?;
            let line = std::mem::take(&mut self.line);
            if let Some(data) = self.process_line(&line) {
                events.push(data);
            }
            let ended_with_cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if ended_with_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.skip_lf = true,
                    Some(_) => {}
                }
            }
        }
        self.line.extend_from_slice(rest);
        self.check_limit()?;
        Ok(events)
    }

    /// The stream ended. Strictly, an event without its closing blank line is discarded; we
    /// dispatch it instead, because some servers close right after a final `data: [DONE]` with
    /// no trailing blank line, and losing that last event would lose the end of the answer.
    pub fn finish(&mut self) -> Option<String> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if let Some(data) = self.process_line(&line) {
                return Some(data);
            }
        }
        self.dispatch()
    }

    fn check_limit(&self) -> Result<(), SseError> {
        if self.line.len() + self.data.len() > self.limit {
            return Err(SseError::EventTooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// Handles one complete line; returns an event's data when the line ends an event.
    fn process_line(&mut self, raw: &[u8]) -> Option<String> {
        let decoded = String::from_utf8_lossy(raw);
        let mut line: &str = &decoded;
        if self.at_start {
            self.at_start = false;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        None
    }

    fn dispatch(&mut self) -> Option<String> {
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(std::mem::take(&mut self.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(parser.push(chunk).unwrap());
        }
        out.extend(parser.finish());
        out
    }

    #[test]
    fn data_with_and_without_space_and_comments() {
        let got = all(&[b": keep-alive\n\ndata: {\"a\":1}\n\ndata:{\"b\":2}\n\n"]);
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newline() {
        let got = all(&[b"event: x\ndata: one\ndata:two\nid: 7\n\n"]);
        assert_eq!(got, vec!["one\ntwo"]);
    }

    #[test]
    fn crlf_split_between_reads_and_bare_cr() {
        let got = all(&[b"data: a\r", b"\n\r", b"\ndata: b\r\rdata: c\n\n"]);
        assert_eq!(got, vec!["a", "b", "c"]);
    }

    #[test]
    fn utf8_character_split_between_reads() {
        let bytes = "data: héllo\n\n".as_bytes();
        // Split inside the two-byte 'é'.
        let got = all(&[&bytes[..8], &bytes[8..]]);
        assert_eq!(got, vec!["héllo"]);
    }

    #[test]
    fn byte_by_byte_feeding_matches_whole() {
        let text = b"\xEF\xBB\xBFdata: x\n\n: c\ndata: [DONE]\n\n";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(all(&chunks), vec!["x", "[DONE]"]);
    }

    #[test]
    fn last_event_without_blank_line_is_kept() {
        assert_eq!(all(&[b"data: a\n\ndata: [DONE]"]), vec!["a", "[DONE]"]);
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut parser = SseParser::with_limit(16);
        let err = parser.push(b"data: 0123456789abcdefghij").unwrap_err();
        assert_eq!(err, SseError::EventTooLarge { limit: 16 });
    }
}
