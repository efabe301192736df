//! TEST-ONLY: a tiny axum server that plays a minimal voice agent over the Twilio wire shapes
//! (voice webhook -> TwiML, Media Streams WebSocket, status callback) and records everything the
//! sim sent, with arrival times, for the tests to check.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

use super::tone_speech::{agent_frames, ToneSpeech};

pub const GREETING: &str = "Hello! How can I help?";
pub const PREMIUM: &str = "Premium costs forty-nine dollars.";
pub const LONG: &str =
    "We have three plans: basic, plus and premium, and each of them comes with a long story.";
pub const BASIC: &str = "Basic costs nine dollars.";
pub const BYE: &str = "Bye now!";
/// The agent "thinks" this long before answering the first question.
pub const THINK: Duration = Duration::from_millis(300);
/// Caller silence that ends a caller turn for this agent.
const END_OF_TURN_FRAMES: u32 = 10;

/// How the fake agent behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Greets, answers three questions (clearing on barge-in during the long one), says bye and
    /// closes the stream after its last mark.
    Conversation,
    /// Sends malformed and wrong messages, then closes with audio still queued.
    Misbehaving,
    /// Says nothing; waits for the caller to hang up.
    Silent,
    /// Refuses the WebSocket handshake with 403.
    RefuseHandshake,
    /// Answers the voice webhook with HTTP 500.
    WebhookError,
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub params: Vec<(String, String)>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything the fake agent observed.
#[derive(Debug, Default)]
pub struct Observed {
    pub voice: Vec<Received>,
    pub status: Vec<Received>,
    pub handshake_signature: Option<String>,
    /// Text frames from the sim, parsed, with arrival times.
    pub inbound: Vec<(Instant, Value)>,
    /// Marks the agent sent, with send times.
    pub marks_sent: Vec<(Instant, String)>,
    pub clears_sent: Vec<Instant>,
    /// When the agent sent the first frame of each answer (by phrase).
    pub answers_sent: Vec<(Instant, &'static str)>,
    pub closed_by_agent: bool,
}

#[derive(Clone)]
struct AppState {
    behaviour: Behaviour,
    after_connect: &'static str,
    observed: Arc<Mutex<Observed>>,
    speech: Arc<ToneSpeech>,
}

/// Starts the agent on an ephemeral loopback port; returns its `http://` base URL.
pub async fn spawn(
    behaviour: Behaviour,
    after_connect: &'static str,
    speech: Arc<ToneSpeech>,
) -> (String, Arc<Mutex<Observed>>) {
    let observed = Arc::new(Mutex::new(Observed::default()));
    let state = AppState {
        behaviour,
        after_connect,
        observed: observed.clone(),
        speech,
    };
    let app = Router::new()
        .route("/twilio/voice", post(voice))
        .route("/twilio/status", post(status))
        .route("/media", get(media))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), observed)
}

fn received(headers: &HeaderMap, body: &str) -> Received {
    Received {
        params: serde_urlencoded::from_str(body).unwrap(),
        signature: headers
            .get("x-twilio-signature")
            .map(|v| v.to_str().unwrap().to_string()),
        content_type: headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string()),
    }
}

async fn voice(State(st): State<AppState>, headers: HeaderMap, body: String) -> Response {
    st.observed
        .lock()
        .unwrap()
        .voice
        .push(received(&headers, &body));
    if st.behaviour == Behaviour::WebhookError {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    let twiml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://agent.test/media"><Parameter name="tenant" value="acme"/></Stream></Connect>{}</Response>"#,
        st.after_connect
    );
    ([("content-type", "text/xml")], twiml).into_response()
}

async fn status(State(st): State<AppState>, headers: HeaderMap, body: String) -> StatusCode {
    st.observed
        .lock()
        .unwrap()
        .status
        .push(received(&headers, &body));
    StatusCode::NO_CONTENT
}

async fn media(State(st): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    st.observed.lock().unwrap().handshake_signature = headers
        .get("x-twilio-signature")
        .map(|v| v.to_str().unwrap().to_string());
    if st.behaviour == Behaviour::RefuseHandshake {
        return StatusCode::FORBIDDEN.into_response();
    }
    ws.on_upgrade(move |socket| agent(socket, st))
}

/// Per-connection agent state.
struct Agent {
    socket: WebSocket,
    st: AppState,
    stream_sid: String,
}

impl Agent {
    async fn send(&mut self, v: Value) {
        let _ = self.socket.send(Message::Text(v.to_string().into())).await;
    }

    async fn say(&mut self, text: &'static str, mark: &str) {
        let frames = agent_frames(&self.st.speech, text);
        self.st
            .observed
            .lock()
            .unwrap()
            .answers_sent
            .push((Instant::now(), text));
        for f in frames {
            let payload = base64::engine::general_purpose::STANDARD.encode(f);
            let sid = self.stream_sid.clone();
            self.send(json!({"event": "media", "streamSid": sid, "media": {"payload": payload}}))
                .await;
        }
        self.mark(mark).await;
    }

    async fn mark(&mut self, name: &str) {
        self.st
            .observed
            .lock()
            .unwrap()
            .marks_sent
            .push((Instant::now(), name.to_string()));
        let sid = self.stream_sid.clone();
        self.send(json!({"event": "mark", "streamSid": sid, "mark": {"name": name}}))
            .await;
    }

    async fn clear(&mut self) {
        self.st
            .observed
            .lock()
            .unwrap()
            .clears_sent
            .push(Instant::now());
        let sid = self.stream_sid.clone();
        self.send(json!({"event": "clear", "streamSid": sid})).await;
    }

    async fn close(mut self) {
        self.st.observed.lock().unwrap().closed_by_agent = true;
        let _ = self.socket.send(Message::Close(None)).await;
        // Drain until the sim acknowledges the close.
        while let Some(Ok(m)) = self.socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    }

    /// Next text frame from the sim (recorded), or `None` when the socket ended.
    async fn recv(&mut self) -> Option<Value> {
        loop {
            match self.socket.recv().await? {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    self.st
                        .observed
                        .lock()
                        .unwrap()
                        .inbound
                        .push((Instant::now(), v.clone()));
                    return Some(v);
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

async fn agent(socket: WebSocket, st: AppState) {
    let mut a = Agent {
        socket,
        st,
        stream_sid: String::new(),
    };
    // connected, then start.
    let Some(_connected) = a.recv().await else {
        return;
    };
    let Some(start) = a.recv().await else { return };
    a.stream_sid = start["streamSid"].as_str().unwrap().to_string();
    match a.st.behaviour {
        Behaviour::Conversation => conversation(a).await,
        Behaviour::Misbehaving => misbehave(a).await,
        _ => while a.recv().await.is_some() {},
    }
}

/// Greeting; question -> (think) answer; question -> long answer, cleared on barge-in; question
/// -> answer; goodbye -> bye, then close once the bye mark is echoed.
async fn conversation(mut a: Agent) {
    a.say(GREETING, "greeting").await;
    let (mut caller_active, mut silent_run, mut turn) = (false, 0u32, 0u32);
    let mut long_playing = false;
    let mut pending_answer: Option<Instant> = None;
    while let Some(msg) = a.recv().await {
        if let Some(due) = pending_answer {
            if Instant::now() >= due {
                pending_answer = None;
                a.say(PREMIUM, "premium").await;
            }
        }
        match msg["event"].as_str() {
            Some("media") => {
                let payload = msg["media"]["payload"].as_str().unwrap();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(payload)
                    .unwrap();
                let loud = audio::Frame::from_mulaw(&bytes).rms() > 500.0;
                if loud {
                    if !caller_active && long_playing {
                        // Barge-in: flush what the caller has not heard yet.
                        long_playing = false;
                        a.clear().await;
                    }
                    caller_active = true;
                    silent_run = 0;
                } else if caller_active {
                    silent_run += 1;
                    if silent_run == END_OF_TURN_FRAMES {
                        caller_active = false;
                        turn += 1;
                        match turn {
                            1 => pending_answer = Some(Instant::now() + THINK),
                            2 => {
                                a.say(LONG, "long").await;
                                long_playing = true;
                            }
                            3 => a.say(BASIC, "basic").await,
                            _ => a.say(BYE, "bye").await,
                        }
                    }
                }
            }
            Some("mark") => match msg["mark"]["name"].as_str() {
                Some("long") => long_playing = false,
                Some("bye") => return a.close().await,
                _ => {}
            },
            _ => {}
        }
    }
}

/// Everything a careless server might do, then a close with audio still queued.
async fn misbehave(mut a: Agent) {
    let _ = a.socket.send(Message::Text("{oops".into())).await;
    a.send(json!({"event": "clear", "streamSid": "MZ00000000000000000000000000000000"}))
        .await;
    let sid = a.stream_sid.clone();
    let partial = base64::engine::general_purpose::STANDARD.encode([0x10u8; 100]);
    a.send(json!({"event": "media", "streamSid": sid, "media": {"payload": partial}}))
        .await;
    a.send(json!({"event": "play", "streamSid": sid})).await;
    let _ = a.socket.send(Message::Binary(vec![1u8, 2, 3].into())).await;
    a.say(LONG, "never-heard").await;
    // Let a little of it play, then hang up on the caller mid-sentence.
    for _ in 0..10 {
        a.recv().await;
    }
    a.close().await;
}
