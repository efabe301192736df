//! The call as the caller experienced it: transcript with timings, per-turn latency, protocol
//! findings. Serializable for machines, [`SimReport::render`] for people.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::session::{HeardFrame, Recording, FRAME};

/// Silence that separates two agent utterances.
pub const UTTERANCE_GAP: Duration = Duration::from_millis(600);

/// How the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller hung up (a `hangup` step, or the script ended and the server kept the line open).
    CallerHungUp,
    /// The server closed the stream and the TwiML after it said `<Hangup/>`.
    TwimlHangup,
    /// The server closed the stream and the TwiML had no more verbs (Twilio hangs up).
    TwimlEnded,
    /// A TwiML request after the stream failed (listed in the protocol errors).
    TwimlError,
    /// The global call timeout was reached.
    Timeout,
    /// The call was ended through the REST API (`Status=completed`).
    RestHangup,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndReason::CallerHungUp => "the caller hung up",
            EndReason::TwimlHangup => "the server closed the stream, then <Hangup/>",
            EndReason::TwimlEnded => "the server closed the stream and the TwiML ended",
            EndReason::TwimlError => "a TwiML request failed after the stream",
            EndReason::Timeout => "the call timed out",
            EndReason::RestHangup => "the call was ended through the REST API",
        })
    }
}

/// One event of the conversation, as heard or done by the caller. Times are milliseconds since
/// the call was answered (the voice webhook request).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The caller spoke.
    Caller {
        at_ms: u64,
        end_ms: u64,
        text: String,
        interrupt: bool,
    },
    /// The caller heard the agent (text from the STT).
    Agent {
        at_ms: u64,
        end_ms: u64,
        text: String,
        /// The server sent `clear` while (or right after) this was playing and audio was dropped.
        cut_by_clear: bool,
        /// Set when this utterance answers a caller line: caller end of speech -> first frame.
        latency_ms: Option<u64>,
    },
    /// The caller pressed a key.
    Dtmf { at_ms: u64, digit: char },
    /// The server flushed the playback buffer.
    Clear { at_ms: u64, dropped_ms: u64 },
    /// Twilio itself played a verb (`<Say>`, `<Play>`...) outside the stream.
    Twiml { at_ms: u64, verb: String },
}

impl Entry {
    fn at_ms(&self) -> u64 {
        match self {
            Entry::Caller { at_ms, .. }
            | Entry::Agent { at_ms, .. }
            | Entry::Dtmf { at_ms, .. }
            | Entry::Clear { at_ms, .. }
            | Entry::Twiml { at_ms, .. } => *at_ms,
        }
    }
}

/// One caller line and how the agent reacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turn {
    pub caller: String,
    pub interrupt: bool,
    pub caller_end_ms: u64,
    /// First agent speech frame heard at or after the end of the caller's line.
    pub agent_start_ms: Option<u64>,
    /// `agent_start_ms - caller_end_ms`.
    pub latency_ms: Option<u64>,
    /// For interruptions: caller start of speech -> first `clear` from the server.
    pub clear_after_ms: Option<u64>,
}

/// A timestamped finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    pub at_ms: u64,
    pub message: String,
}

/// Outcome of the status callback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusCallback {
    /// HTTP status of the server's answer, if it answered.
    pub http_status: Option<u16>,
    /// Transport error, if it did not.
    pub error: Option<String>,
}

/// Everything about one simulated call.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub call_sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub stream_sids: Vec<String>,
    pub duration_ms: u64,
    pub ended_by: EndReason,
    pub server_closed_stream: bool,
    /// Time-ordered transcript.
    pub conversation: Vec<Entry>,
    pub turns: Vec<Turn>,
    pub clears: usize,
    pub marks_echoed: usize,
    pub media_sent: u64,
    pub protocol_errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    pub status_callback: Option<StatusCallback>,
}

/// Facts about the call that the recording does not hold.
pub(crate) struct CallFacts {
    pub call_sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub duration: Duration,
    pub ended_by: EndReason,
    pub status_callback: Option<StatusCallback>,
}

/// Inclusive range of heard frames forming one agent utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utterance {
    pub first: usize,
    pub last: usize,
}

impl Utterance {
    /// PCM of the utterance (8 kHz), including its short inner pauses.
    pub fn pcm(&self, heard: &[HeardFrame]) -> Vec<i16> {
        heard[self.first..=self.last]
            .iter()
            .flat_map(|f| f.pcm.samples().iter().copied())
            .collect()
    }
}

/// Splits heard audio into utterances at silences of at least [`UTTERANCE_GAP`].
pub fn utterances(heard: &[HeardFrame]) -> Vec<Utterance> {
    let mut out: Vec<Utterance> = Vec::new();
    let mut last_speech: Option<usize> = None;
    for (i, f) in heard.iter().enumerate().filter(|(_, f)| f.speech) {
        match (last_speech, out.last_mut()) {
            (Some(prev), Some(cur)) if f.at < heard[prev].at + FRAME + UTTERANCE_GAP => {
                cur.last = i
            }
            _ => out.push(Utterance { first: i, last: i }),
        }
        last_speech = Some(i);
    }
    out
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Builds the report. `transcripts[i]` is the text of `utts[i]`.
pub(crate) fn build(
    facts: CallFacts,
    rec: Recording,
    utts: &[Utterance],
    transcripts: Vec<String>,
) -> SimReport {
    let heard = &rec.heard;
    let first_speech_after =
        |t: Duration| heard.iter().find(|f| f.speech && f.at >= t).map(|f| f.at);

    let turns: Vec<Turn> = rec
        .caller_lines
        .iter()
        .map(|line| {
            let agent = first_speech_after(line.end);
            Turn {
                caller: line.text.clone(),
                interrupt: line.interrupt,
                caller_end_ms: ms(line.end),
                agent_start_ms: agent.map(ms),
                latency_ms: agent.map(|a| ms(a - line.end)),
                clear_after_ms: if line.interrupt {
                    rec.clears
                        .iter()
                        .find(|c| c.at >= line.start)
                        .map(|c| ms(c.at - line.start))
                } else {
                    None
                },
            }
        })
        .collect();

    let mut conversation = Vec::new();
    for line in &rec.caller_lines {
        conversation.push(Entry::Caller {
            at_ms: ms(line.start),
            end_ms: ms(line.end),
            text: line.text.clone(),
            interrupt: line.interrupt,
        });
    }
    for (k, (u, text)) in utts.iter().zip(transcripts).enumerate() {
        let start = heard[u.first].at;
        let end = heard[u.last].at + FRAME;
        let next_start = utts
            .get(k + 1)
            .map(|n| heard[n.first].at)
            .unwrap_or(Duration::MAX);
        let cut_by_clear = rec.clears.iter().any(|c| {
            c.dropped_frames > 0
                && c.at >= start
                && c.at <= end + UTTERANCE_GAP
                && c.at < next_start
        });
        let latency_ms = turns
            .iter()
            .find(|t| t.agent_start_ms == Some(ms(start)))
            .and_then(|t| t.latency_ms);
        conversation.push(Entry::Agent {
            at_ms: ms(start),
            end_ms: ms(end),
            text,
            cut_by_clear,
            latency_ms,
        });
    }
    conversation.extend(rec.dtmf.iter().map(|(at, digit)| Entry::Dtmf {
        at_ms: ms(*at),
        digit: *digit,
    }));
    conversation.extend(rec.clears.iter().map(|c| Entry::Clear {
        at_ms: ms(c.at),
        dropped_ms: c.dropped_frames as u64 * audio::FRAME_MS,
    }));
    conversation.extend(rec.twiml.iter().map(|n| Entry::Twiml {
        at_ms: ms(n.at),
        verb: n.message.clone(),
    }));
    conversation.sort_by_key(Entry::at_ms);

    let issues = |notes: &[crate::session::Note]| {
        notes
            .iter()
            .map(|n| Issue {
                at_ms: ms(n.at),
                message: n.message.clone(),
            })
            .collect::<Vec<_>>()
    };
    SimReport {
        call_sid: facts.call_sid,
        account_sid: facts.account_sid,
        from: facts.from,
        to: facts.to,
        stream_sids: rec.stream_sids.clone(),
        duration_ms: ms(facts.duration),
        ended_by: facts.ended_by,
        server_closed_stream: rec.server_closed_stream,
        conversation,
        turns,
        clears: rec.clears.len(),
        marks_echoed: rec.marks_echoed.len(),
        media_sent: rec.media_sent,
        protocol_errors: issues(&rec.protocol_errors),
        warnings: issues(&rec.warnings),
        status_callback: facts.status_callback,
    }
}

/// `mm:ss.mmm`.
fn clock(ms: u64) -> String {
    format!(
        "{:02}:{:02}.{:03}",
        ms / 60_000,
        (ms / 1000) % 60,
        ms % 1000
    )
}

impl SimReport {
    /// A readable transcript with timings, e.g.
    /// `[00:03.120] agent  (+612 ms) "The premium plan costs forty-nine dollars a month."`.
    pub fn render(&self) -> String {
        self.to_string()
    }

    /// Mean and maximum response latency over the turns that got a response.
    pub fn latency_stats(&self) -> Option<(u64, u64)> {
        let l: Vec<u64> = self.turns.iter().filter_map(|t| t.latency_ms).collect();
        let max = *l.iter().max()?;
        Some((l.iter().sum::<u64>() / l.len() as u64, max))
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "call {} from {} to {} (stream {})",
            self.call_sid,
            self.from,
            self.to,
            self.stream_sids.join(", ")
        )?;
        for e in &self.conversation {
            let (label, body) = match e {
                Entry::Caller {
                    at_ms,
                    end_ms,
                    text,
                    interrupt,
                } => (
                    if *interrupt {
                        "caller (barge-in)".to_string()
                    } else {
                        "caller".to_string()
                    },
                    format!(
                        "{text:?}  ({:.2} s)",
                        end_ms.saturating_sub(*at_ms) as f64 / 1000.0
                    ),
                ),
                Entry::Agent {
                    text,
                    cut_by_clear,
                    latency_ms,
                    ..
                } => (
                    match latency_ms {
                        Some(l) => format!("agent  (+{l} ms)"),
                        None => "agent".to_string(),
                    },
                    format!(
                        "{}{}",
                        if text.trim().is_empty() {
                            "(unintelligible)".to_string()
                        } else {
                            format!("{text:?}")
                        },
                        if *cut_by_clear {
                            "  [cut by clear]"
                        } else {
                            ""
                        }
                    ),
                ),
                Entry::Dtmf { digit, .. } => ("dtmf".to_string(), digit.to_string()),
                Entry::Clear { dropped_ms, .. } => (
                    "clear".to_string(),
                    format!(
                        "dropped {:.2} s of queued agent audio",
                        *dropped_ms as f64 / 1000.0
                    ),
                ),
                Entry::Twiml { verb, .. } => ("twilio".to_string(), verb.clone()),
            };
            writeln!(f, "[{}] {label:<16} {body}", clock(e.at_ms()))?;
        }
        writeln!(f, "---")?;
        writeln!(
            f,
            "duration {}, ended: {}",
            clock(self.duration_ms),
            self.ended_by
        )?;
        match self.latency_stats() {
            Some((avg, max)) => write!(
                f,
                "turns {}, latency avg {avg} ms, max {max} ms",
                self.turns.len()
            )?,
            None => write!(f, "turns {}, no agent response measured", self.turns.len())?,
        }
        writeln!(
            f,
            "; clears {}; marks echoed {}; media sent {}",
            self.clears, self.marks_echoed, self.media_sent
        )?;
        match &self.status_callback {
            Some(StatusCallback {
                http_status: Some(s),
                ..
            }) => writeln!(f, "status callback: HTTP {s}")?,
            Some(StatusCallback { error: Some(e), .. }) => {
                writeln!(f, "status callback failed: {e}")?
            }
            _ => writeln!(f, "status callback: not sent")?,
        }
        for (title, list) in [
            ("protocol errors", &self.protocol_errors),
            ("warnings", &self.warnings),
        ] {
            if list.is_empty() {
                writeln!(f, "{title}: none")?;
            } else {
                writeln!(f, "{title}:")?;
                for i in list {
                    writeln!(f, "  [{}] {}", clock(i.at_ms), i.message)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
