//! ConversationRelay mode: Twilio runs speech recognition and synthesis, we run the brain.
//!
//! `POST /twilio/relay` answers with `<Connect><ConversationRelay>` (greeting, language, voices,
//! `<Language>` options); `WS /twilio/relay/ws` receives the caller's words as `prompt`
//! messages and streams the reply back as `text` tokens. Handoffs end the session with `end`
//! and the `<Connect action>` (`/twilio/stream-ended`) dials the person.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use brain::llm_turn::TurnEvent;
use brain::CallerInput;
use conversation::TurnId;
use futures_util::{SinkExt, StreamExt};
use telephony::conversation_relay::{self as relay, RelayInbound};
use telephony::twiml::{Connect, ConversationRelay, Hangup, Language, Response as Twiml};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::brain_session::{lookup_contact, Answer, BrainSession, LlmStep};
use crate::call_record::{CallRecorder, StoreOp};
use crate::signature_check::{check_handshake, public_base, public_ws_base};
use crate::twilio_webhooks::{answering, xml, Answering, VoiceQuery};
use crate::AppState;

/// How long the goodbye may take to be spoken when Twilio does not tell us it finished.
const MAX_GOODBYE: Duration = Duration::from_secs(15);

/// `POST /twilio/relay`: answers a call with a ConversationRelay session.
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
    // The greeting is spoken by Twilio before the socket even opens: personalise it now.
    let contact = lookup_contact(&state, &hook.call_sid, None).await;
    let greeting = agent.brain.greeting_for(contact.as_ref());
    let cfg = &agent.config;
    let tw = &cfg.twilio;
    let mut cr = ConversationRelay::new(format!(
        "{}/twilio/relay/ws",
        public_ws_base(&state, &headers)
    ))
    .welcome_greeting(greeting)
    .language(cfg.language.as_str())
    .interruptible("any")
    .dtmf_detection(true)
    // `agentSpeaking` events tell us when the goodbye has been spoken, so `end` never
    // cuts it off.
    .debug("speaker-events")
    .parameter("agent", agent_key.as_str());
    if let Some(v) = &tw.tts_provider {
        cr = cr.tts_provider(v.as_str());
    }
    if let Some(v) = &tw.voice {
        cr = cr.voice(v.as_str());
    }
    if let Some(v) = &tw.transcription_provider {
        cr = cr.transcription_provider(v.as_str());
    }
    if let Some(v) = &tw.speech_model {
        cr = cr.speech_model(v.as_str());
    }
    if let Some(v) = &tw.hints {
        cr = cr.hints(v.as_str());
    }
    for l in &tw.languages {
        let mut lang = Language::new(l.code.as_str());
        if let Some(v) = &l.tts_provider {
            lang = lang.tts_provider(v.as_str());
        }
        if let Some(v) = &l.voice {
            lang = lang.voice(v.as_str());
        }
        if let Some(v) = &l.transcription_provider {
            lang = lang.transcription_provider(v.as_str());
        }
        if let Some(v) = &l.speech_model {
            lang = lang.speech_model(v.as_str());
        }
        cr = cr.language_option(lang);
    }
    let action = format!("{}/twilio/stream-ended", public_base(&state, &headers));
    let doc = Twiml::new()
        .push(Connect::new().action(action).conversation_relay(cr))
        .push(Hangup::new())
        .to_xml();
    xml(doc)
}

/// `WS /twilio/relay/ws`: checks the handshake's signature, then runs the session.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(code) = check_handshake(&state, &headers, &uri) {
        return code.into_response();
    }
    crate::media_stream::sized(ws).on_upgrade(move |socket| run(socket, state))
}

/// A running language-model turn and the task forwarding its events.
struct LlmTask {
    runner: JoinHandle<()>,
    forward: JoinHandle<()>,
}

impl LlmTask {
    /// Stops the model (and drops its queued events).
    fn abort(&self) {
        self.runner.abort();
        self.forward.abort();
    }
}

/// The agent turn being spoken (or generated).
struct Speaking {
    turn: TurnId,
    /// Everything sent for this turn so far.
    sent: String,
    /// The language model still streams it.
    llm: Option<LlmTask>,
    /// When the caller's prompt arrived (for the reply latency).
    asked_at: Instant,
    first_token_ms: Option<i64>,
    /// The call ends once this reply has been spoken.
    end_call: bool,
    /// All text has been sent (`last: true`).
    complete: bool,
}

async fn run(socket: WebSocket, state: AppState) {
    let _active = state.call_guard();
    let (mut tx, mut rx) = socket.split();
    let setup = loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => match relay::parse_inbound(&t) {
                Ok(RelayInbound::Setup(s)) => break s,
                Ok(other) => {
                    tracing::warn!(message = ?other, "relay: message before setup, skipped")
                }
                Err(e) => tracing::warn!(error = %e, "relay: malformed message skipped"),
            },
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => {}
        }
    };
    let call_sid = setup.call_sid.clone();
    let agent = match state
        .agents
        .get(setup.custom_parameters.get("agent").map(String::as_str))
        .or_else(|_| state.agents.get(None))
    {
        Ok(a) => a,
        Err(_) => return,
    };
    tracing::info!(%call_sid, session = %setup.session_id, agent = %agent.config.name, "relay session");
    let recorder = CallRecorder::spawn(state.store.clone(), call_sid.clone());
    recorder.send(StoreOp::StreamStarted {
        stream_sid: setup.session_id.clone(),
        account_sid: setup.account_sid.clone(),
        agent: agent.config.name.clone(),
    });
    recorder.send(StoreOp::Event {
        kind: "relay_setup".into(),
        data: serde_json::json!({ "session_id": setup.session_id, "from": setup.from, "to": setup.to }),
    });
    let contact = lookup_contact(
        &state,
        &call_sid,
        setup
            .custom_parameters
            .get("contact_phone")
            .map(String::as_str),
    )
    .await;
    let started = Instant::now();
    let mut session = Session {
        brain: BrainSession::new(
            state.clone(),
            agent,
            recorder.clone(),
            call_sid.clone(),
            contact,
        ),
        recorder,
        started,
        next_turn: 1,
        speaking: None,
        out: Vec::new(),
        end_at: None,
        ended: false,
    };
    // Twilio spoke the welcome greeting (turn 0).
    let greeting = session.brain.greeting();
    session.record_turn(store::Speaker::Agent, &greeting, false, Default::default());

    let (llm_tx, mut llm_rx) = mpsc::unbounded_channel::<(TurnId, TurnEvent)>();
    let mut ended_by = "caller";
    loop {
        for msg in std::mem::take(&mut session.out) {
            if tx.send(Message::Text(msg.into())).await.is_err() {
                ended_by = "socket";
                break;
            }
        }
        if session.ended {
            ended_by = "agent";
            break;
        }
        let end_at = session.end_at;
        let timer = async move {
            match end_at {
                Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => match relay::parse_inbound(&t) {
                    Ok(m) => session.on_message(m, &llm_tx),
                    // An invalid frame is skipped, never fatal (as Twilio does with ours).
                    Err(e) => tracing::warn!(error = %e, %call_sid, "relay: message skipped"),
                },
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, %call_sid, "relay socket error");
                    ended_by = "socket";
                    break;
                }
            },
            Some((turn, event)) = llm_rx.recv() => session.on_llm_event(turn, event),
            _ = timer => session.finish(),
        }
    }
    if let Some(s) = session.speaking.take() {
        if let Some(h) = &s.llm {
            h.abort();
        }
        session.record_spoken(&s);
    }
    if ended_by == "agent" {
        let _ = tx.send(Message::Close(None)).await;
    } else {
        // The caller left first: no transfer will be asked for.
        let _ = state.take_transfer(&call_sid);
    }
    session.brain.record_outcome(ended_by);
    session.recorder.send(StoreOp::Ended {
        by: ended_by.to_string(),
    });
    tracing::info!(%call_sid, ended_by, "relay session ended");
}

struct Session {
    brain: BrainSession,
    recorder: CallRecorder,
    started: Instant,
    next_turn: u32,
    speaking: Option<Speaking>,
    /// Messages to send, in order.
    out: Vec<String>,
    /// When to send `end` if Twilio never says the goodbye was spoken.
    end_at: Option<Instant>,
    /// `end` was sent: close the socket.
    ended: bool,
}

impl Session {
    fn record_turn(
        &self,
        speaker: store::Speaker,
        text: &str,
        interrupted: bool,
        timings: store::TurnTimings,
    ) {
        self.record_turn_at(speaker, text, interrupted, timings, Instant::now());
    }

    fn record_turn_at(
        &self,
        speaker: store::Speaker,
        text: &str,
        interrupted: bool,
        timings: store::TurnTimings,
        at: Instant,
    ) {
        self.recorder.send(StoreOp::Turn(store::NewTurn {
            speaker,
            text: text.to_owned(),
            interrupted,
            at_ms: at.saturating_duration_since(self.started).as_millis() as i64,
            timings,
            intent: None,
        }));
    }

    fn on_message(&mut self, m: RelayInbound, llm_tx: &mpsc::UnboundedSender<(TurnId, TurnEvent)>) {
        match m {
            RelayInbound::Prompt { text, last, .. } => {
                // Partial prompts repeat the growing utterance; only the final one is a turn.
                if last && !text.trim().is_empty() {
                    self.caller_turn(CallerInput::Speech(text.clone()), &text, llm_tx);
                }
            }
            RelayInbound::Dtmf { digit } => {
                if let Some(d) = digit.chars().next() {
                    self.recorder.send(StoreOp::Event {
                        kind: "dtmf".into(),
                        data: serde_json::json!({ "digit": digit }),
                    });
                    self.caller_turn(CallerInput::Dtmf(d), &format!("[pressed {d}]"), llm_tx);
                }
            }
            RelayInbound::Interrupt { heard, duration_ms } => {
                if let Some(s) = self.speaking.take() {
                    if let Some(h) = &s.llm {
                        h.abort();
                    }
                    // The history keeps only what the caller heard.
                    self.brain.interrupted(s.turn, &heard);
                    self.record_turn_at(
                        store::Speaker::Agent,
                        &heard,
                        true,
                        s.timings(),
                        s.asked_at,
                    );
                    self.recorder.send(StoreOp::Event {
                        kind: "barge_in".into(),
                        data: serde_json::json!({ "turn": s.turn.0, "heard": heard, "after_ms": duration_ms }),
                    });
                    // A goodbye or transfer the caller talked over is not carried out.
                    self.end_at = None;
                }
            }
            RelayInbound::Info { name, value } => {
                if name == "agentSpeaking" && value == "off" {
                    if let Some(s) = &self.speaking {
                        if s.complete && s.end_call {
                            self.finish();
                        }
                    }
                }
            }
            RelayInbound::Error { description } => {
                tracing::warn!(%description, "relay: Twilio reported an error");
                self.recorder.send(StoreOp::Event {
                    kind: "relay_error".into(),
                    data: serde_json::json!({ "description": description }),
                });
            }
            RelayInbound::Setup(_) => tracing::warn!("relay: duplicate setup skipped"),
            RelayInbound::Unknown(kind) => tracing::debug!(%kind, "relay: unknown message type"),
        }
    }

    fn caller_turn(
        &mut self,
        input: CallerInput,
        text: &str,
        llm_tx: &mpsc::UnboundedSender<(TurnId, TurnEvent)>,
    ) {
        // A new prompt while a reply is still being generated: Twilio has moved on, so the old
        // reply is dropped (what was already sent stays as heard).
        if let Some(s) = self.speaking.take() {
            if let Some(h) = &s.llm {
                h.abort();
                self.brain.interrupted(s.turn, &s.sent);
            }
            self.record_spoken(&s);
        }
        self.end_at = None;
        self.record_turn(store::Speaker::Caller, text, false, Default::default());
        let turn = TurnId(self.next_turn);
        self.next_turn += 1;
        let asked_at = Instant::now();
        match self.brain.ask(turn, input) {
            Answer::Now { text, end_call } => {
                self.out.push(relay::text_message(&text, true));
                let mut s = Speaking {
                    turn,
                    sent: text,
                    llm: None,
                    asked_at,
                    first_token_ms: Some(asked_at.elapsed().as_millis() as i64),
                    end_call,
                    complete: true,
                };
                self.complete(&mut s);
                self.speaking = Some(s);
            }
            Answer::Streaming { mut events, runner } => {
                let tx = llm_tx.clone();
                let forward = tokio::spawn(async move {
                    while let Some(e) = events.recv().await {
                        if tx.send((turn, e)).is_err() {
                            break;
                        }
                    }
                });
                self.speaking = Some(Speaking {
                    turn,
                    sent: String::new(),
                    llm: Some(LlmTask { runner, forward }),
                    asked_at,
                    first_token_ms: None,
                    end_call: false,
                    complete: false,
                });
            }
        }
    }

    fn on_llm_event(&mut self, turn: TurnId, event: TurnEvent) {
        let Some(mut s) = self.speaking.take() else {
            let _ = self.brain.on_llm_event(turn, event);
            return;
        };
        if s.turn != turn {
            self.speaking = Some(s);
            return;
        }
        match self.brain.on_llm_event(turn, event) {
            Some(LlmStep::Say(text)) => {
                if s.first_token_ms.is_none() {
                    s.first_token_ms = Some(s.asked_at.elapsed().as_millis() as i64);
                }
                self.out.push(relay::text_message(&text, false));
                s.sent.push_str(&text);
            }
            Some(LlmStep::SendDigits(digits)) => {
                self.out.push(relay::send_digits_message(&digits));
                self.recorder.send(StoreOp::Event {
                    kind: "send_digits".into(),
                    data: serde_json::json!({ "digits": digits }),
                });
            }
            Some(LlmStep::Done { end_call }) => {
                // Close the talk cycle.
                self.out.push(relay::text_message("", true));
                s.llm = None;
                s.end_call = end_call;
                s.complete = true;
                self.complete(&mut s);
            }
            None => {}
        }
        self.speaking = Some(s);
    }

    /// The whole reply has been sent: if the call ends after it, arrange `end` for when Twilio
    /// says it has been spoken (or a generous estimate, if it never does). The turn itself is
    /// recorded once it is over: when the caller answers, interrupts or the call ends.
    fn complete(&mut self, s: &mut Speaking) {
        if s.end_call {
            let words = s.sent.split_whitespace().count().max(8) as u64;
            let estimate = Duration::from_millis(words * 400 + 1500).min(MAX_GOODBYE);
            self.end_at = Some(Instant::now() + estimate);
        }
    }

    /// Records an agent turn that was not interrupted (cut short only if still streaming).
    fn record_spoken(&self, s: &Speaking) {
        if !s.sent.trim().is_empty() {
            self.record_turn_at(
                store::Speaker::Agent,
                &s.sent,
                !s.complete,
                s.timings(),
                s.asked_at,
            );
        }
    }

    /// Sends `end`, with handoff data when a transfer was arranged.
    fn finish(&mut self) {
        if self.ended {
            return;
        }
        let handoff = self
            .brain
            .transfer_target()
            .map(|to| serde_json::json!({ "reason": "transfer", "to": to }).to_string());
        self.out.push(relay::end_message(handoff.as_deref()));
        self.end_at = None;
        self.ended = true;
    }
}

impl Speaking {
    fn timings(&self) -> store::TurnTimings {
        store::TurnTimings {
            transcript_to_reply_ms: self.first_token_ms,
            ..Default::default()
        }
    }
}
