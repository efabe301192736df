//! Twilio's side of a ConversationRelay session (spec 5): the signed handshake, `setup`, the
//! caller's lines as final `prompt`s, `interrupt`s with what the caller heard, `dtmf`, and
//! `info agentSpeaking` around the agent's simulated speech; the server's `text` tokens,
//! `sendDigits` and `end` are read and checked.
//!
//! Speech is simulated on the clock: a reply is "spoken" from its first token for
//! [`speaking_time`] of its text (at least until `last: true`), which is what lets the server
//! wait for `agentSpeaking off` before ending the call, and what an `interrupt` cuts.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::call::is_loopback_ws;
use crate::error::SimError;
use crate::ids::new_sid;
use crate::report::EndReason;
use crate::script::{Interrupt, Listen, Step};
use crate::signature::{sign, SIGNATURE_HEADER};
use crate::text_log::{heard_prefix, speaking_time, TextLog};
use crate::text_mode::{Caller, TextCall};
use crate::text_twiml::RelayVerb;
use crate::urls::Target;

/// How long the WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the session ended, how long to wait for the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_millis(500);
/// Between two key presses.
const DTMF_GAP: Duration = Duration::from_millis(200);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a relay session ended, for the `<Connect action>` request.
pub(crate) struct SessionEnd {
    pub session_id: String,
    pub duration: Duration,
    /// `handoffData` of the server's `end`.
    pub handoff: Option<String>,
    /// Set when the caller left (hung up, or the call timed out): the call is over.
    pub caller_left: Option<EndReason>,
}

impl SessionEnd {
    /// The session parameters Twilio adds to the call's on the `<Connect action>` (spec 5.3).
    pub fn action_params(&self, session_status: &str) -> Vec<(String, String)> {
        let mut p = vec![
            ("SessionId".to_string(), self.session_id.clone()),
            ("SessionStatus".to_string(), session_status.to_string()),
            (
                "SessionDuration".to_string(),
                self.duration.as_secs_f64().round().to_string(),
            ),
        ];
        if let Some(h) = &self.handoff {
            p.push(("HandoffData".to_string(), h.clone()));
        }
        p
    }
}

/// Connects the relay WebSocket and plays the caller's script over it until the session ends.
/// Only a refused handshake is an error; the server's mistakes go into the log.
pub(crate) async fn run_relay(
    ctx: &TextCall<'_>,
    log: &mut TextLog,
    caller: &mut Caller<'_>,
    verb: &RelayVerb,
    doc: &Target,
) -> Result<SessionEnd, SimError> {
    let target = ctx.endpoints.resolve_ws(&verb.url, &doc.signed);
    check_url(log, &target.signed);
    let ws = connect(&target, ctx.token()).await?;
    let started = Instant::now();
    let session_id = new_sid("VX");
    log.session_ids.push(session_id.clone());
    let (sink, incoming) = ws.split();
    let mut relay = Relay {
        sink,
        incoming,
        log,
        verb,
        deadline: ctx.deadline,
        cycles: VecDeque::new(),
        ended: None,
        server_closed: false,
        socket_gone: false,
        timed_out: false,
    };
    let custom: serde_json::Map<String, Value> = verb
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let call = &ctx.call;
    relay
        .send(json!({
            "type": "setup", "sessionId": session_id, "accountSid": call.account_sid,
            "parentCallSid": "", "callSid": call.call_sid, "from": call.from, "to": call.to,
            "forwardedFrom": "", "callType": "PSTN", "callerName": "",
            "direction": call.direction, "callStatus": "RINGING", "customParameters": custom,
        }))
        .await;
    if let Some(greeting) = &verb.welcome_greeting {
        // Twilio speaks the greeting as soon as the session connects.
        relay
            .add_text(greeting, true, verb.greeting_interruptible)
            .await;
    }
    let caller_left = relay.play(caller, ctx.cfg.hangup_grace).await;
    relay.finish(caller_left.is_some()).await;
    Ok(SessionEnd {
        session_id,
        duration: started.elapsed(),
        handoff: relay.ended.flatten(),
        caller_left,
    })
}

/// Notes relay URLs Twilio would refuse (spec 3.1: `wss://` only).
fn check_url(log: &mut TextLog, url: &str) {
    if !url.starts_with("wss://") {
        let msg = format!("<ConversationRelay url={url:?}>: Twilio only connects to wss://");
        // A local server without TLS is the normal demo setup.
        if is_loopback_ws(url) {
            log.warn(format!("{msg}; accepted for a loopback server"));
        } else {
            log.error(msg);
        }
    }
}

async fn connect(target: &Target, token: Option<&str>) -> Result<Ws, SimError> {
    let handshake_err = |reason: String| SimError::Handshake {
        url: target.transport.clone(),
        reason,
    };
    let mut request = target
        .transport
        .as_str()
        .into_client_request()
        .map_err(|e| handshake_err(e.to_string()))?;
    if let Some(token) = token {
        // Signed like a GET over the URL from the TwiML, with no parameters (spec 2.4).
        let sig = HeaderValue::from_str(&sign(token, &target.signed, &[]))
            .map_err(|e| handshake_err(e.to_string()))?;
        request.headers_mut().insert(SIGNATURE_HEADER, sig);
    }
    let (ws, _) =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| handshake_err(format!("no answer within {HANDSHAKE_TIMEOUT:?}")))?
            .map_err(|e| handshake_err(e.to_string()))?;
    Ok(ws)
}

/// One talk cycle of the agent (text up to `last: true`), being spoken or queued behind the
/// one being spoken (Twilio does not let a new cycle cut the current one by default).
struct Cycle {
    /// When its speech started (queued: when its first token arrived, until it starts).
    started: Instant,
    text: String,
    latency_ms: Option<u64>,
    /// `last: true` arrived.
    complete: bool,
    /// When the speech ends; known once complete and speaking.
    ends: Option<Instant>,
    interruptible: bool,
}

/// What a wait is for.
enum Wake {
    Now,
    At(Instant),
    Events,
}

#[derive(PartialEq)]
enum Waited {
    Done,
    TimedOut,
    /// The session is over (`end`, closed socket, call timeout).
    Over,
}

struct Relay<'l> {
    sink: SplitSink<Ws, Message>,
    incoming: SplitStream<Ws>,
    log: &'l mut TextLog,
    verb: &'l RelayVerb,
    deadline: Instant,
    /// The cycle being spoken first, then those queued behind it.
    cycles: VecDeque<Cycle>,
    /// `end` received, with its handoff data.
    ended: Option<Option<String>>,
    server_closed: bool,
    /// The socket can no longer be used (closed either way, or broken).
    socket_gone: bool,
    timed_out: bool,
}

impl Relay<'_> {
    fn over(&self) -> bool {
        self.ended.is_some() || self.socket_gone || self.timed_out
    }

    async fn send(&mut self, v: Value) {
        if self.socket_gone {
            return;
        }
        if self.sink.send(Message::text(v.to_string())).await.is_err() {
            self.socket_gone = true;
        }
    }

    async fn agent_speaking(&mut self, value: &str) {
        if self.verb.speaker_events {
            self.send(json!({"type": "info", "name": "agentSpeaking", "value": value}))
                .await;
        }
    }

    /// Text of a talk cycle arrived: continues the open cycle or opens a new one, which is
    /// spoken at once or queued behind the one being spoken.
    async fn add_text(&mut self, token: &str, last: bool, interruptible: bool) {
        let now = Instant::now();
        match self.cycles.back_mut() {
            Some(c) if !c.complete => c.text.push_str(token),
            _ => {
                let latency_ms = self.log.agent_started(self.log.at(now));
                let idle = self.cycles.is_empty();
                self.cycles.push_back(Cycle {
                    started: now,
                    text: token.to_string(),
                    latency_ms,
                    complete: false,
                    ends: None,
                    interruptible,
                });
                if idle {
                    self.agent_speaking("on").await;
                }
            }
        }
        if last {
            if let Some(c) = self.cycles.back_mut() {
                c.complete = true;
            }
            if self.cycles.len() == 1 {
                self.schedule_end(now);
            }
        }
    }

    /// The speaking cycle is complete: it ends its speaking time after its first word.
    fn schedule_end(&mut self, now: Instant) {
        if let Some(c) = self.cycles.front_mut().filter(|c| c.complete) {
            c.ends = Some((c.started + speaking_time(&c.text)).max(now));
        }
    }

    /// Ends the cycle at `at`, cut short or not.
    fn log_cycle(&mut self, c: Cycle, at: Instant, cut: bool) {
        let (start, end) = (self.log.at(c.started), self.log.at(at.max(c.started)));
        self.log.agent(start, end, &c.text, cut, c.latency_ms);
    }

    /// Finishes the speech whose time is up and starts the next queued cycle.
    async fn advance(&mut self) {
        let now = Instant::now();
        while let Some(ends) = self.speech_end().filter(|e| *e <= now) {
            if let Some(c) = self.cycles.pop_front() {
                self.log_cycle(c, ends, false);
            }
            self.agent_speaking("off").await;
            if let Some(next) = self.cycles.front_mut() {
                next.started = next.started.max(ends);
                self.agent_speaking("on").await;
                self.schedule_end(now);
            }
        }
    }

    fn speech_end(&self) -> Option<Instant> {
        self.cycles.front().and_then(|c| c.ends)
    }

    /// Twilio stops speaking now: the current cycle is cut, queued ones are never heard.
    async fn cut_speech(&mut self) {
        let now = Instant::now();
        let mut spoken = false;
        while let Some(c) = self.cycles.pop_front() {
            spoken = true;
            self.log_cycle(c, now, true);
        }
        if spoken {
            self.agent_speaking("off").await;
        }
    }

    /// Handles server messages and speech timers until `cond` holds, `until` passes or the
    /// session is over.
    async fn wait(&mut self, until: Instant, cond: impl Fn(&Self, Instant) -> Wake) -> Waited {
        loop {
            self.advance().await;
            if self.over() {
                return Waited::Over;
            }
            let now = Instant::now();
            if now >= self.deadline {
                self.timed_out = true;
                return Waited::Over;
            }
            let mut wake = until.min(self.deadline);
            match cond(self, now) {
                Wake::Now => return Waited::Done,
                Wake::At(t) => wake = wake.min(t),
                Wake::Events => {}
            }
            if now >= until {
                return Waited::TimedOut;
            }
            if let Some(ends) = self.speech_end() {
                wake = wake.min(ends);
            }
            let frame = tokio::select! {
                _ = tokio::time::sleep_until(wake) => None,
                msg = self.incoming.next() => Some(msg),
            };
            if let Some(msg) = frame {
                self.on_frame(msg).await;
            }
        }
    }

    async fn on_frame(&mut self, msg: Option<Result<Message, tungstenite::Error>>) {
        match msg {
            Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
            Some(Ok(Message::Binary(_))) => self
                .log
                .error("binary WebSocket frame: ConversationRelay messages are JSON text".into()),
            // tungstenite answers pings itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(_))) | None => {
                self.server_closed = true;
                self.socket_gone = true;
            }
            Some(Err(e)) => {
                self.log.error(format!("WebSocket error: {e}"));
                self.socket_gone = true;
            }
        }
    }

    /// A message Twilio would reject: noted, and answered with Twilio's `error` (spec 5).
    async fn invalid(&mut self, reason: String) {
        self.log.error(reason.clone());
        self.send(
            json!({"type": "error", "description": format!("Invalid message received: {reason}")}),
        )
        .await;
    }

    async fn on_text(&mut self, raw: &str) {
        let v: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                return self
                    .invalid(format!("message is not JSON ({e}): {raw:.200}"))
                    .await
            }
        };
        let Some(kind) = v.get("type").and_then(Value::as_str) else {
            return self
                .invalid(format!("message without a string `type`: {raw:.200}"))
                .await;
        };
        if self.ended.is_some() {
            self.log.error(format!("a `{kind}` message after `end`"));
            return;
        }
        match kind {
            "text" => {
                let Some(token) = v.get("token").and_then(Value::as_str) else {
                    return self
                        .invalid(format!("`text` without a string `token`: {raw:.200}"))
                        .await;
                };
                let last = v.get("last").and_then(Value::as_bool).unwrap_or(false);
                let interruptible = match v.get("interruptible") {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) => !matches!(s.as_str(), "none" | "dtmf" | "false"),
                    _ => self.verb.speech_interrupts,
                };
                self.add_text(token, last, interruptible).await;
            }
            "sendDigits" => match v.get("digits").and_then(Value::as_str) {
                Some(d) => self.log.twilio(format!("sendDigits {d:?}")),
                None => {
                    self.invalid(format!("`sendDigits` without `digits`: {raw:.200}"))
                        .await
                }
            },
            "end" => {
                let handoff = match v.get("handoffData") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => {
                        self.log
                            .error(format!("`end.handoffData` must be a string, got {other}"));
                        Some(other.to_string())
                    }
                };
                self.ended = Some(handoff);
            }
            "play" => {
                let source = v.get("source").and_then(Value::as_str).unwrap_or("");
                self.log.twilio(format!("play {source}"));
            }
            "language" => self.log.twilio(format!("language {}", v)),
            other => {
                self.invalid(format!("unknown message type `{other}`"))
                    .await
            }
        }
    }

    /// Plays script steps until the session ends; returns why the caller left, if they did.
    async fn play(&mut self, caller: &mut Caller<'_>, grace: Duration) -> Option<EndReason> {
        while !self.over() {
            let Some(step) = caller.next_step() else {
                break;
            };
            match step {
                Step::Listen(l) => self.listen(l).await,
                Step::Say(text) => self.speak(text, false).await,
                Step::Interrupt(i) => self.interrupt(i).await,
                Step::Dtmf(digits) => self.keys(digits).await,
                Step::Pause(d) => {
                    self.wait(Instant::now() + *d, |_, _| Wake::Events).await;
                }
                Step::Hangup => return Some(EndReason::CallerHungUp),
            }
        }
        if !self.over() {
            // The script is done: the caller stays on the line a while for the server to end.
            if self.wait(Instant::now() + grace, |_, _| Wake::Events).await == Waited::TimedOut {
                return Some(EndReason::CallerHungUp);
            }
        }
        if self.timed_out {
            self.log
                .warn("the call timeout was reached; the caller hangs up".into());
            return Some(EndReason::Timeout);
        }
        None
    }

    /// Waits until the agent has spoken and then stayed quiet for `l.quiet`.
    async fn listen(&mut self, l: &Listen) {
        let quiet = l.quiet;
        let waited = self
            .wait(Instant::now() + l.timeout, |s, now| {
                if !s.cycles.is_empty() {
                    return Wake::Events;
                }
                match s.log.unheard_since() {
                    Some(end) if now >= s.log.instant(end) + quiet => Wake::Now,
                    Some(end) => Wake::At(s.log.instant(end) + quiet),
                    None => Wake::Events,
                }
            })
            .await;
        if waited == Waited::TimedOut {
            self.log.warn(format!(
                "listen: the agent had not spoken and gone quiet within {:?}",
                l.timeout
            ));
        }
        self.log.listened();
    }

    /// Waits for the agent's next speech, lets `after` of it play, then speaks into it.
    async fn interrupt(&mut self, i: &Interrupt) {
        let waited = self
            .wait(Instant::now() + i.timeout, |s, _| match s.cycles.front() {
                Some(_) => Wake::Now,
                None => Wake::Events,
            })
            .await;
        match waited {
            Waited::Over => return,
            Waited::TimedOut => self.log.warn(format!(
                "interrupt: the agent did not start speaking within {:?}; the caller speaks anyway",
                i.timeout
            )),
            Waited::Done => {
                let at = self.cycles.front().map_or_else(Instant::now, |c| c.started) + i.after;
                let waited = self
                    .wait(at, |s, _| match s.cycles.front() {
                        Some(_) => Wake::Events,
                        None => Wake::Now,
                    })
                    .await;
                if waited == Waited::Over {
                    return;
                }
                if waited == Waited::Done {
                    self.log.warn(format!(
                        "interrupt: the agent finished speaking before {:?}; the caller's line is no interruption",
                        i.after
                    ));
                }
            }
        }
        self.speak(&i.say, true).await;
    }

    /// The caller says `text`: over the agent's speech Twilio first sends `interrupt` with what
    /// the caller heard, then the final `prompt`.
    async fn speak(&mut self, text: &str, interrupt_step: bool) {
        if self.cycles.front().is_some_and(|c| !c.interruptible) {
            self.log.warn(
                "the agent's speech is not interruptible: the caller's line is delivered after it"
                    .into(),
            );
            let until = self.deadline;
            if self
                .wait(until, |s, _| match s.cycles.front() {
                    Some(_) => Wake::Events,
                    None => Wake::Now,
                })
                .await
                != Waited::Done
            {
                return;
            }
        }
        if let Some(c) = self.cycles.front() {
            let elapsed = c.started.elapsed();
            let heard = heard_prefix(&c.text, elapsed).to_string();
            self.send(json!({
                "type": "interrupt", "utteranceUntilInterrupt": heard,
                "durationUntilInterruptMs": elapsed.as_millis() as u64,
            }))
            .await;
            self.cut_speech().await;
        }
        self.send(json!({"type": "prompt", "voicePrompt": text, "lang": self.verb.language, "last": true}))
            .await;
        self.log.caller(text, interrupt_step);
    }

    async fn keys(&mut self, digits: &str) {
        if !self.verb.dtmf_detection {
            self.log.warn(format!(
                "dtmf {digits:?}: <ConversationRelay dtmfDetection> is off, Twilio does not forward keys"
            ));
            return;
        }
        for digit in digits.chars() {
            self.send(json!({"type": "dtmf", "digit": digit.to_string()}))
                .await;
            self.log.dtmf(digit);
            if self
                .wait(Instant::now() + DTMF_GAP, |_, _| Wake::Events)
                .await
                == Waited::Over
            {
                return;
            }
        }
    }

    /// Closes the session: logs speech still in progress, closes the socket and notes messages
    /// the server sends after `end`.
    async fn finish(&mut self, caller_left: bool) {
        let now = Instant::now();
        if !self.cycles.is_empty() {
            let still_speaking = self.speech_end().is_none_or(|e| e > now);
            if still_speaking && self.ended.is_some() && !caller_left {
                self.log.warn(
                    "`end` arrived while the agent was still speaking: Twilio cuts the speech off"
                        .into(),
                );
            }
            // Nothing is sent any more: the session is over.
            while let Some(c) = self.cycles.pop_front() {
                let cut = c.ends.is_none_or(|e| e > now);
                let end = c.ends.map_or(now, |e| e.min(now));
                self.log_cycle(c, end, cut);
            }
        }
        if self.server_closed && self.ended.is_none() {
            self.log
                .warn("the server closed the relay socket without sending `end`".into());
        }
        self.log.server_closed = self.ended.is_some() || self.server_closed;
        if self.socket_gone {
            return;
        }
        let _ = self.sink.send(Message::Close(None)).await;
        let deadline = Instant::now() + CLOSE_WAIT;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.incoming.next()).await
        {
            match msg {
                Message::Close(_) => break,
                // Only `end` makes later messages a fault; after a hang-up they are just late.
                Message::Text(t) if self.ended.is_some() => self.on_text(t.as_str()).await,
                _ => {}
            }
        }
    }
}
