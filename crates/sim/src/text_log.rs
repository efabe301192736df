//! What the caller experienced in a text mode, assembled into the same [`SimReport`] as a Media
//! Streams call.
//!
//! Text modes carry words, not audio, so the transcript comes straight from the protocol (no
//! STT) and a few report fields stay empty by design: `clears`, `marks_echoed` and
//! `media_sent` are 0, `Turn::clear_after_ms` is `None`, and a caller line has no speaking time
//! (`at_ms == end_ms`: Twilio delivers it as one final transcript). In ConversationRelay mode
//! `Entry::Agent::cut_by_clear` marks a reply the caller talked over (Twilio stops its own TTS;
//! there is no `clear`), and `stream_sids` holds the relay session ids.

use std::time::Duration;

use tokio::time::Instant;

use crate::report::{EndReason, Entry, Issue, SimReport, StatusCallback, Turn};
use crate::webhook::CallParams;

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// The report being written during a text-mode call. Times count from `t0` (the answer).
pub(crate) struct TextLog {
    t0: Instant,
    entries: Vec<Entry>,
    turns: Vec<Turn>,
    /// The last caller line still waiting for the agent's first word.
    pending_turn: Option<usize>,
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    pub session_ids: Vec<String>,
    pub server_closed: bool,
    /// Agent utterances logged so far, and how many a `listen` step has consumed.
    agent_count: usize,
    listened: usize,
    last_agent_end: Duration,
}

impl TextLog {
    pub fn new(t0: Instant) -> Self {
        TextLog {
            t0,
            entries: Vec::new(),
            turns: Vec::new(),
            pending_turn: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            session_ids: Vec::new(),
            server_closed: false,
            agent_count: 0,
            listened: 0,
            last_agent_end: Duration::ZERO,
        }
    }

    /// Time since the call was answered.
    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// The call time of an instant.
    pub fn at(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.t0)
    }

    pub fn error(&mut self, message: String) {
        let at_ms = ms(self.now());
        self.errors.push(Issue { at_ms, message });
    }

    pub fn warn(&mut self, message: String) {
        let at_ms = ms(self.now());
        self.warnings.push(Issue { at_ms, message });
    }

    /// Something Twilio itself did (`<Play>`, `<Dial>`, `sendDigits`...).
    pub fn twilio(&mut self, verb: String) {
        let at_ms = ms(self.now());
        self.entries.push(Entry::Twiml { at_ms, verb });
    }

    pub fn dtmf(&mut self, digit: char) {
        let at_ms = ms(self.now());
        self.entries.push(Entry::Dtmf { at_ms, digit });
    }

    /// The caller said `text` now; the agent's next first word answers it.
    pub fn caller(&mut self, text: &str, interrupt: bool) {
        let at_ms = ms(self.now());
        self.entries.push(Entry::Caller {
            at_ms,
            end_ms: at_ms,
            text: text.to_string(),
            interrupt,
        });
        self.turns.push(Turn {
            caller: text.to_string(),
            interrupt,
            caller_end_ms: at_ms,
            agent_start_ms: None,
            latency_ms: None,
            clear_after_ms: None,
        });
        self.pending_turn = Some(self.turns.len() - 1);
    }

    /// The agent's first word of a reply arrived at `at`: closes the pending turn and returns
    /// its latency (caller line -> first word).
    pub fn agent_started(&mut self, at: Duration) -> Option<u64> {
        let turn = &mut self.turns[self.pending_turn.take()?];
        let latency = ms(at).saturating_sub(turn.caller_end_ms);
        turn.agent_start_ms = Some(ms(at));
        turn.latency_ms = Some(latency);
        Some(latency)
    }

    /// One agent utterance, heard from `at` to `end`.
    pub fn agent(
        &mut self,
        at: Duration,
        end: Duration,
        text: &str,
        cut: bool,
        latency_ms: Option<u64>,
    ) {
        self.entries.push(Entry::Agent {
            at_ms: ms(at),
            end_ms: ms(end),
            text: text.to_string(),
            cut_by_clear: cut,
            latency_ms,
        });
        self.agent_count += 1;
        self.last_agent_end = end;
    }

    /// Twilio `<Say>`s `text` now: an agent utterance whose end is estimated at the
    /// speaking rate (the runner does not wait for it; a `listen` step does).
    pub fn agent_says(&mut self, text: &str) {
        let now = self.now();
        let latency = self.agent_started(now);
        self.agent(now, now + speaking_time(text), text, false, latency);
    }

    /// The caller spoke up at `now`: an agent utterance still being said is cut there
    /// (`<Gather bargeIn>` stops the nested `<Say>`).
    pub fn barge_in(&mut self) {
        let now = ms(self.now());
        if let Some(Entry::Agent {
            end_ms,
            cut_by_clear,
            ..
        }) = self
            .entries
            .iter_mut()
            .rev()
            .find(|e| matches!(e, Entry::Agent { .. }))
        {
            if *end_ms > now {
                *end_ms = now;
                *cut_by_clear = true;
                self.last_agent_end = Duration::from_millis(now);
            }
        }
    }

    /// The instant of a call time.
    pub fn instant(&self, at: Duration) -> Instant {
        self.t0 + at
    }

    /// Whether the agent said something a `listen` has not consumed yet, and when it stopped.
    pub fn unheard_since(&self) -> Option<Duration> {
        (self.agent_count > self.listened).then_some(self.last_agent_end)
    }

    /// A `listen` step consumed everything said so far.
    pub fn listened(&mut self) {
        self.listened = self.agent_count;
    }

    /// The finished report.
    pub fn into_report(
        mut self,
        call: CallParams,
        duration: Duration,
        ended_by: EndReason,
        status_callback: Option<StatusCallback>,
    ) -> SimReport {
        // Stable: entries logged at the same millisecond keep the order they happened in.
        self.entries.sort_by_key(|e| match e {
            Entry::Caller { at_ms, .. }
            | Entry::Agent { at_ms, .. }
            | Entry::Dtmf { at_ms, .. }
            | Entry::Clear { at_ms, .. }
            | Entry::Twiml { at_ms, .. } => *at_ms,
        });
        SimReport {
            call_sid: call.call_sid,
            account_sid: call.account_sid,
            from: call.from,
            to: call.to,
            stream_sids: self.session_ids,
            duration_ms: ms(duration),
            ended_by,
            server_closed_stream: self.server_closed,
            conversation: self.entries,
            turns: self.turns,
            clears: 0,
            marks_echoed: 0,
            media_sent: 0,
            protocol_errors: self.errors,
            warnings: self.warnings,
            status_callback,
        }
    }
}

/// Characters per second of simulated speech (Twilio's TTS, a caller's ear): about 66 ms a
/// character, a calm speaking rate.
pub(crate) const CHARS_PER_SECOND: u64 = 15;
/// Longest simulated speaking time of one reply, so that long replies do not slow tests down.
pub(crate) const MAX_SPEAKING: Duration = Duration::from_secs(3);

/// How long Twilio's TTS takes to speak `text` (capped at [`MAX_SPEAKING`]).
pub(crate) fn speaking_time(text: &str) -> Duration {
    let chars = text.trim().chars().count() as u64;
    Duration::from_millis(chars * 1000 / CHARS_PER_SECOND).min(MAX_SPEAKING)
}

/// What a caller heard of `text` after `elapsed` of speech: the prefix at
/// [`CHARS_PER_SECOND`], cut back to a word boundary.
pub(crate) fn heard_prefix(text: &str, elapsed: Duration) -> &str {
    let chars = (elapsed.as_millis() as u64 * CHARS_PER_SECOND / 1000) as usize;
    let Some((cut, _)) = text.char_indices().nth(chars) else {
        return text.trim();
    };
    // A word in progress when the caller spoke up was not heard as a word.
    let head = &text[..cut];
    let boundary = if text[cut..].starts_with(char::is_whitespace) {
        cut
    } else {
        head.rfind(char::is_whitespace).unwrap_or(0)
    };
    text[..boundary].trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heard_prefix_cuts_at_a_word_boundary() {
        let text = "We're open nine to five, Monday to Friday.";
        // 700 ms at 15 chars/s = 10 chars: "We're open" exactly.
        assert_eq!(heard_prefix(text, Duration::from_millis(700)), "We're open");
        // 13 chars ends inside "nine": the partial word is dropped.
        assert_eq!(heard_prefix(text, Duration::from_millis(900)), "We're open");
        assert_eq!(heard_prefix(text, Duration::from_millis(100)), "");
        assert_eq!(heard_prefix(text, Duration::from_secs(60)), text);
    }

    #[test]
    fn speaking_time_follows_length_and_is_capped() {
        assert_eq!(speaking_time("fifteen chars!!"), Duration::from_secs(1));
        assert_eq!(speaking_time(&"x".repeat(500)), MAX_SPEAKING);
    }

    #[test]
    fn latency_runs_from_caller_line_to_first_agent_word() {
        let t0 = Instant::now() - Duration::from_secs(10);
        let mut log = TextLog::new(t0);
        log.caller("Hello?", false);
        let said = log.turns[0].caller_end_ms;
        let latency = log.agent_started(Duration::from_millis(said + 250));
        assert_eq!(latency, Some(250));
        assert_eq!(
            log.agent_started(Duration::from_secs(11)),
            None,
            "one answer per line"
        );
    }
}
