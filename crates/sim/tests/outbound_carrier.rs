//! The outbound carrier end to end on loopback: callpilot's own Twilio REST client (crate
//! `telephony`) creates calls against the sim's REST API, and a tiny in-test agent receives the
//! signed callbacks, the voice webhook and the media stream.

#[path = "support/tone_speech.rs"]
mod tone_speech;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use sim::{CallerScript, EndReason, FarEnd, LogKind, OutboundCarrier, OutboundConfig};
use telephony::rest::{
    CallEvent, CreateCall, MachineDetection, RestError, TwilioRest, TwilioRestConfig,
};
use tokio::sync::Notify;
use tone_speech::{agent_frames, ToneSpeech};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token-0123456789abcdef";
const AGENT_NUMBER: &str = "+14155550199";
const BUSY: &str = "+14155550101";
const NO_ANSWER: &str = "+14155550102";
const VOICEMAIL: &str = "+14155550103";
const PERSON: &str = "+14155550104";
const GREETING: &str = "Leave a message.";
const MESSAGE: &str = "Please call us back.";
const HELLO: &str = "Hello?";

fn speech() -> Arc<ToneSpeech> {
    Arc::new(ToneSpeech {
        phrases: vec![GREETING, MESSAGE, HELLO],
    })
}

/// A request the agent received.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    params: Vec<(String, String)>,
    signature: Option<String>,
}

impl Got {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Agent {
    base: String,
    got: Arc<Mutex<Vec<Got>>>,
    amd: Arc<Notify>,
    speech: Arc<ToneSpeech>,
}

/// Callbacks and webhooks: record and answer (TwiML for the voice URL, 204 otherwise).
async fn hook(
    State(agent): State<Agent>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    agent.got.lock().unwrap().push(Got {
        path: path.clone(),
        params: serde_urlencoded::from_str(&body).unwrap(),
        signature: headers
            .get("x-twilio-signature")
            .map(|v| v.to_str().unwrap().to_string()),
    });
    match path.as_str() {
        "amd" => {
            agent.amd.notify_one();
            axum::http::StatusCode::NO_CONTENT.into_response()
        }
        "voice" => {
            let ws = agent.base.replace("http://", "ws://");
            (
                [("content-type", "text/xml")],
                format!(r#"<Response><Connect><Stream url="{ws}/media"/></Connect></Response>"#),
            )
                .into_response()
        }
        _ => axum::http::StatusCode::NO_CONTENT.into_response(),
    }
}

/// The media stream: waits for the AMD result, leaves the message, closes after its mark.
async fn media(State(agent): State<Agent>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| leave_message(agent, socket))
}

async fn leave_message(agent: Agent, mut socket: WebSocket) {
    let mut stream_sid = String::new();
    while stream_sid.is_empty() {
        let Some(Ok(Message::Text(t))) = socket.recv().await else {
            return;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if v["event"] == "start" {
            stream_sid = v["streamSid"].as_str().unwrap().to_string();
        }
    }
    // The agent talks only once AMD says a machine is listening (after its beep).
    tokio::select! {
        _ = agent.amd.notified() => {}
        _ = drain(&mut socket) => return,
    }
    for frame in agent_frames(&agent.speech, MESSAGE) {
        let payload = base64::engine::general_purpose::STANDARD.encode(frame);
        let msg = json!({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}});
        if socket.send(Message::text(msg.to_string())).await.is_err() {
            return;
        }
    }
    let mark = json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": "message"}});
    let _ = socket.send(Message::text(mark.to_string())).await;
    while let Some(Ok(m)) = socket.recv().await {
        if let Message::Text(t) = m {
            if serde_json::from_str::<Value>(t.as_str()).unwrap()["event"] == "mark" {
                break;
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// Reads until the socket ends.
async fn drain(socket: &mut WebSocket) {
    while let Some(Ok(_)) = socket.recv().await {}
}

async fn spawn_agent(speech: Arc<ToneSpeech>) -> Agent {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent = Agent {
        base: format!("http://{}", listener.local_addr().unwrap()),
        got: Arc::default(),
        amd: Arc::new(Notify::new()),
        speech,
    };
    let app = Router::new()
        .route("/media", get(media))
        .route("/hooks/{path}", post(hook))
        .with_state(agent.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    agent
}

async fn start_carrier(speech: Arc<ToneSpeech>) -> OutboundCarrier {
    let mut cfg = OutboundConfig::new(ACCOUNT, TOKEN, speech.clone(), speech);
    cfg.ring = Duration::from_millis(200);
    cfg.max_ring = Duration::from_millis(400);
    cfg.hangup_grace = Duration::from_millis(300);
    cfg.call_timeout = Duration::from_secs(20);
    cfg.voicemail_max = Duration::from_secs(10);
    cfg.plans.insert(BUSY.into(), FarEnd::Busy);
    cfg.plans.insert(NO_ANSWER.into(), FarEnd::NoAnswer);
    cfg.plans.insert(
        VOICEMAIL.into(),
        FarEnd::Voicemail {
            greeting_text: GREETING.into(),
            beep: true,
        },
    );
    let person = CallerScript::from_yaml(&format!(
        "from: \"{PERSON}\"\nto: \"{AGENT_NUMBER}\"\nsteps:\n  - say: \"{HELLO}\"\n  - listen: {{ timeout_s: 30 }}\n"
    ))
    .unwrap();
    cfg.plans.insert(PERSON.into(), FarEnd::Answer(person));
    OutboundCarrier::start(cfg).await.unwrap()
}

fn client(carrier: &OutboundCarrier, token: &str) -> TwilioRest {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = TwilioRestConfig::new(ACCOUNT, token);
    cfg.api_base = carrier.api_base();
    cfg.calls_per_second = 50.0;
    TwilioRest::new(cfg).unwrap()
}

/// A create request sent by hand, to see the raw answer.
async fn raw_create(
    carrier: &OutboundCarrier,
    token: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(format!(
            "{}/Accounts/{ACCOUNT}/Calls.json",
            carrier.api_base()
        ))
        .basic_auth(ACCOUNT, Some(token))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

fn signed_by_token(agent: &Agent, got: &Got) -> bool {
    let url = format!("{}/hooks/{}", agent.base, got.path);
    let sig = got.signature.as_deref().unwrap_or("");
    telephony::signature::validate(TOKEN, &url, &got.params, sig)
}

fn received(agent: &Agent, path: &str) -> Vec<Got> {
    agent
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|g| g.path == path)
        .cloned()
        .collect()
}

fn create(agent: &Agent, to: &str) -> CreateCall {
    CreateCall {
        status_callback: Some(format!("{}/hooks/status", agent.base)),
        status_callback_events: CallEvent::ALL.to_vec(),
        ..CreateCall::new(to, AGENT_NUMBER, format!("{}/hooks/voice", agent.base))
    }
}

#[tokio::test]
async fn busy_plan_sends_initiated_ringing_busy_signed_callbacks() {
    let speech = speech();
    let agent = spawn_agent(speech.clone()).await;
    let carrier = start_carrier(speech).await;
    let rest = client(&carrier, TOKEN);

    let call = rest.create_call(&create(&agent, BUSY)).await.unwrap();
    assert_eq!(call.status, telephony::CallStatus::Queued);
    assert!(call.sid.starts_with("CA") && call.sid.len() == 34);
    let done = carrier
        .wait_for(&call.sid, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.status, "busy");
    assert!(done.report.is_none());

    let status = received(&agent, "status");
    let statuses: Vec<&str> = status
        .iter()
        .map(|g| g.param("CallStatus").unwrap())
        .collect();
    assert_eq!(statuses, ["initiated", "ringing", "busy"]);
    for (i, g) in status.iter().enumerate() {
        assert!(signed_by_token(&agent, g), "callback {i} badly signed");
        assert_eq!(g.param("CallSid"), Some(call.sid.as_str()));
        assert_eq!(g.param("Direction"), Some("outbound-api"));
        assert_eq!(g.param("CallbackSource"), Some("call-progress-events"));
        assert_eq!(g.param("SequenceNumber"), Some(i.to_string().as_str()));
        assert_eq!(g.param("To"), Some(BUSY));
        assert_eq!(g.param("From"), Some(AGENT_NUMBER));
    }
    assert_eq!(status[2].param("CallDuration"), Some("0"));
    assert_eq!(status[2].param("SipResponseCode"), Some("486"));
    assert!(
        received(&agent, "voice").is_empty(),
        "a busy call is never answered"
    );

    let fetched = rest.fetch_call(&call.sid).await.unwrap();
    assert_eq!(fetched.status, telephony::CallStatus::Busy);
    let log = carrier.log();
    assert_eq!(log[0].kind, LogKind::Create);
    assert_eq!(log[0].param("To"), Some(BUSY));
    assert_eq!(
        log.iter()
            .filter(|e| e.kind == LogKind::StatusCallback)
            .count(),
        3
    );
}

#[tokio::test]
async fn only_completed_is_sent_when_no_events_are_subscribed() {
    let speech = speech();
    let agent = spawn_agent(speech.clone()).await;
    let carrier = start_carrier(speech).await;
    let rest = client(&carrier, TOKEN);
    let mut req = create(&agent, NO_ANSWER);
    req.status_callback_events.clear();
    let call = rest.create_call(&req).await.unwrap();
    let done = carrier
        .wait_for(&call.sid, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.status, "no-answer");
    let status = received(&agent, "status");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].param("CallStatus"), Some("no-answer"));
}

#[tokio::test]
async fn wrong_credentials_get_401_twilio_error_json() {
    let speech = speech();
    let agent = spawn_agent(speech.clone()).await;
    let carrier = start_carrier(speech).await;

    let err = client(&carrier, "wrong-token")
        .create_call(&create(&agent, BUSY))
        .await
        .unwrap_err();
    match &err {
        RestError::Twilio(e) => {
            assert_eq!(e.status, 401);
            assert_eq!(e.code, Some(20003));
            assert_eq!(
                e.more_info.as_deref(),
                Some("https://www.twilio.com/docs/errors/20003")
            );
        }
        other => panic!("expected a Twilio error, got {other:?}"),
    }
    assert!(carrier.call_sids().is_empty(), "no call may be created");

    // The raw body is Twilio's classic error shape.
    let resp = raw_create(
        &carrier,
        "nope",
        &[("To", BUSY), ("From", AGENT_NUMBER), ("Url", "http://x/")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 20003);
    assert_eq!(body["status"], 401);
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn invalid_to_number_is_error_21211() {
    let speech = speech();
    let carrier = start_carrier(speech).await;
    let form = [
        ("To", "555-0100"),
        ("From", AGENT_NUMBER),
        ("Url", "http://x/"),
    ];
    let resp = raw_create(&carrier, TOKEN, &form).await;
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 21211);
    assert_eq!(
        body["message"],
        "The 'To' number 555-0100 is not a valid phone number."
    );
}

#[tokio::test]
async fn voicemail_posts_machine_end_beep_to_async_amd_callback_and_records_the_message() {
    let speech = speech();
    let agent = spawn_agent(speech.clone()).await;
    let carrier = start_carrier(speech).await;
    let rest = client(&carrier, TOKEN);
    let call = rest
        .create_call(&CreateCall {
            machine_detection: Some(MachineDetection::DetectMessageEnd),
            async_amd: true,
            async_amd_status_callback: Some(format!("{}/hooks/amd", agent.base)),
            ..create(&agent, VOICEMAIL)
        })
        .await
        .unwrap();
    let done = carrier
        .wait_for(&call.sid, Duration::from_secs(20))
        .await
        .unwrap();

    let amd = received(&agent, "amd");
    assert_eq!(amd.len(), 1);
    assert!(signed_by_token(&agent, &amd[0]));
    assert_eq!(amd[0].param("AnsweredBy"), Some("machine_end_beep"));
    assert_eq!(amd[0].param("CallSid"), Some(call.sid.as_str()));
    assert_eq!(amd[0].param("AccountSid"), Some(ACCOUNT));
    let detection: u64 = amd[0]
        .param("MachineDetectionDuration")
        .unwrap()
        .parse()
        .unwrap();
    // The greeting (16 chars x 20 ms) and the beep (500 ms).
    assert!((800..=900).contains(&detection), "{detection} ms");

    // Asynchronous AMD: the voice URL is fetched on answer, without AnsweredBy.
    let voice = received(&agent, "voice");
    assert_eq!(voice.len(), 1);
    assert!(signed_by_token(&agent, &voice[0]));
    assert_eq!(voice[0].param("CallStatus"), Some("in-progress"));
    assert_eq!(voice[0].param("Direction"), Some("outbound-api"));
    assert_eq!(voice[0].param("AnsweredBy"), None);

    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(done.answered_by.as_deref(), Some("machine_end_beep"));
    assert_eq!(done.voicemail_message.as_deref(), Some(MESSAGE), "{done:?}");
    let statuses: Vec<String> = received(&agent, "status")
        .iter()
        .map(|g| g.param("CallStatus").unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["initiated", "ringing", "in-progress", "completed"]
    );
    let completed = received(&agent, "status").pop().unwrap();
    assert_eq!(completed.param("AnsweredBy"), Some("machine_end_beep"));
    let report = carrier.report(&call.sid).unwrap();
    assert!(report.protocol_errors.is_empty(), "{}", report.render());
}

#[tokio::test]
async fn rest_hangup_ends_an_answered_call() {
    let speech = speech();
    let agent = spawn_agent(speech.clone()).await;
    let carrier = start_carrier(speech).await;
    let rest = client(&carrier, TOKEN);
    let call = rest
        .create_call(&CreateCall {
            machine_detection: Some(MachineDetection::Enable),
            ..create(&agent, PERSON)
        })
        .await
        .unwrap();
    // Wait until the person is talking to the (silent) agent, then hang up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received(&agent, "voice").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let voice = received(&agent, "voice");
    // Synchronous AMD: the voice request carries the result.
    assert_eq!(voice[0].param("AnsweredBy"), Some("human"));
    assert!(voice[0].param("MachineDetectionDuration").is_some());
    tokio::time::sleep(Duration::from_millis(800)).await;
    rest.hangup(&call.sid).await.unwrap();
    let done = carrier
        .wait_for(&call.sid, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.status, "completed");
    let report = done.report.unwrap();
    assert_eq!(report.ended_by, EndReason::RestHangup);
    assert_eq!(report.to, PERSON);
    let last = received(&agent, "status").pop().unwrap();
    assert_eq!(last.param("CallStatus"), Some("completed"));
    assert_eq!(last.param("AnsweredBy"), Some("human"));
    // Updating an ended call is refused like Twilio does.
    let err = rest.hangup(&call.sid).await.unwrap_err();
    assert_eq!(err.twilio_code(), Some(21220));
}
