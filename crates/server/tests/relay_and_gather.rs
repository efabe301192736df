//! Twilio's other two ways to run a voice agent, driven over loopback the way Twilio drives
//! them: ConversationRelay (`POST /twilio/relay` + `WS /twilio/relay/ws`, Twilio does the
//! speech, we exchange text) and Gather (form posts only). Same brain, same call records.

mod common;

use std::time::Duration;

use common::{elements, pairs, El, TestServer, AUTH_TOKEN, PUBLIC_URL};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const ACCOUNT_SID: &str = "AC66666666666666666666666666666666";
const CALLER: &str = "+15551230009";
const OUR_NUMBER: &str = "+15559870002";
const HANDOFF_NUMBER: &str = "+14155550100";
const PUBLIC_RELAY_URL: &str = "wss://agent.example.test/twilio/relay/ws";
const WAIT: Duration = Duration::from_secs(10);

const AGENT_NAME: &str = "greeter";
const AGENT_TOML: &str = r#"
name = "Ava"
greeting = "Hi {contact.first_name|there}, thanks for calling."
fallback = "Sorry, I didn't catch that."
closing = "Thanks for calling. Goodbye!"
handoff = "Connecting you now."
handoff_number = "+14155550100"

[twilio]
say_voice = "Polly.Joanna-Neural"
transcription_provider = "Deepgram"
speech_model = "nova-3-general"

[[twilio.languages]]
code = "es-MX"
tts_provider = "Google"
voice = "es-US-Neural2-A"

[[intents]]
name = "hours"
examples = ["when are you open", "what are your opening hours"]
reply = "We're open nine to five."
"#;

async fn server() -> TestServer {
    TestServer::start_with_agent(AGENT_NAME, AGENT_TOML).await
}

fn voice_form(call_sid: &str) -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", CALLER),
        ("To", OUR_NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ])
}

fn find<'a>(els: &'a [El], name: &str, doc: &str) -> &'a El {
    els.iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no <{name}> in {doc}"))
}

async fn twiml(srv: &TestServer, path: &str, form: &[(String, String)]) -> (Vec<El>, String) {
    let resp = srv.post_signed(path, form).await;
    assert_eq!(resp.status(), 200, "{path}");
    let body = resp.text().await.unwrap();
    (elements(&body), body)
}

// --- ConversationRelay ---------------------------------------------------------------------

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Twilio's side of a relay session.
struct Relay {
    tx: SplitSink<Ws, Message>,
    rx: SplitStream<Ws>,
}

impl Relay {
    async fn open(srv: &TestServer, call_sid: &str) -> Relay {
        let mut request = format!("ws://{}/twilio/relay/ws", srv.addr)
            .into_client_request()
            .unwrap();
        let sig = telephony::signature::compute_signature(AUTH_TOKEN, PUBLIC_RELAY_URL, &[]);
        request
            .headers_mut()
            .insert("X-Twilio-Signature", HeaderValue::from_str(&sig).unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("signed relay handshake accepted");
        let (tx, rx) = ws.split();
        let mut relay = Relay { tx, rx };
        relay
            .send(json!({
                "type": "setup", "sessionId": "VX0001", "accountSid": ACCOUNT_SID,
                "parentCallSid": "", "callSid": call_sid, "from": CALLER, "to": OUR_NUMBER,
                "forwardedFrom": "", "callType": "PSTN", "callerName": "", "direction": "inbound",
                "callStatus": "RINGING", "customParameters": {"agent": AGENT_NAME}
            }))
            .await;
        relay
    }

    async fn send(&mut self, v: Value) {
        self.tx
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("relay socket open");
    }

    async fn prompt(&mut self, text: &str) {
        self.send(json!({"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": true}))
            .await;
    }

    /// The next message from the server; `None` once the server closed the socket.
    async fn next(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(WAIT, self.rx.next())
                .await
                .expect("server answers in time")
            {
                Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Collects `text` tokens up to the one with `last: true`.
    async fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let m = self.next().await.expect("a reply before the socket closes");
            assert_eq!(m["type"], "text", "unexpected message {m}");
            out.push_str(m["token"].as_str().unwrap());
            if m["last"] == true {
                return out;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_twiml_connects_conversation_relay_with_greeting_voices_and_languages() {
    let srv = server().await;
    let (els, doc) = twiml(&srv, "/twilio/relay", &voice_form("CA_RELAY_TWIML")).await;
    let connect = find(&els, "Connect", &doc);
    assert_eq!(
        connect.attr("action"),
        Some(format!("{PUBLIC_URL}/twilio/stream-ended").as_str())
    );
    let cr = find(&els, "ConversationRelay", &doc);
    assert_eq!(cr.attr("url"), Some(PUBLIC_RELAY_URL));
    assert_eq!(
        cr.attr("welcomeGreeting"),
        Some("Hi there, thanks for calling.")
    );
    assert_eq!(cr.attr("language"), Some("en-US"));
    assert_eq!(cr.attr("transcriptionProvider"), Some("Deepgram"));
    assert_eq!(cr.attr("speechModel"), Some("nova-3-general"));
    assert_eq!(cr.attr("dtmfDetection"), Some("true"));
    let lang = find(&els, "Language", &doc);
    assert_eq!(lang.attr("code"), Some("es-MX"));
    assert_eq!(lang.attr("voice"), Some("es-US-Neural2-A"));
    let param = find(&els, "Parameter", &doc);
    assert_eq!(param.attr("name"), Some("agent"));
    assert_eq!(param.attr("value"), Some(AGENT_NAME));
    let call = srv.store.get_call("CA_RELAY_TWIML").await.unwrap().unwrap();
    assert_eq!(call.call.agent.as_deref(), Some("Ava"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_session_answers_prompts_and_ends_once_the_goodbye_was_spoken() {
    let srv = server().await;
    let sid = "CA_RELAY_CONVERSATION";
    twiml(&srv, "/twilio/relay", &voice_form(sid)).await;
    let mut relay = Relay::open(&srv, sid).await;
    // A partial prompt is not a turn.
    relay
        .send(json!({"type": "prompt", "voicePrompt": "when are", "last": false}))
        .await;
    relay.prompt("When are you open?").await;
    assert_eq!(relay.reply().await, "We're open nine to five.");
    relay.prompt("Great, thanks. Goodbye!").await;
    assert_eq!(relay.reply().await, "Thanks for calling. Goodbye!");
    // Twilio reports the goodbye spoken: only now does the session end.
    relay
        .send(json!({"type": "info", "name": "agentSpeaking", "value": "on"}))
        .await;
    relay
        .send(json!({"type": "info", "name": "agentSpeaking", "value": "off"}))
        .await;
    let end = relay.next().await.expect("an end message");
    assert_eq!(end["type"], "end");
    assert!(end.get("handoffData").is_none(), "{end}");
    assert!(relay.next().await.is_none(), "socket closed after end");

    let detail = srv
        .wait_for_call(sid, WAIT, |d| {
            d.call.outcome.is_some() && d.turns.len() >= 5
        })
        .await;
    let texts: Vec<_> = detail.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Hi there, thanks for calling.",
            "When are you open?",
            "We're open nine to five.",
            "Great, thanks. Goodbye!",
            "Thanks for calling. Goodbye!"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_interrupt_keeps_only_what_the_caller_heard() {
    let srv = server().await;
    let sid = "CA_RELAY_INTERRUPT";
    twiml(&srv, "/twilio/relay", &voice_form(sid)).await;
    let mut relay = Relay::open(&srv, sid).await;
    relay.prompt("What are your opening hours?").await;
    relay.reply().await;
    relay
        .send(json!({"type": "interrupt", "utteranceUntilInterrupt": "We're open", "durationUntilInterruptMs": "460"}))
        .await;
    relay.prompt("Goodbye").await;
    relay.reply().await;
    let detail = srv.wait_for_call(sid, WAIT, |d| d.turns.len() >= 4).await;
    let cut = detail
        .turns
        .iter()
        .find(|t| t.interrupted)
        .expect("an interrupted agent turn");
    assert_eq!(cut.text, "We're open");
    drop(relay);
    srv.wait_for_call(sid, WAIT, |d| d.call.outcome.is_some())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_handoff_ends_with_handoff_data_and_the_action_dials_the_person() {
    let srv = server().await;
    let sid = "CA_RELAY_HANDOFF";
    twiml(&srv, "/twilio/relay", &voice_form(sid)).await;
    let mut relay = Relay::open(&srv, sid).await;
    relay.prompt("Can I speak to a human?").await;
    assert_eq!(relay.reply().await, "Connecting you now.");
    relay
        .send(json!({"type": "info", "name": "agentSpeaking", "value": "off"}))
        .await;
    let end = relay.next().await.expect("an end message");
    assert_eq!(end["type"], "end");
    let data: Value = serde_json::from_str(end["handoffData"].as_str().unwrap()).unwrap();
    assert_eq!(data["to"], HANDOFF_NUMBER);
    // Twilio posts the Connect action with the handoff data: we answer with the dial.
    let mut form = voice_form(sid);
    form.push(("SessionStatus".into(), "ended".into()));
    form.push((
        "HandoffData".into(),
        end["handoffData"].as_str().unwrap().into(),
    ));
    let (els, doc) = twiml(&srv, "/twilio/stream-ended", &form).await;
    assert_eq!(find(&els, "Number", &doc).text, HANDOFF_NUMBER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_rejects_forged_webhooks_and_unsigned_sockets() {
    let srv = server().await;
    let resp = srv
        .post_form(
            "/twilio/relay",
            &voice_form("CA_FORGED"),
            Some("bm90IGEgc2lnbmF0dXJl"),
        )
        .await;
    assert_eq!(resp.status(), 403);
    let request = format!("ws://{}/twilio/relay/ws", srv.addr)
        .into_client_request()
        .unwrap();
    let err = tokio_tungstenite::connect_async(request)
        .await
        .expect_err("unsigned handshake refused");
    assert!(err.to_string().contains("403"), "{err}");
}

// --- Gather --------------------------------------------------------------------------------

fn gather_form(
    call_sid: &str,
    speech: Option<&str>,
    digits: Option<&str>,
) -> Vec<(String, String)> {
    let mut f = voice_form(call_sid);
    f.retain(|(k, _)| k != "CallStatus");
    f.push(("CallStatus".into(), "in-progress".into()));
    if let Some(s) = speech {
        f.push(("SpeechResult".into(), s.into()));
        f.push(("Confidence".into(), "0.92".into()));
    }
    if let Some(d) = digits {
        f.push(("Digits".into(), d.into()));
    }
    f
}

const ACTION: &str = "/twilio/gather/action?agent=greeter";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_mode_answers_each_speech_result_and_listens_again() {
    let srv = server().await;
    let sid = "CA_GATHER_CONVERSATION";
    let (els, doc) = twiml(&srv, "/twilio/gather?agent=greeter", &voice_form(sid)).await;
    let g = find(&els, "Gather", &doc);
    assert_eq!(g.attr("input"), Some("speech dtmf"));
    assert_eq!(
        g.attr("action"),
        Some(format!("{PUBLIC_URL}{ACTION}").as_str())
    );
    assert_eq!(g.attr("actionOnEmptyResult"), Some("true"));
    let say = find(&els, "Say", &doc);
    assert_eq!(say.text, "Hi there, thanks for calling.");
    assert_eq!(say.attr("voice"), Some("Polly.Joanna-Neural"));

    let (els, doc) = twiml(
        &srv,
        ACTION,
        &gather_form(sid, Some("When are you open?"), None),
    )
    .await;
    assert_eq!(find(&els, "Say", &doc).text, "We're open nine to five.");
    find(&els, "Gather", &doc);

    let (els, doc) = twiml(&srv, ACTION, &gather_form(sid, Some("Goodbye!"), None)).await;
    assert_eq!(find(&els, "Say", &doc).text, "Thanks for calling. Goodbye!");
    find(&els, "Hangup", &doc);
    assert!(els.iter().all(|e| e.name != "Gather"), "{doc}");

    let detail = srv
        .wait_for_call(sid, WAIT, |d| {
            d.call.outcome.is_some() && d.turns.len() >= 5
        })
        .await;
    let texts: Vec<_> = detail.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts[1], "When are you open?");
    assert_eq!(texts[2], "We're open nine to five.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_silence_reprompts_then_hangs_up_after_three() {
    let srv = server().await;
    let sid = "CA_GATHER_SILENT";
    twiml(&srv, "/twilio/gather?agent=greeter", &voice_form(sid)).await;
    for _ in 0..2 {
        let (els, doc) = twiml(&srv, ACTION, &gather_form(sid, None, None)).await;
        assert!(
            find(&els, "Say", &doc).text.contains("didn't catch"),
            "{doc}"
        );
        find(&els, "Gather", &doc);
    }
    let (els, doc) = twiml(&srv, ACTION, &gather_form(sid, None, None)).await;
    find(&els, "Hangup", &doc);
    srv.wait_for_call(sid, WAIT, |d| d.call.outcome.is_some())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_handoff_dials_the_person_and_caller_hangup_closes_the_books() {
    let srv = server().await;
    let sid = "CA_GATHER_HANDOFF";
    twiml(&srv, "/twilio/gather?agent=greeter", &voice_form(sid)).await;
    let (els, doc) = twiml(
        &srv,
        ACTION,
        &gather_form(sid, Some("Can I speak to a human?"), None),
    )
    .await;
    assert_eq!(find(&els, "Say", &doc).text, "Connecting you now.");
    assert_eq!(find(&els, "Number", &doc).text, HANDOFF_NUMBER);

    // Another call: the caller hangs up mid-conversation; the status callback ends it.
    let sid2 = "CA_GATHER_HUNG_UP";
    twiml(&srv, "/twilio/gather?agent=greeter", &voice_form(sid2)).await;
    let mut status = voice_form(sid2);
    status.retain(|(k, _)| k != "CallStatus");
    status.push(("CallStatus".into(), "completed".into()));
    let resp = srv.post_signed("/twilio/status", &status).await;
    assert!(resp.status().is_success());
    let d = srv
        .wait_for_call(sid2, WAIT, |d| d.call.outcome.is_some())
        .await;
    assert_eq!(d.call.outcome.as_deref(), Some("caller_hung_up"));
}
