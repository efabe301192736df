//! The agent's outgoing audio: a queue paced in real time, and a ledger of marks that tells us
//! what the caller has actually heard.
//!
//! Pacing: Twilio plays whatever it is sent in order and buffers the rest. Sending a whole
//! sentence at once would make barge-in sloppy (everything buffered must be cleared, and we
//! could not tell how far playback got), so at most `playout_lead` of audio is ever sent ahead
//! of real time. `cursor` estimates when the far end finishes what was sent so far.
//!
//! Marks: after each sentence's last frame a mark named after the sentence (`t3s1`) is sent.
//! Twilio echoes it once everything before it has been played; only then does the sentence
//! count as heard. After a `clear` Twilio also echoes the flushed marks; they were *not* heard,
//! and because `clear` drops them from the ledger, their echoes find nothing and are ignored.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use audio::frame::split_frames;
use audio::{Frame, FRAME_MS};

use crate::ids::TurnId;

const FRAME: Duration = Duration::from_millis(FRAME_MS);

/// One sentence of one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentenceKey {
    pub turn: TurnId,
    pub seq: u32,
}

impl SentenceKey {
    pub(crate) fn mark_name(self) -> String {
        format!("{}s{}", self.turn, self.seq)
    }
}

// Nearly every item is a frame, so boxing frames would only add an allocation per frame.
#[allow(clippy::large_enum_variant)]
enum Item {
    Frame(Frame),
    Mark,
}

/// A sentence handed to playback whose mark has not come back yet.
struct Entry {
    key: SentenceKey,
    name: String,
    frames: u32,
    first_sent_at: Option<Instant>,
    /// Set once the mark is sent: when the far end should have played up to it.
    expected_at: Option<Instant>,
}

/// What the pump wants sent now.
#[allow(clippy::large_enum_variant)] // as `Item`
#[derive(Debug)]
pub(crate) enum Outgoing {
    Frame {
        frame: Frame,
        key: SentenceKey,
        first_of_sentence: bool,
    },
    Mark(String),
}

/// The sentence that was playing when playback was cleared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cut {
    pub key: SentenceKey,
    /// Estimated share of its audio played, 0..=1.
    pub fraction: f32,
}

pub(crate) struct Playback {
    lead: Duration,
    mark_timeout: Duration,
    queue: VecDeque<Item>,
    ledger: VecDeque<Entry>,
    cursor: Option<Instant>,
    /// When the latest mark came back: the far end started the next sentence then.
    last_echo_at: Option<Instant>,
}

impl Playback {
    pub(crate) fn new(lead: Duration, mark_timeout: Duration) -> Self {
        Playback {
            // At least one frame ahead, or nothing could ever be sent.
            lead: lead.max(FRAME),
            mark_timeout,
            queue: VecDeque::new(),
            ledger: VecDeque::new(),
            cursor: None,
            last_echo_at: None,
        }
    }

    /// Queues a sentence's audio, followed by its mark.
    pub(crate) fn enqueue(&mut self, key: SentenceKey, pcm8k: &[i16]) {
        let frames = split_frames(pcm8k);
        self.ledger.push_back(Entry {
            key,
            name: key.mark_name(),
            frames: frames.len() as u32,
            first_sent_at: None,
            expected_at: None,
        });
        self.queue.extend(frames.into_iter().map(Item::Frame));
        self.queue.push_back(Item::Mark);
    }

    /// Nothing queued and every mark has come back.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.ledger.is_empty()
    }

    /// The next item to send if it is due at `now`.
    pub(crate) fn poll_send(&mut self, now: Instant) -> Option<Outgoing> {
        match self.queue.front()? {
            Item::Mark => {
                self.queue.pop_front();
                let cursor = self.cursor.unwrap_or(now).max(now);
                let entry = self.ledger.iter_mut().find(|e| e.expected_at.is_none())?;
                entry.expected_at = Some(cursor);
                Some(Outgoing::Mark(entry.name.clone()))
            }
            Item::Frame(_) => {
                let start = self.cursor.unwrap_or(now).max(now);
                if start + FRAME > now + self.lead {
                    return None;
                }
                let Some(Item::Frame(frame)) = self.queue.pop_front() else {
                    unreachable!("front was a frame");
                };
                self.cursor = Some(start + FRAME);
                let entry = self.ledger.iter_mut().find(|e| e.expected_at.is_none())?;
                let first_of_sentence = entry.first_sent_at.is_none();
                entry.first_sent_at.get_or_insert(now);
                Some(Outgoing::Frame {
                    frame,
                    key: entry.key,
                    first_of_sentence,
                })
            }
        }
    }

    /// When something becomes due: the next frame's send time or the oldest mark's timeout.
    pub(crate) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let send = match self.queue.front() {
            Some(Item::Mark) => Some(now),
            Some(Item::Frame(_)) => {
                let start = self.cursor.unwrap_or(now).max(now);
                Some(
                    (start + FRAME)
                        .checked_sub(self.lead)
                        .unwrap_or(now)
                        .max(now),
                )
            }
            None => None,
        };
        let timeout = self
            .ledger
            .front()
            .and_then(|e| e.expected_at)
            .map(|t| t + self.mark_timeout);
        match (send, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A mark came back: its sentence and every earlier one (Twilio plays in order) are heard.
    /// Unknown names (flushed by a clear, or not ours) yield nothing.
    pub(crate) fn on_mark(&mut self, name: &str, now: Instant) -> Vec<SentenceKey> {
        let Some(idx) = self
            .ledger
            .iter()
            .position(|e| e.expected_at.is_some() && e.name == name)
        else {
            return Vec::new();
        };
        self.last_echo_at = Some(now);
        self.ledger.drain(..=idx).map(|e| e.key).collect()
    }

    /// Marks overdue by `mark_timeout` count as heard (a transport that loses marks must not
    /// stall the call).
    pub(crate) fn expire_marks(&mut self, now: Instant) -> Vec<SentenceKey> {
        let mut out = Vec::new();
        while let Some(e) = self.ledger.front() {
            match e.expected_at {
                Some(t) if now >= t + self.mark_timeout => {
                    out.push(e.key);
                    self.ledger.pop_front();
                    self.last_echo_at = Some(now);
                }
                _ => break,
            }
        }
        out
    }

    /// Drops everything unsent and forgets every pending mark (so their post-`clear` echoes
    /// are ignored). Returns the sentence that was playing, with an estimate of how far.
    pub(crate) fn clear(&mut self, now: Instant) -> Option<Cut> {
        // The far end plays in order, so the first sentence of the ledger that has started
        // sending is the one playing (or about to).
        let cut = self.ledger.front().and_then(|e| {
            let sent_at = e.first_sent_at?;
            let started = self.last_echo_at.map_or(sent_at, |t| t.max(sent_at));
            let total = FRAME * e.frames.max(1);
            let fraction = (now.saturating_duration_since(started).as_secs_f32()
                / total.as_secs_f32())
            .clamp(0.0, 1.0);
            Some(Cut {
                key: e.key,
                fraction,
            })
        });
        self.queue.clear();
        self.ledger.clear();
        self.cursor = None;
        self.last_echo_at = None;
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u32) -> SentenceKey {
        SentenceKey {
            turn: TurnId(1),
            seq,
        }
    }

    fn drain(p: &mut Playback, now: Instant) -> (usize, Vec<String>) {
        let (mut frames, mut marks) = (0, Vec::new());
        while let Some(o) = p.poll_send(now) {
            match o {
                Outgoing::Frame { .. } => frames += 1,
                Outgoing::Mark(m) => marks.push(m),
            }
        }
        (frames, marks)
    }

    #[test]
    fn sends_at_most_the_lead_ahead_then_one_frame_per_20ms() {
        let mut p = Playback::new(Duration::from_millis(100), Duration::from_secs(3));
        let t0 = Instant::now();
        p.enqueue(key(0), &[100; 160 * 10]);
        assert_eq!(drain(&mut p, t0).0, 5);
        assert_eq!(p.next_deadline(t0), Some(t0 + FRAME));
        assert_eq!(drain(&mut p, t0 + FRAME).0, 1);
        let (frames, marks) = drain(&mut p, t0 + FRAME * 5);
        assert_eq!(frames, 4);
        assert_eq!(marks, vec!["t1s0".to_string()]);
        assert_eq!(p.cursor, Some(t0 + FRAME * 10));
    }

    #[test]
    fn echo_of_later_mark_confirms_earlier_ones() {
        let mut p = Playback::new(Duration::from_secs(10), Duration::from_secs(3));
        let t0 = Instant::now();
        p.enqueue(key(0), &[1; 160]);
        p.enqueue(key(1), &[1; 160]);
        drain(&mut p, t0);
        assert_eq!(p.on_mark("t1s1", t0), vec![key(0), key(1)]);
        assert!(p.is_idle());
    }

    #[test]
    fn cleared_marks_are_forgotten_and_cut_is_estimated() {
        let mut p = Playback::new(Duration::from_millis(100), Duration::from_secs(3));
        let t0 = Instant::now();
        p.enqueue(key(0), &[1; 160 * 10]);
        for k in 0..=5 {
            drain(&mut p, t0 + FRAME * k);
        }
        let cut = p.clear(t0 + FRAME * 5).expect("a sentence was playing");
        assert_eq!(cut.key, key(0));
        assert!((cut.fraction - 0.5).abs() < 1e-6);
        assert!(p.is_idle());
        assert!(p.on_mark("t1s0", t0 + FRAME * 6).is_empty());
    }

    #[test]
    fn unechoed_mark_times_out() {
        let mut p = Playback::new(Duration::from_millis(100), Duration::from_secs(3));
        let t0 = Instant::now();
        p.enqueue(key(0), &[1; 160 * 2]);
        drain(&mut p, t0);
        let deadline = p.next_deadline(t0).expect("mark pending");
        assert_eq!(deadline, t0 + FRAME * 2 + Duration::from_secs(3));
        assert!(p.expire_marks(deadline - FRAME).is_empty());
        assert_eq!(p.expire_marks(deadline), vec![key(0)]);
    }
}
