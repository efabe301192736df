//! One call's conversation with the brain, independent of how the call carries audio.
//!
//! Media Streams (our own STT/TTS), ConversationRelay (Twilio's STT/TTS, text over a websocket)
//! and Gather (form posts) all ask the same questions: what to answer, what the reply's tools
//! settle (end, transfer, handoff, do-not-call, outcome), and what the dialogue keeps when the
//! caller interrupts. This type holds those answers so each transport only moves text.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use brain::llm_turn::{run_llm_turn, ToolEffect, TurnEvent};
use brain::{CallerInput, Contact, Decision, DialogueState, Reply, ReplyAction};
use conversation::TurnId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::agents::LoadedAgent;
use crate::call_record::{CallRecorder, StoreOp};
use crate::AppState;

/// What the call has to do once the agent's current reply has been played.
#[derive(Default)]
struct PendingEnd {
    end_call: bool,
    /// (who, number): applied only when the turn finishes, so that a reply the caller cut off
    /// never transfers them.
    transfer: Option<(String, Option<String>)>,
}

/// The brain's answer to one caller turn.
pub(crate) enum Answer {
    /// A reply known at once (rules, intents, knowledge): speak `text`, then end the call if
    /// `end_call`.
    Now { text: String, end_call: bool },
    /// A language-model turn is running: feed its events to [`BrainSession::on_llm_event`].
    Streaming {
        events: mpsc::UnboundedReceiver<TurnEvent>,
        runner: JoinHandle<()>,
    },
}

/// What one language-model event means for the transport.
pub(crate) enum LlmStep {
    /// Speak this text (a piece of the streamed reply).
    Say(String),
    /// Send these DTMF digits to the far end (if the transport can).
    SendDigits(String),
    /// The reply is complete; end the call after it has been heard if `end_call`.
    Done { end_call: bool },
}

/// The brain side of one call.
pub(crate) struct BrainSession {
    state: AppState,
    call_sid: String,
    /// The caller's (or callee's) number, for the do-not-call list.
    party_phone: Option<String>,
    outcome: Option<String>,
    follow_ups: Vec<String>,
    /// Per turn: what the LLM's tools asked for, applied when the turn is done.
    pending: HashMap<TurnId, PendingEnd>,
    /// Language-model turns started and not yet finished or cancelled; events of any other
    /// turn (queued before a cancel) are dropped.
    live_llm_turns: HashSet<TurnId>,
    /// The dialogue as it was before the latest brain turn, to undo it if the turn is
    /// superseded (the caller kept talking and their words are asked again together).
    before_turn: Option<(TurnId, DialogueState)>,
    pub(crate) agent: Arc<LoadedAgent>,
    pub(crate) recorder: CallRecorder,
    dialogue: DialogueState,
}

impl BrainSession {
    pub(crate) fn new(
        state: AppState,
        agent: Arc<LoadedAgent>,
        recorder: CallRecorder,
        call_sid: String,
        contact: Option<Contact>,
    ) -> Self {
        BrainSession {
            state,
            call_sid,
            party_phone: contact.as_ref().map(|c| c.phone.clone()),
            outcome: None,
            follow_ups: Vec::new(),
            pending: HashMap::new(),
            live_llm_turns: HashSet::new(),
            before_turn: None,
            agent,
            recorder,
            dialogue: DialogueState::for_contact(contact),
        }
    }

    /// Settles the call's outcome (e.g. `voicemail_left`).
    pub(crate) fn set_outcome(&mut self, outcome: &str) {
        self.outcome = Some(outcome.to_owned());
    }

    /// The greeting, personalised for the contact.
    pub(crate) fn greeting(&self) -> String {
        self.agent.brain.greeting_for(self.dialogue.contact())
    }

    /// Asks the brain to answer `input` as `turn`.
    pub(crate) fn ask(&mut self, turn: TurnId, input: CallerInput) -> Answer {
        self.before_turn = Some((turn, self.dialogue.clone()));
        let brain = &self.agent.brain;
        let dialogue = &mut self.dialogue;
        let decision = blocking_ok(|| brain.decide(dialogue, &input));
        let (intent, sentiment) = match &decision {
            Decision::Reply(r) => (r.intent.clone(), r.sentiment),
            Decision::AskLlm { sentiment, .. } => (None, *sentiment),
        };
        if let Some(s) = sentiment {
            self.recorder.send(StoreOp::CallerTurnUnderstood {
                intent,
                sentiment_label: s.label.as_str(),
                sentiment_score: s.score,
            });
        }
        match decision {
            Decision::Reply(reply) => {
                let end_call = self.apply_reply(turn, &reply);
                Answer::Now {
                    text: reply.text,
                    end_call,
                }
            }
            Decision::AskLlm { request, sentiment } => {
                self.recorder.send(StoreOp::Event {
                    kind: "llm_turn".into(),
                    data: serde_json::json!({
                        "turn": turn.0,
                        "sentiment": sentiment.map(|s| s.score),
                    }),
                });
                self.live_llm_turns.insert(turn);
                let brain = self.agent.brain.clone();
                let contact = self.dialogue.contact().cloned();
                let (tx, events) = mpsc::unbounded_channel();
                let runner = tokio::spawn(run_llm_turn(brain, request, contact, tx));
                Answer::Streaming { events, runner }
            }
        }
    }

    /// The transport gave up on `turn` (cancelled): what its tools asked for no longer applies.
    pub(crate) fn cancel(&mut self, turn: TurnId) {
        self.pending.remove(&turn);
    }

    /// The caller cut the agent's reply of `turn` off after hearing `heard`: the model must not
    /// believe the caller heard the rest.
    pub(crate) fn interrupted(&mut self, turn: TurnId, heard: &str) {
        if self.live_llm_turns.remove(&turn) {
            // Its own messages never arrived: what was heard is the reply.
            self.dialogue.llm_turn_interrupted(heard);
        } else {
            self.dialogue.agent_was_interrupted(heard);
        }
        self.pending.remove(&turn);
    }

    /// The caller went on talking before hearing anything of `turn`: it is asked again with all
    /// their words, so this turn must leave no trace in the dialogue.
    pub(crate) fn superseded(&mut self, turn: TurnId) {
        if let Some((t, before)) = self.before_turn.take() {
            if t == turn {
                self.dialogue = before;
            } else {
                self.before_turn = Some((t, before));
            }
        }
        self.live_llm_turns.remove(&turn);
        self.pending.remove(&turn);
    }

    /// One event of a language-model turn; `None` when the turn is no longer wanted.
    pub(crate) fn on_llm_event(&mut self, turn: TurnId, event: TurnEvent) -> Option<LlmStep> {
        if !self.live_llm_turns.contains(&turn) {
            return None;
        }
        match event {
            TurnEvent::Text(text) => Some(LlmStep::Say(text)),
            TurnEvent::Effect(effect) => {
                self.recorder.send(StoreOp::Event {
                    kind: "tool".into(),
                    data: serde_json::json!({ "turn": turn.0, "effect": format!("{effect:?}") }),
                });
                let end = match effect {
                    ToolEffect::EndCall => true,
                    ToolEffect::Handoff { .. } => {
                        let target = self.agent.config.handoff_target().map(str::to_owned);
                        self.pending.entry(turn).or_default().transfer =
                            Some(("handoff".into(), target));
                        true
                    }
                    ToolEffect::Transfer { department, number } => {
                        self.pending.entry(turn).or_default().transfer =
                            Some((department, Some(number)));
                        true
                    }
                    ToolEffect::SendDtmf(digits) => return Some(LlmStep::SendDigits(digits)),
                    ToolEffect::Outcome { outcome, follow_up } => {
                        self.outcome = Some(outcome);
                        self.follow_ups.extend(follow_up);
                        false
                    }
                };
                if end {
                    self.pending.entry(turn).or_default().end_call = true;
                }
                None
            }
            TurnEvent::Done { messages, failed } => {
                self.live_llm_turns.remove(&turn);
                self.dialogue.extend_history(messages);
                if failed {
                    self.recorder.send(StoreOp::Event {
                        kind: "llm_failed".into(),
                        data: serde_json::json!({ "turn": turn.0 }),
                    });
                }
                let pending = self.pending.remove(&turn).unwrap_or_default();
                if let Some((to, number)) = pending.transfer {
                    self.transfer(&to, number);
                }
                Some(LlmStep::Done {
                    end_call: pending.end_call,
                })
            }
        }
    }

    /// Records what an instant reply settles and returns whether the call ends after it.
    fn apply_reply(&mut self, turn: TurnId, reply: &Reply) -> bool {
        self.recorder.send(StoreOp::Event {
            kind: "brain_reply".into(),
            data: serde_json::json!({
                "turn": turn.0,
                "intent": reply.intent,
                "confidence": reply.confidence,
                "action": format!("{:?}", reply.action),
                "sentiment": reply.sentiment.map(|s| s.score),
            }),
        });
        if let Some(o) = &reply.outcome {
            self.outcome = Some(o.clone());
        }
        if reply.do_not_call {
            let phone = self.party_phone.clone();
            self.recorder.send(StoreOp::DoNotCall { phone });
        }
        match &reply.action {
            ReplyAction::None => false,
            ReplyAction::EndCall => true,
            ReplyAction::Handoff => self.transfer(
                "handoff",
                self.agent.config.handoff_target().map(str::to_owned),
            ),
            ReplyAction::Transfer { department, number } => {
                self.transfer(department, Some(number.clone()))
            }
        }
    }

    /// Arranges for the call to be connected to `number` once our part of it ends (the
    /// `<Connect action>` handler dials it). Returns true: the agent's part of the call ends.
    fn transfer(&mut self, to: &str, number: Option<String>) -> bool {
        match number {
            Some(n) => {
                self.state.set_transfer(&self.call_sid, &n);
                self.recorder.send(StoreOp::Event {
                    kind: "transfer".into(),
                    data: serde_json::json!({ "to": to, "number": n }),
                });
                self.outcome.get_or_insert_with(|| "transferred".into());
            }
            None => {
                tracing::warn!(call_sid = %self.call_sid, "handoff requested but the agent has no handoff_number or departments");
                self.recorder.send(StoreOp::Event {
                    kind: "handoff_unavailable".into(),
                    data: serde_json::json!({ "to": to }),
                });
            }
        }
        true
    }

    /// The number the call is being transferred to, if a transfer was arranged.
    pub(crate) fn transfer_target(&self) -> Option<String> {
        self.state.peek_transfer(&self.call_sid)
    }

    /// Stores the call's outcome: the one the brain settled, else how the call ended.
    pub(crate) fn record_outcome(&mut self, ended_by: &str) {
        let outcome = self.outcome.clone().unwrap_or_else(|| match ended_by {
            "agent" => "completed".into(),
            _ => "caller_hung_up".into(),
        });
        self.recorder.send(StoreOp::Outcome {
            outcome,
            detail: serde_json::json!({
                "follow_ups": self.follow_ups,
                "turns": self.dialogue.turns(),
                "sentiments": self.dialogue.sentiments().iter().map(|s| s.score).collect::<Vec<_>>(),
            }),
        });
    }
}

/// Runs CPU-bound work (sentence embeddings: 10-45 ms, up to three per turn) without stalling
/// the other tasks of this runtime worker. `block_in_place` needs the multi-threaded runtime;
/// on a current-thread runtime (some tests) the work simply runs inline.
fn blocking_ok<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Where a caller's number comes from for personalisation: the `contact_phone` parameter,
/// else the far end of the stored call. Links the call to the contact found.
pub(crate) async fn lookup_contact(
    state: &AppState,
    call_sid: &str,
    contact_phone: Option<&str>,
) -> Option<Contact> {
    let phone = match contact_phone {
        Some(p) => p.to_owned(),
        None => {
            let call = state.store.get_call(call_sid).await.ok().flatten()?.call;
            call.other_party()?.to_owned()
        }
    };
    let c = match state.store.contact_by_phone(&phone).await {
        Ok(Some(c)) => c,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "contact lookup failed; the call goes on unpersonalised");
            return None;
        }
    };
    if let Err(e) = state.store.set_call_contact(call_sid, c.id).await {
        tracing::warn!(error = %e, "could not link the call to its contact");
    }
    Some(crate::contact_from_record(c))
}
