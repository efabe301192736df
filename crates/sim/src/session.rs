//! The caller's side of a call, sans-IO: the script's state machine, the stream's counters and
//! Twilio's playback buffer, driven by 20 ms ticks and server messages with the time passed in.
//!
//! Everything the caller hears and does is written into a [`Recording`], from which the report
//! is built after the call. Keeping the clock out of here makes the turn-taking rules (what ends
//! a `listen`, when an `interrupt` speaks) testable without sockets or sleeps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use audio::Frame;

use crate::playback::Playback;
use crate::script::{CallerScript, Step};
use crate::wire::{self, ServerMessage, StreamIds, FRAME_BYTES};

/// A heard frame at or above this RMS counts as agent speech (about -44 dBFS): well above
/// mu-law's quantisation of near-silence, well below any spoken syllable.
pub const SPEECH_RMS: f32 = 200.0;
/// One tick of the media clock.
pub const FRAME: Duration = Duration::from_millis(audio::FRAME_MS);
/// Ticks between two DTMF key presses (200 ms, a comfortable human keying rate).
const DTMF_GAP_TICKS: u32 = 10;
/// mu-law silence.
const SILENCE: [u8; FRAME_BYTES] = [0xFF; FRAME_BYTES];

/// One caller line, synthesized in advance, as 20 ms mu-law frames.
pub type Clip = Arc<Vec<[u8; FRAME_BYTES]>>;

/// One 20 ms frame of what the caller heard.
#[derive(Debug, Clone)]
pub struct HeardFrame {
    /// When the frame started playing (since the call was answered).
    pub at: Duration,
    pub pcm: Frame,
    /// Loud enough to be agent speech ([`SPEECH_RMS`]).
    pub speech: bool,
}

/// A line the caller spoke.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerLine {
    pub text: String,
    /// Spoken by an `interrupt` step (into the agent's audio).
    pub interrupt: bool,
    /// First frame sent.
    pub start: Duration,
    /// End of the last frame sent.
    pub end: Duration,
}

/// A timestamped remark for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub at: Duration,
    pub message: String,
}

/// A `clear` received from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ClearEvent {
    pub at: Duration,
    /// Queued frames that were dropped unheard.
    pub dropped_frames: usize,
}

/// Everything that happened on the caller's side of the call.
#[derive(Debug, Default)]
pub struct Recording {
    pub heard: Vec<HeardFrame>,
    pub caller_lines: Vec<CallerLine>,
    pub dtmf: Vec<(Duration, char)>,
    pub clears: Vec<ClearEvent>,
    pub marks_echoed: Vec<(Duration, String)>,
    /// Verbs Twilio itself played around the stream (`<Say>`, `<Play>`), for the transcript.
    pub twiml: Vec<Note>,
    pub protocol_errors: Vec<Note>,
    pub warnings: Vec<Note>,
    pub media_sent: u64,
    pub stream_sids: Vec<String>,
    pub server_closed_stream: bool,
}

/// What to send after a tick.
#[derive(Debug, Default)]
pub struct TickOutput {
    /// Text frames for the server, in order.
    pub messages: Vec<String>,
    /// The caller hangs up: `messages` ends with `stop`; close the socket after sending.
    pub hang_up: bool,
}

enum Activity {
    /// Start the next step.
    Next,
    Listening {
        deadline: Duration,
        quiet_needed: u32,
        heard: bool,
        quiet_run: u32,
    },
    AwaitAgent {
        deadline: Duration,
        after: Duration,
        text: String,
    },
    Delay {
        until: Duration,
        text: String,
    },
    Speaking {
        clip: Clip,
        pos: usize,
        line: usize,
    },
    Keys {
        digits: Vec<char>,
        pos: usize,
        wait: u32,
    },
    Pausing {
        until: Duration,
    },
    /// All steps done; the server has `grace` to close the stream before the caller hangs up.
    Finished {
        since: Duration,
    },
    HangUp,
}

struct Stream {
    ids: StreamIds,
    seq: u64,
    chunk: u64,
    playback: Playback,
}

impl Stream {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// The caller: script progress, stream state, recording.
pub struct Session {
    steps: Vec<Step>,
    /// Index of the next step to start.
    cursor: usize,
    activity: Activity,
    clips: HashMap<String, Clip>,
    grace: Duration,
    stream: Option<Stream>,
    rec: Recording,
}

/// Signal that a clip is missing for a line: the driver synthesizes every line up front.
fn missing_clip(text: &str) -> Clip {
    tracing::error!(text, "caller line was not synthesized; sending silence");
    Arc::new(vec![SILENCE])
}

impl Session {
    /// A caller for `script`; `clips` holds the synthesized audio of every line it speaks;
    /// `grace` is how long the caller stays on the line after its last step.
    pub fn new(script: &CallerScript, clips: HashMap<String, Clip>, grace: Duration) -> Self {
        Session {
            steps: script.steps.clone(),
            cursor: 0,
            activity: Activity::Next,
            clips,
            grace,
            stream: None,
            rec: Recording::default(),
        }
    }

    /// A stream was connected: returns `connected` and `start`.
    pub fn begin_stream(&mut self, ids: StreamIds, parameters: &[(String, String)]) -> Vec<String> {
        self.rec.stream_sids.push(ids.stream_sid.clone());
        let start = wire::start(1, &ids, parameters);
        self.stream = Some(Stream {
            ids,
            seq: 1,
            chunk: 0,
            playback: Playback::default(),
        });
        vec![wire::connected(), start]
    }

    /// One 20 ms tick: the caller hears one frame and sends one.
    pub fn on_tick(&mut self, now: Duration) -> TickOutput {
        let Some(stream) = self.stream.as_mut() else {
            return TickOutput::default();
        };
        let mut out = TickOutput::default();
        let tick = stream.playback.tick();
        for name in tick.reached {
            out.messages
                .push(wire::mark(stream.next_seq(), &stream.ids.stream_sid, &name));
            self.rec.marks_echoed.push((now, name));
        }
        let pcm = tick
            .frame
            .map(|f| Frame::from_mulaw(&f))
            .unwrap_or(Frame::SILENCE);
        let speech = pcm.rms() >= SPEECH_RMS;
        self.rec.heard.push(HeardFrame {
            at: now,
            pcm,
            speech,
        });

        let act = self.advance(now, speech);
        let Some(stream) = self.stream.as_mut() else {
            return out;
        };
        if act.hang_up {
            out.messages
                .push(wire::stop(stream.next_seq(), &stream.ids));
            out.hang_up = true;
            self.stream = None;
            return out;
        }
        stream.chunk += 1;
        let timestamp = (stream.chunk - 1) * audio::FRAME_MS;
        let payload = act.frame.unwrap_or(SILENCE);
        let seq = stream.next_seq();
        out.messages.push(wire::media(
            seq,
            &stream.ids.stream_sid,
            stream.chunk,
            timestamp,
            &payload,
        ));
        self.rec.media_sent += 1;
        if let Some(d) = act.digit {
            out.messages
                .push(wire::dtmf(stream.next_seq(), &stream.ids.stream_sid, d));
        }
        out
    }

    /// A text frame from the server. Returns mark echoes to send now.
    pub fn on_server_text(&mut self, text: &str, now: Duration) -> Vec<String> {
        let Some(stream) = self.stream.as_mut() else {
            return Vec::new();
        };
        let echoes = match wire::parse_server_message(text, &stream.ids.stream_sid) {
            Err(e) => {
                self.rec.protocol_errors.push(Note {
                    at: now,
                    message: e.to_string(),
                });
                return Vec::new();
            }
            Ok(ServerMessage::Media { frames, partial }) => {
                if partial {
                    self.rec.protocol_errors.push(Note {
                        at: now,
                        message: "media payload is not a whole number of 160-byte (20 ms) frames; Twilio may drop \
                                  the partial frame"
                            .into(),
                    });
                }
                stream.playback.push_frames(frames);
                return Vec::new();
            }
            Ok(ServerMessage::Mark { name }) => stream.playback.push_mark(name),
            Ok(ServerMessage::Clear) => {
                let (dropped_frames, marks) = stream.playback.clear();
                self.rec.clears.push(ClearEvent {
                    at: now,
                    dropped_frames,
                });
                marks
            }
        };
        let mut out = Vec::with_capacity(echoes.len());
        for name in echoes {
            out.push(wire::mark(stream.next_seq(), &stream.ids.stream_sid, &name));
            self.rec.marks_echoed.push((now, name));
        }
        out
    }

    /// A binary frame from the server (not part of the protocol).
    pub fn on_server_binary(&mut self, now: Duration) {
        self.protocol_error(now, wire::WireError::Binary.to_string());
    }

    /// Records a protocol problem found by the driver (e.g. a WebSocket error).
    pub fn protocol_error(&mut self, now: Duration, message: String) {
        self.rec.protocol_errors.push(Note { at: now, message });
    }

    /// Records a warning found by the driver.
    pub fn warn(&mut self, now: Duration, message: String) {
        self.rec.warnings.push(Note { at: now, message });
    }

    /// Records a verb Twilio played itself (outside the stream).
    pub fn note_twiml(&mut self, now: Duration, message: String) {
        self.rec.twiml.push(Note { at: now, message });
    }

    /// The server closed the stream. Audio still queued is lost, as on Twilio, where closing the
    /// socket ends playback: a server must wait for its last mark before closing.
    pub fn on_server_closed(&mut self, now: Duration) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        self.rec.server_closed_stream = true;
        let (frames, marks) = stream.playback.abandon();
        if frames > 0 || !marks.is_empty() {
            self.warn(
                now,
                format!(
                    "the server closed the stream with {} ms of audio unplayed and {} mark(s) pending: the caller never \
                     heard it (wait for the last mark before closing)",
                    frames as u64 * audio::FRAME_MS,
                    marks.len()
                ),
            );
        }
        self.interrupt_activity(now, "the server closed the stream");
    }

    /// The caller hangs up now (call timeout): returns the `stop` message if a stream is open.
    pub fn hang_up_now(&mut self, now: Duration, why: &str) -> Option<String> {
        let mut stream = self.stream.take()?;
        self.interrupt_activity(now, why);
        Some(wire::stop(stream.next_seq(), &stream.ids))
    }

    /// Ends the session: notes the steps that never ran and returns the recording.
    pub fn finish(mut self, now: Duration) -> Recording {
        let skipped: Vec<String> = (self.cursor..self.steps.len())
            .filter(|&i| self.steps[i] != Step::Hangup)
            .map(|i| self.step_label(i))
            .collect();
        if !skipped.is_empty() {
            self.warn(
                now,
                format!(
                    "the call ended before these steps ran: {}",
                    skipped.join(", ")
                ),
            );
        }
        self.rec
    }

    fn step_label(&self, i: usize) -> String {
        let name = match &self.steps[i] {
            Step::Listen(_) => "listen",
            Step::Say(_) => "say",
            Step::Interrupt(_) => "interrupt",
            Step::Dtmf(_) => "dtmf",
            Step::Pause(_) => "pause",
            Step::Hangup => "hangup",
        };
        format!("step {} ({name})", i + 1)
    }

    /// The current step cannot go on because the stream ended.
    fn interrupt_activity(&mut self, now: Duration, why: &str) {
        match std::mem::replace(&mut self.activity, Activity::Next) {
            Activity::Speaking { line, .. } => {
                self.rec.caller_lines[line].end = now;
                let label = self.step_label(self.cursor - 1);
                self.warn(
                    now,
                    format!("{label}: the caller was cut off mid-line because {why}"),
                );
            }
            Activity::Listening { .. }
            | Activity::Next
            | Activity::Finished { .. }
            | Activity::HangUp => {}
            Activity::AwaitAgent { .. }
            | Activity::Delay { .. }
            | Activity::Keys { .. }
            | Activity::Pausing { .. } => {
                let label = self.step_label(self.cursor - 1);
                self.warn(now, format!("{label} did not complete because {why}"));
            }
        }
        if matches!(self.activity, Activity::Next) && self.cursor >= self.steps.len() {
            self.activity = Activity::Finished { since: now };
        }
    }

    fn start_speaking(&mut self, text: String, interrupt: bool, now: Duration) -> Activity {
        let clip = self
            .clips
            .get(&text)
            .cloned()
            .unwrap_or_else(|| missing_clip(&text));
        self.rec.caller_lines.push(CallerLine {
            text,
            interrupt,
            start: now,
            end: now,
        });
        Activity::Speaking {
            clip,
            pos: 0,
            line: self.rec.caller_lines.len() - 1,
        }
    }

    /// Runs the script for this tick; `speech` says whether the frame just heard was agent speech.
    fn advance(&mut self, now: Duration, speech: bool) -> Act {
        loop {
            let current = std::mem::replace(&mut self.activity, Activity::Next);
            self.activity = match current {
                Activity::Next => match self.steps.get(self.cursor).cloned() {
                    None => Activity::Finished { since: now },
                    Some(step) => {
                        self.cursor += 1;
                        match step {
                            Step::Listen(l) => Activity::Listening {
                                deadline: now + l.timeout,
                                quiet_needed: l.quiet.as_millis().div_ceil(FRAME.as_millis())
                                    as u32,
                                heard: false,
                                quiet_run: 0,
                            },
                            Step::Say(text) => self.start_speaking(text, false, now),
                            Step::Interrupt(i) => Activity::AwaitAgent {
                                deadline: now + i.timeout,
                                after: i.after,
                                text: i.say,
                            },
                            Step::Dtmf(d) => Activity::Keys {
                                digits: d.chars().collect(),
                                pos: 0,
                                wait: 0,
                            },
                            Step::Pause(d) => Activity::Pausing { until: now + d },
                            Step::Hangup => Activity::HangUp,
                        }
                    }
                },
                Activity::Listening {
                    deadline,
                    quiet_needed,
                    mut heard,
                    mut quiet_run,
                } => {
                    if speech {
                        heard = true;
                        quiet_run = 0;
                    } else if heard {
                        quiet_run += 1;
                    }
                    if heard && quiet_run >= quiet_needed {
                        Activity::Next
                    } else if now >= deadline {
                        let label = self.step_label(self.cursor - 1);
                        let what = if heard {
                            "did not go quiet"
                        } else {
                            "did not speak"
                        };
                        self.warn(now, format!("{label} timed out: the agent {what}"));
                        Activity::Next
                    } else {
                        self.activity = Activity::Listening {
                            deadline,
                            quiet_needed,
                            heard,
                            quiet_run,
                        };
                        return Act::default();
                    }
                }
                Activity::AwaitAgent {
                    deadline,
                    after,
                    text,
                } => {
                    if speech {
                        Activity::Delay {
                            until: now + after,
                            text,
                        }
                    } else if now >= deadline {
                        let label = self.step_label(self.cursor - 1);
                        self.warn(
                            now,
                            format!("{label}: no agent audio to interrupt; speaking anyway"),
                        );
                        Activity::Delay { until: now, text }
                    } else {
                        self.activity = Activity::AwaitAgent {
                            deadline,
                            after,
                            text,
                        };
                        return Act::default();
                    }
                }
                Activity::Delay { until, text } => {
                    if now >= until {
                        self.start_speaking(text, true, now)
                    } else {
                        self.activity = Activity::Delay { until, text };
                        return Act::default();
                    }
                }
                Activity::Speaking { clip, pos, line } => {
                    let frame = clip[pos];
                    if pos + 1 == clip.len() {
                        self.rec.caller_lines[line].end = now + FRAME;
                        self.activity = Activity::Next;
                    } else {
                        self.activity = Activity::Speaking {
                            clip,
                            pos: pos + 1,
                            line,
                        };
                    }
                    return Act {
                        frame: Some(frame),
                        ..Act::default()
                    };
                }
                Activity::Keys { digits, pos, wait } => {
                    if wait > 0 {
                        self.activity = Activity::Keys {
                            digits,
                            pos,
                            wait: wait - 1,
                        };
                        return Act::default();
                    }
                    let digit = digits[pos];
                    self.rec.dtmf.push((now, digit));
                    self.activity = if pos + 1 == digits.len() {
                        Activity::Next
                    } else {
                        Activity::Keys {
                            digits,
                            pos: pos + 1,
                            wait: DTMF_GAP_TICKS - 1,
                        }
                    };
                    return Act {
                        digit: Some(digit),
                        ..Act::default()
                    };
                }
                Activity::Pausing { until } => {
                    if now >= until {
                        Activity::Next
                    } else {
                        self.activity = Activity::Pausing { until };
                        return Act::default();
                    }
                }
                Activity::Finished { since } => {
                    self.activity = if now >= since + self.grace {
                        Activity::HangUp
                    } else {
                        Activity::Finished { since }
                    };
                    if matches!(self.activity, Activity::HangUp) {
                        continue;
                    }
                    return Act::default();
                }
                Activity::HangUp => {
                    return Act {
                        hang_up: true,
                        ..Act::default()
                    }
                }
            };
        }
    }
}

/// The caller's action for one tick.
#[derive(Debug, Default)]
struct Act {
    frame: Option<[u8; FRAME_BYTES]>,
    digit: Option<char>,
    hang_up: bool,
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
