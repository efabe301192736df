//! One agent turn: the brain's streamed reply, cut into sentences, their synthesis (which may
//! finish in any order) and how much of it the caller heard, plus the instants its timings are
//! computed from.

use std::time::{Duration, Instant};

use crate::events::{Commitment, PartlyHeard, Speaker, TurnRecord, TurnTimings};
use crate::ids::{TurnId, UtteranceId};
use crate::playback::SentenceKey;
use crate::sentences::SentenceSplitter;

/// Instants of the caller utterance a turn answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpeechTimes {
    pub onset_at: Instant,
    /// Last voiced frame.
    pub end_of_speech: Instant,
    /// When the engine decided the caller's turn was over.
    pub endpoint_at: Instant,
}

/// A transcribed caller utterance, answered or waiting to be.
#[derive(Debug, Clone)]
pub(crate) struct HeardText {
    pub utterance: UtteranceId,
    pub text: String,
    pub times: SpeechTimes,
    pub transcript_at: Instant,
}

/// What the turn answers.
#[derive(Debug)]
pub(crate) enum Origin {
    Greeting,
    /// Caller utterances, oldest first; the last one's instants drive the timings.
    Speech(Vec<HeardText>),
    Dtmf,
}

#[derive(Debug)]
enum Synthesis {
    Waiting { requested_at: Instant },
    Ready(Vec<i16>),
    Failed,
    Queued,
}

#[derive(Debug)]
struct Sentence {
    text: String,
    synthesis: Synthesis,
    heard: bool,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct AgentTurn {
    pub id: TurnId,
    pub origin: Origin,
    splitter: SentenceSplitter,
    sentences: Vec<Sentence>,
    /// Sentences before this index have been handed to playback (or skipped).
    next_to_queue: usize,
    pub reply_done: bool,
    pub end_call: bool,
    /// A mark of this turn timed out instead of coming back.
    pub marks_timed_out: bool,
    asked_at: Instant,
    first_text_at: Option<Instant>,
    first_audio_at: Option<Instant>,
    pub first_frame_at: Option<Instant>,
    /// A preemptive answer not yet committed: prepared, but not played.
    pub held: bool,
    /// When a preemptive answer was committed.
    pub committed_at: Option<Instant>,
    /// A held answer plays once the caller has been silent this many frames...
    pub commit_after: usize,
    /// ... and is then reported as committed by this.
    pub commit_by: Commitment,
}

impl AgentTurn {
    pub(crate) fn new(id: TurnId, origin: Origin, now: Instant) -> Self {
        AgentTurn {
            id,
            origin,
            splitter: SentenceSplitter::default(),
            sentences: Vec::new(),
            next_to_queue: 0,
            reply_done: false,
            end_call: false,
            marks_timed_out: false,
            asked_at: now,
            first_text_at: None,
            first_audio_at: None,
            first_frame_at: None,
            held: false,
            committed_at: None,
            commit_after: 0,
            commit_by: Commitment::Complete,
        }
    }

    /// Whether the caller may have heard any of it yet.
    pub(crate) fn audible(&self) -> bool {
        self.first_frame_at.is_some()
    }

    /// Adds reply text; returns the sentences it completed, to be synthesized.
    pub(crate) fn push_text(&mut self, text: &str, now: Instant) -> Vec<(u32, String)> {
        self.first_text_at.get_or_insert(now);
        let done = self.splitter.push(text);
        done.into_iter()
            .map(|s| self.add_sentence(s, now))
            .collect()
    }

    /// The reply is complete; returns its last sentence, if any text was left over.
    pub(crate) fn finish_text(&mut self, end_call: bool, now: Instant) -> Option<(u32, String)> {
        self.reply_done = true;
        self.end_call = end_call;
        let last = self.splitter.finish()?;
        Some(self.add_sentence(last, now))
    }

    fn add_sentence(&mut self, text: String, now: Instant) -> (u32, String) {
        let seq = self.sentences.len() as u32;
        self.sentences.push(Sentence {
            text: text.clone(),
            synthesis: Synthesis::Waiting { requested_at: now },
            heard: false,
        });
        (seq, text)
    }

    /// Audio for sentence `seq` arrived. Ignored unless that sentence was waiting for it.
    pub(crate) fn set_audio(&mut self, seq: u32, pcm8k: Vec<i16>, now: Instant) {
        if let Some(s) = self.sentences.get_mut(seq as usize) {
            if matches!(s.synthesis, Synthesis::Waiting { .. }) {
                self.first_audio_at.get_or_insert(now);
                s.synthesis = Synthesis::Ready(pcm8k);
            }
        }
    }

    /// Synthesis of `seq` failed: returns its text if it was still waiting.
    pub(crate) fn set_failed(&mut self, seq: u32) -> Option<String> {
        let s = self.sentences.get_mut(seq as usize)?;
        matches!(s.synthesis, Synthesis::Waiting { .. }).then(|| {
            s.synthesis = Synthesis::Failed;
            s.text.clone()
        })
    }

    /// When the sentence next in line gives up waiting for its audio.
    pub(crate) fn synthesis_deadline(&self, timeout: Duration) -> Option<Instant> {
        match self.sentences.get(self.next_to_queue)?.synthesis {
            Synthesis::Waiting { requested_at } => Some(requested_at + timeout),
            _ => None,
        }
    }

    /// Fails the sentence next in line if its audio is overdue; returns it.
    pub(crate) fn expire_synthesis(
        &mut self,
        now: Instant,
        timeout: Duration,
    ) -> Option<(u32, String)> {
        let deadline = self.synthesis_deadline(timeout)?;
        if now < deadline {
            return None;
        }
        let seq = self.next_to_queue as u32;
        self.set_failed(seq).map(|text| (seq, text))
    }

    /// Audio ready to play, strictly in sentence order: stops at the first sentence still
    /// waiting for synthesis; failed sentences are skipped.
    pub(crate) fn take_ready(&mut self) -> Vec<(SentenceKey, Vec<i16>)> {
        let mut out = Vec::new();
        while let Some(s) = self.sentences.get_mut(self.next_to_queue) {
            match std::mem::replace(&mut s.synthesis, Synthesis::Queued) {
                Synthesis::Ready(pcm) => {
                    out.push((
                        SentenceKey {
                            turn: self.id,
                            seq: self.next_to_queue as u32,
                        },
                        pcm,
                    ));
                }
                Synthesis::Failed => s.synthesis = Synthesis::Failed,
                waiting @ Synthesis::Waiting { .. } => {
                    s.synthesis = waiting;
                    break;
                }
                Synthesis::Queued => {}
            }
            self.next_to_queue += 1;
        }
        out
    }

    /// Every sentence of the finished reply has been handed to playback or skipped.
    pub(crate) fn all_queued(&self) -> bool {
        !self.held && self.reply_done && self.next_to_queue == self.sentences.len()
    }

    pub(crate) fn mark_heard(&mut self, seq: u32) {
        if let Some(s) = self.sentences.get_mut(seq as usize) {
            s.heard = true;
        }
    }

    pub(crate) fn heard_count(&self) -> usize {
        self.sentences.iter().filter(|s| s.heard).count()
    }

    /// The leading words of sentence `seq` in proportion to `fraction`.
    pub(crate) fn partly_heard(&self, seq: u32, fraction: f32) -> Option<PartlyHeard> {
        let s = self.sentences.get(seq as usize)?;
        let words: Vec<&str> = s.text.split_whitespace().collect();
        let n = (words.len() as f32 * fraction).round() as usize;
        (n > 0).then(|| PartlyHeard {
            estimated_text: words[..n].join(" "),
            fraction,
        })
    }

    /// The transcript line of this turn.
    pub(crate) fn record(
        &self,
        call_start: Instant,
        now: Instant,
        interrupted: bool,
        partly_heard: Option<PartlyHeard>,
    ) -> TurnRecord {
        let text = self
            .sentences
            .iter()
            .filter(|s| s.heard)
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        TurnRecord {
            turn: self.id,
            speaker: Speaker::Agent,
            utterance: None,
            text,
            interrupted,
            partly_heard,
            at: self
                .first_frame_at
                .unwrap_or(now)
                .saturating_duration_since(call_start),
            timings: Some(self.timings()),
        }
    }

    fn timings(&self) -> TurnTimings {
        let span = |a: Option<Instant>, b: Option<Instant>| Some(b?.saturating_duration_since(a?));
        let mut t = TurnTimings {
            reply_to_audio: span(self.first_text_at, self.first_audio_at),
            ..TurnTimings::default()
        };
        match &self.origin {
            // The greeting's text is known at once: "reply" is the call's start.
            Origin::Greeting => {}
            Origin::Dtmf => {
                t.transcript_to_reply = span(Some(self.asked_at), self.first_text_at);
                t.voice_to_voice = span(Some(self.asked_at), self.first_frame_at);
            }
            Origin::Speech(heard) => {
                t.transcript_to_reply = span(Some(self.asked_at), self.first_text_at);
                if let Some(last) = heard.last() {
                    let eos = Some(last.times.end_of_speech);
                    t.endpointing = span(eos, Some(last.times.endpoint_at));
                    t.commitment = span(eos, self.committed_at);
                    t.speech_to_transcript = span(eos, Some(last.transcript_at));
                    t.voice_to_voice = span(eos, self.first_frame_at);
                }
            }
        }
        t
    }
}
