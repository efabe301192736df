//! TEST-ONLY: a tiny axum server playing a voice agent in the two text modes over the Twilio
//! wire shapes (ConversationRelay TwiML + WebSocket, Gather TwiML + action posts, status
//! callback), recording everything the sim sent, with signature checks, for the tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use speech::{SpeechAudio, SpeechError, Stt, Tts};

pub const TOKEN: &str = "test-auth-token-0123456789abcdef";
pub const PUBLIC: &str = "https://agent.test";
pub const GREETING: &str = "Hello! How can I help?";
pub const PREMIUM: &str = "Premium costs forty-nine dollars.";
pub const LONG: &str =
    "We have three plans: basic, plus and premium, and each of them comes with a long story.";
pub const BASIC: &str = "Basic costs nine dollars.";
pub const PRESSED: &str = "You pressed one.";
pub const BYE: &str = "Bye now!";
pub const Q_PREMIUM: &str = "How much is the premium plan?";
pub const Q_PLANS: &str = "Tell me about your plans.";
pub const Q_BASIC: &str = "Sorry, how much is basic?";
pub const Q_BYE: &str = "Goodbye.";
pub const HANDOFF: &str = r#"{"reason":"done"}"#;
/// The agent "thinks" this long before its first token.
pub const THINK: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers the questions above, ends after its goodbye was spoken.
    Conversation,
    /// Breaks the protocol: relay messages without token or after `end`; a Gather without
    /// action and a non-XML answer.
    Misbehaving,
}

/// A webhook request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub params: Vec<(String, String)>,
    pub signature_ok: bool,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything the server saw.
#[derive(Debug, Default)]
pub struct Observed {
    pub webhooks: Vec<Received>,
    pub handshake_signature_ok: Option<bool>,
    /// Relay messages from the sim, with arrival times.
    pub relay_in: Vec<(Instant, Value)>,
}

#[derive(Clone)]
struct App {
    behaviour: Behaviour,
    observed: Arc<Mutex<Observed>>,
}

/// Starts the agent on a loopback port: (`http://127.0.0.1:port`, observations).
pub async fn start(behaviour: Behaviour) -> (String, Arc<Mutex<Observed>>) {
    let observed = Arc::new(Mutex::new(Observed::default()));
    let app = App {
        behaviour,
        observed: observed.clone(),
    };
    let router = Router::new()
        .route("/twilio/relay", post(relay_answer))
        .route("/relay/ws", get(relay_ws))
        .route("/relay-done", post(relay_done))
        .route("/twilio/gather", post(gather_answer))
        .route("/gather/next", post(gather_next))
        .route("/twilio/status", post(status))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), observed)
}

/// Independent re-computation of Twilio's signature (spec 2.1), not the sim's code.
pub fn expected_signature(url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let data: String = std::iter::once(url.to_string())
        .chain(sorted.iter().map(|(k, v)| format!("{k}{v}")))
        .collect();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn record(app: &App, headers: &HeaderMap, uri: &Uri, body: &str) -> Received {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
    let url = format!("{PUBLIC}{uri}");
    let signature_ok = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == expected_signature(&url, &params));
    let r = Received {
        path: uri.path().to_string(),
        params,
        signature_ok,
    };
    app.observed.lock().unwrap().webhooks.push(r.clone());
    r
}

fn xml(doc: String) -> Response {
    ([("content-type", "text/xml")], doc).into_response()
}

async fn status(State(app): State<App>, headers: HeaderMap, uri: Uri, body: String) -> Response {
    record(&app, &headers, &uri, &body);
    "".into_response()
}

// --- ConversationRelay ---------------------------------------------------------------------

async fn relay_answer(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    record(&app, &headers, &uri, &body);
    xml(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="{PUBLIC}/relay-done"><ConversationRelay url="wss://agent.test/relay/ws" welcomeGreeting="{GREETING}" dtmfDetection="true" interruptible="any" debug="speaker-events"><Parameter name="agent" value="ava"/></ConversationRelay></Connect><Hangup/></Response>"#
    ))
}

async fn relay_done(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = record(&app, &headers, &uri, &body);
    match r.param("HandoffData") {
        Some(_) => {
            xml("<Response><Dial><Number>+14155550100</Number></Dial><Hangup/></Response>".into())
        }
        None => xml("<Response><Hangup/></Response>".into()),
    }
}

async fn relay_ws(State(app): State<App>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let ok = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == expected_signature("wss://agent.test/relay/ws", &[]));
    app.observed.lock().unwrap().handshake_signature_ok = Some(ok);
    ws.on_upgrade(move |socket| relay_session(socket, app))
}

fn answer_to(prompt: &str) -> &'static str {
    match prompt {
        Q_PREMIUM => PREMIUM,
        Q_PLANS => LONG,
        Q_BASIC => BASIC,
        Q_BYE => BYE,
        _ => "Sorry?",
    }
}

async fn send(socket: &mut WebSocket, v: Value) {
    let _ = socket.send(Message::Text(v.to_string().into())).await;
}

/// Streams `reply` as two tokens, the way an LLM would.
async fn stream_reply(socket: &mut WebSocket, reply: &str) {
    tokio::time::sleep(THINK).await;
    let cut = reply.find(' ').map_or(reply.len(), |i| i + 1);
    send(
        socket,
        json!({"type": "text", "token": &reply[..cut], "last": false}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(
        socket,
        json!({"type": "text", "token": &reply[cut..], "last": true}),
    )
    .await;
}

async fn relay_session(mut socket: WebSocket, app: App) {
    let mut goodbye_sent = false;
    while let Some(Ok(msg)) = socket.recv().await {
        let Message::Text(t) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        app.observed
            .lock()
            .unwrap()
            .relay_in
            .push((Instant::now(), v.clone()));
        match (app.behaviour, v["type"].as_str().unwrap_or("")) {
            (Behaviour::Misbehaving, "setup") => {
                send(&mut socket, json!({"type": "text", "last": true})).await;
                send(&mut socket, json!({"type": "bogus"})).await;
                send(&mut socket, json!({"type": "end"})).await;
                send(
                    &mut socket,
                    json!({"type": "text", "token": "late", "last": true}),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = socket.send(Message::Close(None)).await;
            }
            (Behaviour::Conversation, "prompt") => {
                let reply = answer_to(v["voicePrompt"].as_str().unwrap_or(""));
                goodbye_sent = reply == BYE;
                stream_reply(&mut socket, reply).await;
            }
            (Behaviour::Conversation, "dtmf") => stream_reply(&mut socket, PRESSED).await,
            // Ends only once the goodbye has been spoken, never cutting it off.
            (Behaviour::Conversation, "info") if goodbye_sent && v["value"] == "off" => {
                send(&mut socket, json!({"type": "end", "handoffData": HANDOFF})).await;
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            _ => {}
        }
    }
}

// --- Gather --------------------------------------------------------------------------------

fn gather(say: &str) -> String {
    format!(
        r#"<Gather input="speech dtmf" action="/gather/next?turn=1" actionOnEmptyResult="true" numDigits="1"><Say voice="Polly.Joanna">{say}</Say></Gather>"#
    )
}

async fn gather_answer(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = record(&app, &headers, &uri, &body);
    match app.behaviour {
        Behaviour::Conversation => xml(format!("<Response>{}</Response>", gather(GREETING))),
        // No action: Twilio posts the result back here, and then gets no XML.
        Behaviour::Misbehaving if r.param("SpeechResult").is_some() => {
            ([("content-type", "text/plain")], "not xml at all").into_response()
        }
        Behaviour::Misbehaving => {
            xml(r#"<Response><Gather input="speech"><Say>Hi.</Say></Gather></Response>"#.into())
        }
    }
}

async fn gather_next(
    State(app): State<App>,
    Query(_q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = record(&app, &headers, &uri, &body);
    tokio::time::sleep(THINK).await;
    let reply = match (r.param("SpeechResult"), r.param("Digits")) {
        (Some(s), _) => answer_to(s),
        (None, Some("1")) => PRESSED,
        _ => "I didn't catch that.",
    };
    if reply == BYE {
        xml(format!("<Response><Say>{BYE}</Say><Hangup/></Response>"))
    } else {
        xml(format!("<Response>{}</Response>", gather(reply)))
    }
}

/// Speech that fails if used: the text modes must not run TTS or STT.
pub struct NoSpeech;

impl Tts for NoSpeech {
    fn synthesize(&self, _: &str) -> Result<SpeechAudio, SpeechError> {
        Err(SpeechError::InvalidInput(
            "text modes must not synthesize".into(),
        ))
    }
    fn name(&self) -> &str {
        "no-tts"
    }
}

impl Stt for NoSpeech {
    fn transcribe(&self, _: &[i16], _: u32) -> Result<String, SpeechError> {
        Err(SpeechError::InvalidInput(
            "text modes must not transcribe".into(),
        ))
    }
    fn name(&self) -> &str {
        "no-stt"
    }
}
