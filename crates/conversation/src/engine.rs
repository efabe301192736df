//! The per-call state machine: routes inputs to turn-taking, the agent's turn and playback, and
//! decides what interrupts what. See the crate docs for the rules it implements.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use audio::Frame;

use crate::agent_turn::{AgentTurn, HeardText, Origin, SpeechTimes};
use crate::config::{frames_in, TurnConfig};
use crate::events::{
    Commitment, ConversationEvent, DiscardReason, EndReason, Speaker, SpeechFailure, TurnRecord,
};
use crate::ids::{TurnId, UtteranceId};
use crate::input::Input;
use crate::output::{CallerInput, Output};
use crate::playback::{Outgoing, Playback};
use crate::turn_completion::{Completion, LexicalCompletion, TurnCompletion};
use crate::turn_taking::{default_voice_decision, Endpointer, TurnSignal, VoiceDecision};

/// Extra wait, beyond `end_of_turn_silence`, before a held preemptive turn is committed when
/// caller audio has stopped arriving altogether (a stalled stream).
const HELD_STALL_GRACE: Duration = Duration::from_secs(1);

/// Preemptive turns of at most this many words wait half the end-of-turn silence even when
/// they read as finished.
const SHORT_TURN_WORDS: usize = 2;

/// One phone call's conversation: feed it [`Input`]s with the instant they happened, drain
/// [`Output`]s, and wake it at [`Conversation::poll_timeout`]. It never blocks, never reads
/// the clock and does no IO, so a whole call can be replayed on a virtual clock.
pub struct Conversation {
    config: TurnConfig,
    started_at: Instant,
    /// Latest instant seen; inputs that arrive with an older one are treated as happening now.
    now: Instant,
    voice: Box<dyn VoiceDecision>,
    completion: Box<dyn TurnCompletion>,
    endpointer: Endpointer,
    /// Consecutive unvoiced caller frames since the last voiced one (across utterances).
    caller_silence: usize,
    /// When the caller's last voiced frame arrived.
    last_voiced_at: Option<Instant>,
    /// `end_of_turn_silence` in frames: the silence that commits a held preemptive turn.
    commit_silence: usize,
    playback: Playback,
    outputs: VecDeque<Output>,
    started: bool,
    ended: bool,
    next_turn: u32,
    next_utterance: u32,
    /// The agent turn being prepared or spoken (one at a time).
    active: Option<AgentTurn>,
    /// Utterances sent to STT whose transcript has not come back.
    outstanding: BTreeMap<UtteranceId, SpeechTimes>,
    /// Transcribed caller words waiting to be answered together with what is still coming.
    held: Vec<HeardText>,
    /// Utterances up to this one have been answered (or overtaken by a key press).
    answered_through: Option<UtteranceId>,
}

impl Conversation {
    /// A call starting at `now`, deciding voice activity with the built-in neural VAD.
    pub fn new(config: TurnConfig, now: Instant) -> Self {
        let voice = default_voice_decision(&config);
        Self::with_voice_decision(config, now, voice)
    }

    /// A call deciding voice activity with `voice` (tests, or a deployment's own detector).
    pub fn with_voice_decision(
        config: TurnConfig,
        now: Instant,
        voice: Box<dyn VoiceDecision>,
    ) -> Self {
        Conversation {
            endpointer: Endpointer::new(&config),
            completion: Box::new(LexicalCompletion),
            caller_silence: 0,
            last_voiced_at: None,
            commit_silence: frames_in(config.end_of_turn_silence),
            playback: Playback::new(config.playout_lead, config.mark_timeout),
            config,
            started_at: now,
            now,
            voice,
            outputs: VecDeque::new(),
            started: false,
            ended: false,
            next_turn: 1,
            next_utterance: 0,
            active: None,
            outstanding: BTreeMap::new(),
            held: Vec::new(),
            answered_through: None,
        }
    }

    /// Judges preemptive turns with `completion` instead of the built-in [`LexicalCompletion`].
    pub fn with_turn_completion(mut self, completion: Box<dyn TurnCompletion>) -> Self {
        self.completion = completion;
        self
    }

    /// Feeds one thing that happened at `now`. Drain [`Conversation::poll_output`] afterwards.
    pub fn handle(&mut self, input: Input, now: Instant) {
        let now = now.max(self.now);
        self.now = now;
        if self.ended {
            // Late transcripts still belong in the call record; nothing else matters now.
            if let Input::Transcript { utterance, text } = input {
                self.on_transcript(utterance, &text, now);
            }
            return;
        }
        match input {
            Input::Start => self.on_start(now),
            Input::CallerAudio(frame) => self.on_caller_audio(frame, now),
            Input::Transcript { utterance, text } => self.on_transcript(utterance, &text, now),
            Input::ReplyText { turn, text } => {
                if let Some(t) = self.turn_mut(turn).filter(|t| !t.reply_done) {
                    let sentences = t.push_text(&text, now);
                    self.synthesize(turn, sentences);
                }
            }
            Input::ReplyDone { turn, end_call } => {
                if let Some(t) = self.turn_mut(turn).filter(|t| !t.reply_done) {
                    let last = t.finish_text(end_call, now);
                    self.synthesize(turn, last);
                }
            }
            Input::SpeechAudio { turn, seq, pcm8k } => {
                if let Some(t) = self.turn_mut(turn) {
                    t.set_audio(seq, pcm8k, now);
                }
            }
            Input::SpeechFailed { turn, seq } => {
                if let Some(text) = self.turn_mut(turn).and_then(|t| t.set_failed(seq)) {
                    self.speech_failed(turn, seq, text, SpeechFailure::Provider, now);
                }
            }
            Input::PlaybackMark(name) => {
                let heard = self.playback.on_mark(&name, now);
                if heard.is_empty() {
                    tracing::debug!(mark = %name, "ignoring mark that is not pending (flushed by a clear?)");
                }
                for key in heard {
                    if let Some(t) = self.turn_mut(key.turn) {
                        t.mark_heard(key.seq);
                    }
                }
            }
            Input::Dtmf(digit) => self.on_dtmf(digit, now),
            Input::Tick => {}
            Input::EndOfTurnDetected => {
                // The speech provider heard the caller finish: end the open utterance now
                // instead of waiting for the local silence timer.
                if let Some(signal) = self.endpointer.flush() {
                    self.on_turn_signal(signal, now);
                }
            }
            Input::Hangup => self.on_far_end_hangup(now),
        }
        if !self.ended {
            self.pump(now);
        }
    }

    /// The next instruction for the driver, in order; `None` once drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle(Input::Tick, t)` if nothing else arrives first: the next audio
    /// frame's send time, a mark or synthesis timeout, or a stalled caller stream.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        [
            self.playback.next_deadline(self.now),
            self.endpointer.stall_deadline(),
            self.active
                .as_ref()
                .filter(|t| !t.held)
                .and_then(|t| t.synthesis_deadline(self.config.synthesis_timeout)),
            self.held_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the call is over (hung up by either side).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    fn since_start(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.started_at)
    }

    fn event(&mut self, e: ConversationEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    fn turn_mut(&mut self, turn: TurnId) -> Option<&mut AgentTurn> {
        let t = self.active.as_mut().filter(|t| t.id == turn);
        if t.is_none() {
            tracing::debug!(%turn, "ignoring input for a turn that is not active");
        }
        t
    }

    /// The agent is saying goodbye: the brain has decided to end the call.
    fn closing(&self) -> bool {
        self.active.as_ref().is_some_and(|t| t.end_call)
    }

    fn synthesize(&mut self, turn: TurnId, sentences: impl IntoIterator<Item = (u32, String)>) {
        for (seq, text) in sentences {
            self.outputs
                .push_back(Output::Synthesize { turn, seq, text });
        }
    }

    fn speech_failed(
        &mut self,
        turn: TurnId,
        seq: u32,
        text: String,
        reason: SpeechFailure,
        now: Instant,
    ) {
        let at = self.since_start(now);
        self.event(ConversationEvent::SpeechFailed {
            turn,
            seq,
            text,
            reason,
            at,
        });
    }

    fn on_start(&mut self, now: Instant) {
        if std::mem::replace(&mut self.started, true) || self.active.is_some() {
            return;
        }
        let Some(greeting) = self
            .config
            .greeting
            .clone()
            .filter(|g| !g.trim().is_empty())
        else {
            return;
        };
        let id = TurnId(0);
        let mut turn = AgentTurn::new(id, Origin::Greeting, now);
        let mut sentences = turn.push_text(&greeting, now);
        sentences.extend(turn.finish_text(false, now));
        self.active = Some(turn);
        self.synthesize(id, sentences);
    }

    fn on_caller_audio(&mut self, frame: Frame, now: Instant) {
        let voiced = self.voice.is_speech(&frame);
        if voiced {
            self.caller_silence = 0;
            self.last_voiced_at = Some(now);
        } else {
            self.caller_silence += 1;
        }
        if let Some(signal) = self.endpointer.push(frame, voiced, now) {
            self.on_turn_signal(signal, now);
        }
        if self
            .active
            .as_ref()
            .is_some_and(|t| t.held && self.caller_silence >= t.commit_after)
        {
            self.commit_held(now);
        }
    }

    /// A held preemptive turn gives up waiting for caller audio that stopped arriving.
    fn held_deadline(&self) -> Option<Instant> {
        if !self.active.as_ref().is_some_and(|t| t.held) {
            return None;
        }
        let last = self.last_voiced_at?;
        Some(last + self.config.end_of_turn_silence + HELD_STALL_GRACE)
    }

    /// Commits the held preemptive turn, if there is one: its answer may now play.
    fn commit_held(&mut self, now: Instant) {
        let Some(turn) = self.active.as_mut().filter(|t| t.held) else {
            return;
        };
        turn.held = false;
        let by = turn.commit_by;
        let id = turn.id;
        let end_of_speech = match &turn.origin {
            Origin::Speech(heard) => heard.last().map(|h| h.times.end_of_speech),
            _ => None,
        };
        let after_speech =
            end_of_speech.map_or(Duration::ZERO, |e| now.saturating_duration_since(e));
        turn.committed_at = Some(now);
        let at = self.since_start(now);
        self.event(ConversationEvent::TurnCommitted {
            turn: id,
            by,
            after_speech,
            at,
        });
    }

    fn on_turn_signal(&mut self, signal: TurnSignal, now: Instant) {
        match signal {
            // Real speech: whatever the agent is doing, the caller's new words take precedence.
            TurnSignal::Confirmed => self.interrupt(now, true),
            TurnSignal::Ended(u) => {
                let id = UtteranceId(self.next_utterance);
                self.next_utterance += 1;
                let times = SpeechTimes {
                    onset_at: u.onset_at,
                    end_of_speech: u.last_voiced_at,
                    endpoint_at: now,
                };
                self.outstanding.insert(id, times);
                self.outputs.push_back(Output::Transcribe {
                    utterance: id,
                    pcm8k: u.pcm8k,
                });
                if u.cut {
                    let at = self.since_start(now);
                    self.event(ConversationEvent::UtteranceCut { utterance: id, at });
                }
            }
            TurnSignal::Discarded => {
                let at = self.since_start(now);
                self.event(ConversationEvent::UtteranceDiscarded {
                    utterance: None,
                    reason: DiscardReason::TooShort,
                    at,
                });
                self.maybe_ask(now);
            }
        }
    }

    fn on_transcript(&mut self, utterance: UtteranceId, text: &str, now: Instant) {
        let Some(times) = self.outstanding.remove(&utterance) else {
            tracing::debug!(%utterance, "ignoring transcript for an unknown utterance");
            return;
        };
        let text = text.trim();
        if text.is_empty() {
            let at = self.since_start(now);
            self.event(ConversationEvent::UtteranceDiscarded {
                utterance: Some(utterance),
                reason: DiscardReason::EmptyTranscript,
                at,
            });
            self.maybe_ask(now);
            return;
        }
        self.event(ConversationEvent::TurnFinished(TurnRecord {
            turn: TurnId(self.next_turn),
            speaker: Speaker::Caller,
            utterance: Some(utterance),
            text: text.to_string(),
            interrupted: false,
            partly_heard: None,
            at: self.since_start(times.onset_at),
            timings: None,
        }));
        // Recorded only: the call is over or closing, or a newer input was already answered.
        if self.ended || self.closing() || self.answered_through.is_some_and(|a| utterance <= a) {
            return;
        }
        // Too short to barge in while the agent is audibly speaking: a backchannel ("uh-huh"),
        // recorded but not answered, so it does not cut the agent off.
        if self.active.as_ref().is_some_and(AgentTurn::audible) {
            return;
        }
        self.held.push(HeardText {
            utterance,
            text: text.to_string(),
            times,
            transcript_at: now,
        });
        self.maybe_ask(now);
    }

    /// Asks the brain to answer the held caller words, unless more of them is still coming
    /// (the caller is talking, or a transcript is outstanding): then all are answered at once.
    fn maybe_ask(&mut self, now: Instant) {
        if self.held.is_empty()
            || self.ended
            || self.closing()
            || self.endpointer.in_confirmed_speech()
        {
            return;
        }
        let answered = self.answered_through;
        if self
            .outstanding
            .keys()
            .any(|&u| answered.is_none_or(|a| u > a))
        {
            return;
        }
        // A pending answer to older words is superseded: its words are folded into this one.
        self.interrupt(now, true);
        if self.active.is_some() {
            return;
        }
        let heard = std::mem::take(&mut self.held);
        let text = heard
            .iter()
            .map(|h| h.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        self.answered_through = heard.iter().map(|h| h.utterance).max().max(answered);
        let preemptive = self.config.preemptive_silence.is_some();
        // The silence after which the answer may play: none for a finished-sounding turn,
        // the whole end-of-turn silence for an unfinished one. A one- or two-word turn
        // ("Thanks," before "goodbye", "Well,", "Yes," before the details) waits half of it:
        // finished or not, such short words so often lead into more.
        let hold = match preemptive.then(|| self.completion.judge(&text)) {
            None => None,
            Some(Completion::Incomplete) => Some((self.commit_silence, Commitment::Silence)),
            Some(Completion::Complete) if text.split_whitespace().count() <= SHORT_TURN_WORDS => {
                Some((self.commit_silence / 2, Commitment::Complete))
            }
            Some(Completion::Complete) => Some((0, Commitment::Complete)),
        };
        self.ask(Origin::Speech(heard), CallerInput::Speech(text), now);
        if let Some((frames, by)) = hold {
            // Answering starts now either way; only playing it waits for the commitment.
            if let Some(t) = self.active.as_mut() {
                t.held = true;
                t.commit_after = frames;
                t.commit_by = by;
            }
            // The silence may have passed already (a slow transcript).
            if self.caller_silence >= frames {
                self.commit_held(now);
            }
        }
    }

    fn ask(&mut self, origin: Origin, input: CallerInput, now: Instant) {
        let id = TurnId(self.next_turn);
        self.next_turn += 1;
        self.active = Some(AgentTurn::new(id, origin, now));
        self.outputs.push_back(Output::AskBrain { turn: id, input });
    }

    fn on_dtmf(&mut self, digit: char, now: Instant) {
        let at = self.since_start(now);
        self.event(ConversationEvent::Dtmf { digit, at });
        if self.closing() {
            return;
        }
        self.interrupt(now, false);
        // A key press is the caller's newest word: words still waiting for an answer (or for
        // their transcript) are recorded but not answered.
        self.held.clear();
        if self.next_utterance > 0 {
            self.answered_through = Some(UtteranceId(self.next_utterance - 1));
        }
        self.ask(Origin::Dtmf, CallerInput::Dtmf(digit), now);
    }

    /// The caller said or pressed something new while an agent turn is active.
    ///
    /// * Nothing of it heard yet: the turn is cancelled (superseded); with `carry_over`, the
    ///   words it answered go back to `held` to be answered together with the new ones. An
    ///   unheard goodbye is the exception: the brain decided to end the call, so it plays.
    /// * Partly heard: barge-in. The far end's buffer is cleared, the turn cancelled and
    ///   recorded as far as it was heard. Interrupting a goodbye ends the call right away.
    fn interrupt(&mut self, now: Instant, carry_over: bool) {
        let Some(turn) = self.active.as_ref() else {
            return;
        };
        let at = self.since_start(now);
        if !turn.audible() {
            // An unheard goodbye plays anyway (the brain decided to end the call), unless it
            // was only a preemptive answer to words the caller has not finished.
            if turn.end_call && !turn.held {
                return;
            }
            let turn = self.active.take().expect("checked above");
            self.playback.clear(now);
            self.outputs.push_back(Output::CancelTurn(turn.id));
            self.event(ConversationEvent::TurnSuperseded { turn: turn.id, at });
            if let (true, Origin::Speech(heard)) = (carry_over, turn.origin) {
                self.held.splice(0..0, heard);
            }
            return;
        }
        let turn = self.active.take().expect("checked above");
        if !self.playback.is_idle() {
            self.outputs.push_back(Output::ClearPlayback);
        }
        let cut = self.playback.clear(now);
        self.outputs.push_back(Output::CancelTurn(turn.id));
        self.event(ConversationEvent::BargeIn {
            turn: turn.id,
            sentences_heard: turn.heard_count(),
            at,
        });
        let partly = cut
            .filter(|c| c.key.turn == turn.id)
            .and_then(|c| turn.partly_heard(c.key.seq, c.fraction));
        self.event(ConversationEvent::TurnFinished(turn.record(
            self.started_at,
            now,
            true,
            partly,
        )));
        if turn.end_call {
            self.end_call(EndReason::GoodbyeInterrupted, now);
        }
    }

    fn on_far_end_hangup(&mut self, now: Instant) {
        self.ended = true;
        // Words the caller said just before hanging up still go to STT for the record.
        if let Some(TurnSignal::Ended(u)) = self.endpointer.flush() {
            self.on_turn_signal(TurnSignal::Ended(u), now);
        }
        if let Some(turn) = self.active.take() {
            let cut = self.playback.clear(now);
            self.outputs.push_back(Output::CancelTurn(turn.id));
            if turn.audible() {
                let partly = cut.and_then(|c| turn.partly_heard(c.key.seq, c.fraction));
                self.event(ConversationEvent::TurnFinished(turn.record(
                    self.started_at,
                    now,
                    true,
                    partly,
                )));
            }
        }
        let at = self.since_start(now);
        self.event(ConversationEvent::CallEnded {
            reason: EndReason::CallerHungUp,
            at,
        });
    }

    /// We end the call: tell the driver to hang up.
    fn end_call(&mut self, reason: EndReason, now: Instant) {
        self.ended = true;
        self.playback.clear(now);
        let at = self.since_start(now);
        self.event(ConversationEvent::CallEnded { reason, at });
        self.outputs.push_back(Output::Hangup);
    }

    /// Everything time drives: stalled caller audio, overdue synthesis and marks, paced sending,
    /// and finishing the agent turn once it has been heard.
    fn pump(&mut self, now: Instant) {
        if let Some(signal) = self.endpointer.on_time(now) {
            self.on_turn_signal(signal, now);
        }
        if self.held_deadline().is_some_and(|d| now >= d) {
            if let Some(t) = self.active.as_mut() {
                t.commit_by = Commitment::Silence;
            }
            self.commit_held(now);
        }
        let timeout = self.config.synthesis_timeout;
        // A held turn keeps its synthesized audio until it is committed.
        if let Some(turn) = self.active.as_mut().filter(|t| !t.held) {
            let id = turn.id;
            let mut failed = Vec::new();
            while let Some(f) = turn.expire_synthesis(now, timeout) {
                failed.push(f);
                turn.take_ready()
                    .into_iter()
                    .for_each(|(key, pcm)| self.playback.enqueue(key, &pcm));
            }
            for (key, pcm) in turn.take_ready() {
                self.playback.enqueue(key, &pcm);
            }
            for (seq, text) in failed {
                self.speech_failed(id, seq, text, SpeechFailure::Timeout, now);
            }
        }
        for key in self.playback.expire_marks(now) {
            let at = self.since_start(now);
            self.event(ConversationEvent::MarkTimedOut {
                turn: key.turn,
                seq: key.seq,
                at,
            });
            if let Some(t) = self.active.as_mut().filter(|t| t.id == key.turn) {
                t.mark_heard(key.seq);
                t.marks_timed_out = true;
            }
        }
        while let Some(out) = self.playback.poll_send(now) {
            match out {
                Outgoing::Frame {
                    frame,
                    key,
                    first_of_sentence,
                } => {
                    if first_of_sentence {
                        if let Some(t) = self.active.as_mut().filter(|t| t.id == key.turn) {
                            t.first_frame_at.get_or_insert(now);
                        }
                    }
                    self.outputs.push_back(Output::SendAudio(frame));
                }
                Outgoing::Mark(name) => self.outputs.push_back(Output::SendMark(name)),
            }
        }
        self.finish_heard_turn(now);
    }

    fn finish_heard_turn(&mut self, now: Instant) {
        if !self.active.as_ref().is_some_and(|t| t.all_queued()) || !self.playback.is_idle() {
            return;
        }
        let turn = self.active.take().expect("checked above");
        self.event(ConversationEvent::TurnFinished(turn.record(
            self.started_at,
            now,
            false,
            None,
        )));
        if turn.end_call {
            let reason = if turn.marks_timed_out {
                EndReason::AgentEndedWithoutMarks
            } else {
                EndReason::AgentEnded
            };
            self.end_call(reason, now);
        } else {
            // Words that arrived while this turn was being heard (none, normally).
            self.maybe_ask(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_can_move_into_a_per_call_task() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Conversation>();
    }
}
