//! Gather mode: no websockets at all. Twilio speaks our replies with `<Say>` and listens with
//! `<Gather input="speech dtmf">`; each answer comes back as a form post to the action URL,
//! which asks the brain and returns the next `<Say>` + `<Gather>`. For the simplest accounts and
//! as a degraded mode when media streaming is unavailable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use brain::CallerInput;
use conversation::TurnId;
use telephony::twiml::{Gather, Hangup, Play, Response as Twiml, Say};

use crate::agents::LoadedAgent;
use crate::brain_session::{lookup_contact, Answer, BrainSession, LlmStep};
use crate::call_record::{CallRecorder, StoreOp};
use crate::signature_check::public_base;
use crate::twilio_webhooks::{answering, dial_to, signed_form, xml, Answering, VoiceQuery};
use crate::AppState;

/// Silent gathers in a row before the agent gives up and hangs up.
const MAX_SILENCES: u32 = 3;
/// Twilio waits 15 s for a webhook's answer: leave room for the network.
const REPLY_BUDGET: Duration = Duration::from_secs(10);
const DIDNT_CATCH: &str = "Sorry, I didn't catch that. Could you say it again?";
const GIVING_UP: &str = "I haven't heard anything, so I'll end the call now. Goodbye.";
const TOO_SLOW: &str = "Sorry, that took me too long. Could you ask me again?";

/// One call in Gather mode, between form posts.
pub(crate) struct GatherCall {
    brain: BrainSession,
    recorder: CallRecorder,
    agent: Arc<LoadedAgent>,
    agent_key: String,
    started: Instant,
    next_turn: u32,
    silences: u32,
}

/// Gather-mode calls in progress, by CallSid.
#[derive(Clone, Default)]
pub(crate) struct GatherCalls(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<GatherCall>>>>>);

impl GatherCalls {
    fn get(&self, call_sid: &str) -> Option<Arc<tokio::sync::Mutex<GatherCall>>> {
        self.0.lock().ok()?.get(call_sid).cloned()
    }
    fn insert(&self, call_sid: &str, call: GatherCall) -> Arc<tokio::sync::Mutex<GatherCall>> {
        let call = Arc::new(tokio::sync::Mutex::new(call));
        if let Ok(mut m) = self.0.lock() {
            m.insert(call_sid.to_owned(), call.clone());
        }
        call
    }
    fn remove(&self, call_sid: &str) -> Option<Arc<tokio::sync::Mutex<GatherCall>>> {
        self.0.lock().ok()?.remove(call_sid)
    }
}

async fn start_call(
    state: &AppState,
    call_sid: &str,
    agent: Arc<LoadedAgent>,
    agent_key: String,
) -> GatherCall {
    let recorder = CallRecorder::spawn(state.store.clone(), call_sid.to_owned());
    recorder.send(StoreOp::Event {
        kind: "gather_started".into(),
        data: serde_json::json!({ "agent": agent.config.name }),
    });
    let contact = lookup_contact(state, call_sid, None).await;
    let brain = BrainSession::new(
        state.clone(),
        agent.clone(),
        recorder.clone(),
        call_sid.to_owned(),
        contact,
    );
    GatherCall {
        brain,
        recorder,
        agent,
        agent_key,
        started: Instant::now(),
        next_turn: 1,
        silences: 0,
    }
}

impl GatherCall {
    fn record_turn(&self, speaker: store::Speaker, text: &str, reply_ms: Option<i64>) {
        self.recorder.send(StoreOp::Turn(store::NewTurn {
            speaker,
            text: text.to_owned(),
            interrupted: false,
            at_ms: self.started.elapsed().as_millis() as i64,
            timings: store::TurnTimings {
                transcript_to_reply_ms: reply_ms,
                ..Default::default()
            },
            intent: None,
        }));
    }

    fn say(&self, text: &str) -> Say {
        let say = Say::new(text).attr("language", self.agent.config.language.as_str());
        match &self.agent.config.twilio.say_voice {
            Some(v) => say.attr("voice", v.as_str()),
            None => say,
        }
    }

    /// `<Gather>` around `prompt`: listens for speech or a key, always posting back (empty
    /// results included, so silence is ours to handle).
    fn gather(&self, state: &AppState, headers: &HeaderMap, prompt: Say) -> Gather {
        let cfg = &self.agent.config;
        let action = format!(
            "{}/twilio/gather/action?agent={}",
            public_base(state, headers),
            self.agent_key
        );
        let mut g = Gather::new()
            .input("speech dtmf")
            .action(action)
            .method("POST")
            .speech_timeout("auto")
            .num_digits(1)
            .language(cfg.language.as_str())
            .action_on_empty_result(true);
        if let Some(h) = &cfg.twilio.hints {
            g = g.hints(h.as_str());
        }
        g.say(prompt)
    }

    /// Ends the brain's side of the call.
    fn finish(&mut self, ended_by: &str) {
        self.brain.record_outcome(ended_by);
        self.recorder.send(StoreOp::Ended {
            by: ended_by.to_owned(),
        });
    }
}

/// `POST /twilio/gather`: answers a call in Gather mode with the greeting.
pub(crate) async fn answer(
    State(state): State<AppState>,
    Query(q): Query<VoiceQuery>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Answering {
        hook,
        agent,
        agent_key,
        ..
    } = match answering(&state, q.agent.as_deref(), &headers, &uri, &body).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let call = start_call(&state, &hook.call_sid, agent, agent_key).await;
    let greeting = call.brain.greeting();
    call.record_turn(store::Speaker::Agent, &greeting, None);
    let doc = Twiml::new()
        .push(call.gather(&state, &headers, call.say(&greeting)))
        .to_xml();
    state.gather_calls.insert(&hook.call_sid, call);
    xml(doc)
}

/// `POST /twilio/gather/action`: the caller said something (or nothing); answer and listen again.
pub(crate) async fn action(
    State(state): State<AppState>,
    Query(q): Query<VoiceQuery>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = match signed_form(&state, &headers, &uri, &body) {
        Ok(p) => p,
        Err(code) => return code.into_response(),
    };
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let call_sid = field("CallSid");
    if call_sid.is_empty() {
        return (StatusCode::BAD_REQUEST, "missing CallSid").into_response();
    }
    let call = match state.gather_calls.get(&call_sid) {
        Some(c) => c,
        None => {
            // A restart lost the session: carry on with a fresh one rather than drop the caller.
            let agent = match state.agents.get(q.agent.as_deref()) {
                Ok(a) => a,
                Err(_) => match state.agents.get(None) {
                    Ok(a) => a,
                    Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                },
            };
            let key = q
                .agent
                .clone()
                .unwrap_or_else(|| state.agents.default_name().to_owned());
            let c = start_call(&state, &call_sid, agent, key).await;
            state.gather_calls.insert(&call_sid, c)
        }
    };
    let mut call = call.lock().await;
    let speech = field("SpeechResult");
    let digits = field("Digits");
    let (input, said) = if !speech.is_empty() {
        (CallerInput::Speech(speech.clone()), speech)
    } else if let Some(d) = digits.chars().next() {
        (CallerInput::Dtmf(d), format!("[pressed {digits}]"))
    } else {
        call.silences += 1;
        call.recorder.send(StoreOp::Event {
            kind: "gather_silence".into(),
            data: serde_json::json!({ "in_a_row": call.silences }),
        });
        if call.silences >= MAX_SILENCES {
            call.record_turn(store::Speaker::Agent, GIVING_UP, None);
            call.finish("agent");
            let doc = Twiml::new()
                .push(call.say(GIVING_UP))
                .push(Hangup::new())
                .to_xml();
            drop(call);
            state.gather_calls.remove(&call_sid);
            return xml(doc);
        }
        call.record_turn(store::Speaker::Agent, DIDNT_CATCH, None);
        let doc = Twiml::new()
            .push(call.gather(&state, &headers, call.say(DIDNT_CATCH)))
            .to_xml();
        return xml(doc);
    };
    call.silences = 0;
    if let Ok(c) = field("Confidence").parse::<f64>() {
        call.recorder.send(StoreOp::Event {
            kind: "gather_confidence".into(),
            data: serde_json::json!({ "confidence": c }),
        });
    }
    call.record_turn(store::Speaker::Caller, &said, None);
    let turn = TurnId(call.next_turn);
    call.next_turn += 1;
    let asked = Instant::now();
    let mut reply = String::new();
    let mut digits_out: Vec<String> = Vec::new();
    let end_call = match call.brain.ask(turn, input) {
        Answer::Now { text, end_call } => {
            reply = text;
            end_call
        }
        Answer::Streaming { mut events, runner } => {
            let deadline = tokio::time::Instant::now() + REPLY_BUDGET;
            let mut end = false;
            loop {
                match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(Some(ev)) => match call.brain.on_llm_event(turn, ev) {
                        Some(LlmStep::Say(t)) => reply.push_str(&t),
                        Some(LlmStep::SendDigits(d)) => digits_out.push(d),
                        Some(LlmStep::Done { end_call }) => {
                            end = end_call;
                            break;
                        }
                        None => {}
                    },
                    Ok(None) => break,
                    Err(_) => {
                        // Never leave the caller in silence past Twilio's webhook timeout.
                        runner.abort();
                        call.brain.interrupted(turn, &reply);
                        call.recorder.send(StoreOp::Event {
                            kind: "gather_reply_timeout".into(),
                            data: serde_json::json!({ "turn": turn.0 }),
                        });
                        if reply.trim().is_empty() {
                            reply = TOO_SLOW.to_owned();
                        }
                        break;
                    }
                }
            }
            end
        }
    };
    let reply_ms = asked.elapsed().as_millis() as i64;
    call.record_turn(store::Speaker::Agent, &reply, Some(reply_ms));
    let mut doc = Twiml::new();
    for d in digits_out {
        doc = doc.push(Play::digits(d));
    }
    if end_call {
        doc = doc.push(call.say(&reply));
        if let Some(number) = state.take_transfer(&call_sid) {
            doc = doc.push(dial_to(number));
        }
        doc = doc.push(Hangup::new());
        call.finish("agent");
        drop(call);
        state.gather_calls.remove(&call_sid);
    } else {
        doc = doc.push(call.gather(&state, &headers, call.say(&reply)));
    }
    xml(doc.to_xml())
}

/// The call ended (status callback): a Gather-mode call the caller hung up closes its books.
pub(crate) async fn call_ended(state: &AppState, call_sid: &str) {
    if let Some(call) = state.gather_calls.remove(call_sid) {
        call.lock().await.finish("caller");
    }
}
