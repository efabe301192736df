//! The brain inside live calls, over loopback the way Twilio drives the server: the
//! `<Connect action>` that ends (or transfers) a call, a greeting personalised from the CRM and
//! heard through Whisper, a keypad handoff, and a caller whose spoken "don't call me again"
//! (synthesized by Piper) ends the call and puts the number on the do-not-call list.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{elements, names, pairs, El, TestServer, AUTH_TOKEN, PUBLIC_MEDIA_URL, PUBLIC_URL};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const ACCOUNT_SID: &str = "AC55555555555555555555555555555555";
const CALLER: &str = "+15551230001";
const OUR_NUMBER: &str = "+15559870002";
const HANDOFF_NUMBER: &str = "+14155550100";
const FRAME: Duration = Duration::from_millis(20);
/// No test may take longer than this, models included.
const TEST_DEADLINE: Duration = Duration::from_secs(30);
/// Agent audio silent this long after a mark echo: the agent has finished speaking.
const SPEECH_OVER: Duration = Duration::from_millis(500);

/// A test agent whose greeting names the caller when the CRM knows them.
const AGENT_NAME: &str = "greeter";
const AGENT_TOML: &str = r#"
name = "Ava"
greeting = "Hi {contact.first_name|there}, thanks for calling."
fallback = "Sorry, I didn't catch that."
closing = "Thanks for calling. Goodbye!"
handoff = "Connecting you now."
handoff_number = "+14155550100"

[[intents]]
name = "hours"
examples = ["when are you open", "what are your opening hours"]
reply = "We're open nine to five."
"#;

async fn greeter_server() -> TestServer {
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

/// What Twilio posts to the `<Connect action>` URL once the stream has ended.
fn stream_ended_form(call_sid: &str) -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", CALLER),
        ("To", OUR_NUMBER),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ])
}

/// Answers `call_sid` through the voice webhook and checks the stream's `<Connect action>`.
async fn answer_call(srv: &TestServer, call_sid: &str) {
    let resp = srv
        .post_signed("/twilio/voice", &voice_form(call_sid))
        .await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let els = elements(&body);
    let connect = els
        .iter()
        .find(|e| e.name == "Connect")
        .unwrap_or_else(|| panic!("no <Connect> in {body}"));
    assert_eq!(
        connect.attr("action"),
        Some(format!("{PUBLIC_URL}/twilio/stream-ended").as_str()),
        "{body}"
    );
}

async fn stream_ended(srv: &TestServer, call_sid: &str) -> Vec<El> {
    let resp = srv
        .post_signed("/twilio/stream-ended", &stream_ended_form(call_sid))
        .await;
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    elements(&resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_twiml_connects_with_a_stream_ended_action_that_hangs_up_without_a_transfer() {
    let srv = TestServer::start().await;
    let call_sid = "CA00000000000000000000000000000101";
    answer_call(&srv, call_sid).await;

    let els = stream_ended(&srv, call_sid).await;
    assert_eq!(names(&els), ["Response", "Hangup"]);

    // Twilio signs the action request like any webhook: unsigned is refused.
    let resp = srv
        .post_form("/twilio/stream-ended", &stream_ended_form(call_sid), None)
        .await;
    assert_eq!(resp.status(), 403);
}

// --- A live call over the media websocket ---------------------------------------------------

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The far end of one Media Streams call, played as Twilio plays it: 20 ms frames in real time
/// (the caller's audio, else mu-law silence), marks echoed, the agent's audio collected.
struct MediaCall {
    tx: SplitSink<Ws, Message>,
    rx: SplitStream<Ws>,
    stream_sid: String,
    call_sid: String,
    seq: u64,
    chunk: u64,
    /// Everything the agent said, as 8 kHz PCM.
    agent_pcm: Vec<i16>,
    last_media: Option<Instant>,
    marks_echoed: usize,
    last_echo: Option<Instant>,
    clears: usize,
    /// The server closed the socket.
    closed: bool,
}

impl MediaCall {
    async fn connect(srv: &TestServer, call_sid: &str, stream_sid: &str) -> MediaCall {
        let mut request = srv.media_ws_url().into_client_request().unwrap();
        let sig = telephony::signature::compute_signature(AUTH_TOKEN, PUBLIC_MEDIA_URL, &[]);
        request
            .headers_mut()
            .insert("X-Twilio-Signature", HeaderValue::from_str(&sig).unwrap());
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("handshake answered")
        .expect("signed handshake accepted");
        let (tx, rx) = ws.split();
        let mut call = MediaCall {
            tx,
            rx,
            stream_sid: stream_sid.into(),
            call_sid: call_sid.into(),
            seq: 0,
            chunk: 0,
            agent_pcm: Vec::new(),
            last_media: None,
            marks_echoed: 0,
            last_echo: None,
            clears: 0,
            closed: false,
        };
        call.send(json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            .await;
        let start = json!({
            "event": "start",
            "sequenceNumber": call.next_seq(),
            "start": {
                "accountSid": ACCOUNT_SID,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": {"agent": AGENT_NAME, "call_sid": call_sid},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": stream_sid,
        });
        call.send(start).await;
        call
    }

    fn next_seq(&mut self) -> String {
        self.seq += 1;
        self.seq.to_string()
    }

    async fn send(&mut self, v: Value) {
        self.tx
            .send(Message::text(v.to_string()))
            .await
            .expect("socket open");
    }

    /// One 20 ms frame of caller audio (160 mu-law bytes).
    async fn send_frame(&mut self, mulaw: &[u8]) {
        self.chunk += 1;
        let msg = json!({
            "event": "media",
            "sequenceNumber": self.next_seq(),
            "media": {
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": ((self.chunk - 1) * 20).to_string(),
                "payload": base64::engine::general_purpose::STANDARD.encode(mulaw),
            },
            "streamSid": self.stream_sid,
        });
        self.send(msg).await;
    }

    async fn send_dtmf(&mut self, digit: &str) {
        let msg = json!({
            "event": "dtmf",
            "sequenceNumber": self.next_seq(),
            "streamSid": self.stream_sid,
            "dtmf": {"track": "inbound_track", "digit": digit},
        });
        self.send(msg).await;
    }

    /// The caller hangs up: `stop`, then the server closes the socket.
    async fn hang_up(&mut self) {
        let msg = json!({
            "event": "stop",
            "sequenceNumber": self.next_seq(),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": ACCOUNT_SID, "callSid": self.call_sid},
        });
        self.send(msg).await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(m)) = self.rx.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await
        .expect("server closes the socket after stop");
    }

    /// Whether the agent has spoken and then been silent for [`SPEECH_OVER`] since its last
    /// mark came back.
    fn agent_done_speaking(&self, since_samples: usize) -> bool {
        let quiet = |t: Option<Instant>| t.is_some_and(|t| t.elapsed() >= SPEECH_OVER);
        self.agent_pcm.len() > since_samples && quiet(self.last_media) && quiet(self.last_echo)
    }

    /// Streams `caller` (8 kHz mu-law) in real time, then silence, handling what the server
    /// sends, until `done` holds, the server closes the socket, or `within` runs out (a panic).
    async fn play_until(
        &mut self,
        caller: &[u8],
        within: Duration,
        done: impl Fn(&MediaCall) -> bool,
    ) {
        let mut frames = caller.chunks(audio::FRAME_SAMPLES_8K);
        let mut ticker = tokio::time::interval(FRAME);
        // Like Twilio's jitter buffer: catch up after a stall, averaging 50 frames per second.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let deadline = tokio::time::sleep(within);
        tokio::pin!(deadline);
        while !done(self) && !self.closed {
            tokio::select! {
                _ = &mut deadline => panic!(
                    "call {} did not get there within {within:?} (agent audio: {} samples, marks: {})",
                    self.call_sid, self.agent_pcm.len(), self.marks_echoed
                ),
                _ = ticker.tick() => {
                    let mut frame = frames.next().map(<[u8]>::to_vec).unwrap_or_default();
                    frame.resize(audio::FRAME_SAMPLES_8K, 0xFF);
                    self.send_frame(&frame).await;
                }
                msg = self.rx.next() => self.on_server_message(msg).await,
            }
        }
    }

    async fn on_server_message(
        &mut self,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) {
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                self.closed = true;
                return;
            }
            Some(Ok(other)) => panic!("unexpected frame from the server: {other:?}"),
        };
        let v: Value = serde_json::from_str(&text).expect("server sends JSON");
        match v["event"].as_str() {
            Some("media") => {
                let payload = v["media"]["payload"].as_str().expect("payload");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(payload)
                    .expect("payload is base64");
                self.agent_pcm.extend(audio::mulaw::decode_all(&bytes));
                self.last_media = Some(Instant::now());
            }
            Some("mark") => {
                // Echoed as Twilio does once playback reaches it (the server sends at most
                // ~100 ms ahead of real time, so "now" is close enough).
                let name = v["mark"]["name"].clone();
                let echo = json!({
                    "event": "mark",
                    "sequenceNumber": self.next_seq(),
                    "streamSid": self.stream_sid,
                    "mark": {"name": name},
                });
                self.send(echo).await;
                self.marks_echoed += 1;
                self.last_echo = Some(Instant::now());
            }
            Some("clear") => self.clears += 1,
            other => panic!("unexpected event {other:?} from the server: {text}"),
        }
    }
}

/// What the local Whisper hears in 8 kHz PCM, lowercased.
async fn transcribe(pcm8k: Vec<i16>) -> String {
    tokio::task::spawn_blocking(move || {
        let (stt, _) = common::local_speech();
        stt.transcribe(&pcm8k, audio::SAMPLE_RATE_8K)
            .expect("whisper transcribes")
            .to_lowercase()
    })
    .await
    .unwrap()
}

/// `text` said by the local Piper voice, as a phone line carries it: 8 kHz mu-law.
async fn caller_says(text: &str) -> Vec<u8> {
    let text = text.to_owned();
    tokio::task::spawn_blocking(move || {
        let (_, tts) = common::local_speech();
        let speech = tts.synthesize(&text).expect("piper speaks");
        let pcm8k = audio::resample_i16(&speech.samples, speech.sample_rate, audio::SAMPLE_RATE_8K);
        audio::mulaw::encode_all(&pcm8k)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_caller_is_greeted_by_first_name() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let srv = greeter_server().await;
        let contact_id = srv
            .store
            .upsert_contact(&store::NewContact {
                phone: CALLER.into(),
                first_name: Some("David".into()),
                last_name: Some("Lopez".into()),
                ..store::NewContact::default()
            })
            .await
            .unwrap();
        let call_sid = "CA00000000000000000000000000000201";
        answer_call(&srv, call_sid).await;

        let mut call =
            MediaCall::connect(&srv, call_sid, "MZ00000000000000000000000000000201").await;
        call.play_until(&[], Duration::from_secs(15), |c| c.agent_done_speaking(0))
            .await;
        assert!(!call.closed, "the agent hung up after its greeting");
        let heard = transcribe(call.agent_pcm.clone()).await;
        println!("greeting heard as {heard:?}");
        assert!(
            heard.contains("david"),
            "the greeting names the caller: {heard:?}"
        );
        assert!(heard.contains("thanks for calling"), "{heard:?}");
        call.hang_up().await;

        let detail = srv
            .wait_for_call(call_sid, Duration::from_secs(5), |d| {
                d.events.iter().any(|e| e.kind == "stream_ended")
            })
            .await;
        assert_eq!(detail.call.contact_id, Some(contact_id));
        let greeting = detail
            .turns
            .iter()
            .find(|t| t.speaker == store::Speaker::Agent)
            .expect("greeting turn stored");
        assert_eq!(greeting.text, "Hi David, thanks for calling.");
    })
    .await
    .expect("test finishes within its deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keypad_zero_hands_off_and_stream_ended_dials_the_handoff_number() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let srv = greeter_server().await;
        let call_sid = "CA00000000000000000000000000000301";
        answer_call(&srv, call_sid).await;
        let mut call =
            MediaCall::connect(&srv, call_sid, "MZ00000000000000000000000000000301").await;
        call.play_until(&[], Duration::from_secs(15), |c| c.agent_done_speaking(0))
            .await;
        let greeting_len = call.agent_pcm.len();

        call.send_dtmf("0").await;
        call.play_until(&[], Duration::from_secs(15), |_| false)
            .await;
        assert!(call.closed, "the agent ends its part of the call");
        assert!(
            call.agent_pcm.len() > greeting_len,
            "the handoff line was spoken before the socket closed"
        );

        let els = stream_ended(&srv, call_sid).await;
        assert_eq!(names(&els), ["Response", "Dial", "Number", "Hangup"]);
        assert_eq!(els[2].text.trim(), HANDOFF_NUMBER);
        // The transfer is used once: a second action request just hangs up.
        let again = stream_ended(&srv, call_sid).await;
        assert_eq!(names(&again), ["Response", "Hangup"]);

        let detail = srv
            .wait_for_call(call_sid, Duration::from_secs(5), |d| {
                d.call.outcome.is_some() && d.events.iter().any(|e| e.kind == "stream_ended")
            })
            .await;
        assert_eq!(detail.call.outcome.as_deref(), Some("transferred"));
        let transfer = detail
            .events
            .iter()
            .find(|e| e.kind == "transfer")
            .expect("transfer event");
        assert_eq!(transfer.data["number"], HANDOFF_NUMBER);
    })
    .await
    .expect("test finishes within its deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_asking_not_to_be_called_again_is_put_on_the_do_not_call_list() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let srv = greeter_server().await;
        let call_sid = "CA00000000000000000000000000000401";
        answer_call(&srv, call_sid).await;
        let request = caller_says("Please don't call me again.").await;
        assert!(!srv.store.is_do_not_call(CALLER).await.unwrap());

        let mut call =
            MediaCall::connect(&srv, call_sid, "MZ00000000000000000000000000000401").await;
        call.play_until(&[], Duration::from_secs(10), |c| c.agent_done_speaking(0))
            .await;
        let greeting_len = call.agent_pcm.len();

        // The caller speaks, then stays silent until the agent hangs up.
        call.play_until(&request, Duration::from_secs(15), |_| false)
            .await;
        assert!(call.closed, "the agent ends the call after its reply");
        assert_eq!(call.clears, 0, "nobody interrupted anybody");
        let reply = call.agent_pcm[greeting_len..].to_vec();
        assert!(
            reply.len() > audio::SAMPLE_RATE_8K as usize,
            "a spoken reply came before the hangup ({} samples)",
            reply.len()
        );
        let heard = transcribe(reply).await;
        println!("reply heard as {heard:?}");
        assert!(heard.contains("call you again"), "{heard:?}");

        let detail = srv
            .wait_for_call(call_sid, Duration::from_secs(5), |d| {
                d.call.outcome.is_some() && d.events.iter().any(|e| e.kind == "do_not_call")
            })
            .await;
        assert_eq!(detail.call.outcome.as_deref(), Some("do_not_call"));
        assert!(srv.store.is_do_not_call(CALLER).await.unwrap());
        let ended = detail
            .events
            .iter()
            .find(|e| e.kind == "stream_ended")
            .expect("stream_ended event");
        assert_eq!(ended.data["ended_by"], "agent");
        let caller_turn = detail
            .turns
            .iter()
            .find(|t| t.speaker == store::Speaker::Caller)
            .expect("the caller's words are stored");
        assert!(
            caller_turn.text.to_lowercase().contains("call me again"),
            "{caller_turn:?}"
        );
    })
    .await
    .expect("test finishes within its deadline");
}
