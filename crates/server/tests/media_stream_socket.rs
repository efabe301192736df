//! `WS /twilio/media` over loopback: the handshake's signature check, and one call played the way
//! Twilio plays it (real-time 20 ms frames, marks echoed) against the real local speech models.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{TestServer, AUTH_TOKEN, PUBLIC_MEDIA_URL};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const ACCOUNT_SID: &str = "AC22222222222222222222222222222222";
const FRAME: Duration = Duration::from_millis(20);
/// Agent audio frames that must still arrive after the junk messages and after the first mark
/// echo, to show the call carried on (10 frames = 200 ms of speech).
const MORE_MEDIA: usize = 10;
/// Upper bound for the whole call; it normally takes a few seconds (one synthesized sentence
/// played in real time).
const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// Opens the media socket, with `X-Twilio-Signature` computed over `signed_url` when given.
async fn connect(
    srv: &TestServer,
    signed_url: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsError,
> {
    let mut request = srv.media_ws_url().into_client_request().unwrap();
    if let Some(url) = signed_url {
        // A handshake is signed like a GET: the URL alone, no parameters.
        let sig = telephony::signature::compute_signature(AUTH_TOKEN, url, &[]);
        request
            .headers_mut()
            .insert("X-Twilio-Signature", HeaderValue::from_str(&sig).unwrap());
    }
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("handshake answered")?;
    Ok(ws)
}

fn assert_forbidden(result: Result<impl Sized, WsError>) {
    match result {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(other) => panic!("expected an HTTP 403 refusal, got {other}"),
        Ok(_) => panic!("handshake was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_handshake_without_valid_signature_is_forbidden() {
    let srv = TestServer::start().await;
    assert_forbidden(connect(&srv, None).await);
    // Signed over the URL the test really dials, not the public one Twilio uses.
    let loopback = srv.media_ws_url();
    assert_forbidden(connect(&srv, Some(&loopback)).await);
    // Signed over the https form of the public URL instead of the wss one.
    assert_forbidden(connect(&srv, Some("https://agent.example.test/twilio/media")).await);
    assert_eq!(
        srv.store.list_calls(10).await.unwrap().len(),
        0,
        "a refused handshake must not start a call"
    );
}

/// Twilio's `media` message carrying 20 ms of mu-law silence.
fn silence_media(stream_sid: &str, seq: u64, chunk: u64) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode([0xFFu8; 160]);
    json!({
        "event": "media",
        "sequenceNumber": seq.to_string(),
        "media": {
            "track": "inbound",
            "chunk": chunk.to_string(),
            "timestamp": ((chunk - 1) * 20).to_string(),
            "payload": payload,
        },
        "streamSid": stream_sid,
    })
    .to_string()
}

/// What the test saw the server send during the call.
#[derive(Debug, Default)]
struct Heard {
    media: usize,
    loud_frames: usize,
    peak: i32,
    marks: Vec<String>,
    clears: usize,
    media_after_junk: Option<usize>,
    media_after_first_echo: Option<usize>,
}

impl Heard {
    fn done(&self) -> bool {
        self.media_after_junk.is_some_and(|n| n >= MORE_MEDIA)
            && self.media_after_first_echo.is_some_and(|n| n >= MORE_MEDIA)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_stream_call_plays_greeting_survives_junk_and_is_recorded() {
    let srv = TestServer::start().await;
    // A call the server never saw a webhook for: `start` alone must set it up.
    let call_sid = "CA33333333333333333333333333333333";
    let stream_sid = "MZ44444444444444444444444444444444";
    let ws = connect(&srv, Some(PUBLIC_MEDIA_URL))
        .await
        .expect("signed handshake is accepted");
    let (mut tx, mut rx) = ws.split();

    let mut seq = 1u64;
    tx.send(Message::text(
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
    ))
    .await
    .unwrap();
    tx.send(Message::text(
        json!({
            "event": "start",
            "sequenceNumber": seq.to_string(),
            "start": {
                "accountSid": ACCOUNT_SID,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": {"agent": "demo", "call_sid": call_sid},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": stream_sid,
        })
        .to_string(),
    ))
    .await
    .unwrap();

    let started = Instant::now();
    let mut heard = Heard::default();
    let mut chunk = 0u64;
    let mut ticker = tokio::time::interval(FRAME);
    // Like Twilio's jitter buffer: catch up after a stall, averaging 50 frames per second.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let deadline = tokio::time::sleep(CALL_DEADLINE);
    tokio::pin!(deadline);

    while !heard.done() {
        tokio::select! {
            _ = &mut deadline => panic!("call did not progress within {CALL_DEADLINE:?}: {heard:?}"),
            _ = ticker.tick() => {
                seq += 1;
                chunk += 1;
                tx.send(Message::text(silence_media(stream_sid, seq, chunk))).await.unwrap();
            }
            msg = rx.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => panic!("server ended the stream mid-call: {other:?}; {heard:?}"),
                };
                let v: Value = serde_json::from_str(&text).expect("server sends JSON");
                assert_eq!(v["streamSid"], stream_sid, "every message names the stream: {text}");
                match v["event"].as_str() {
                    Some("media") => {
                        let payload = v["media"]["payload"].as_str().expect("payload");
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(payload)
                            .expect("payload is base64");
                        assert_eq!(bytes.len(), 160, "one 20 ms mu-law frame per message");
                        let frame = audio::Frame::from_mulaw(&bytes);
                        let peak = frame.samples().iter().map(|&s| i32::from(s).abs()).max().unwrap();
                        heard.peak = heard.peak.max(peak);
                        if frame.rms() > 200.0 {
                            heard.loud_frames += 1;
                        }
                        heard.media += 1;
                        if let Some(n) = heard.media_after_junk.as_mut() {
                            *n += 1;
                        }
                        if let Some(n) = heard.media_after_first_echo.as_mut() {
                            *n += 1;
                        }
                        if heard.media_after_junk.is_none() {
                            // Mid-call garbage: none of it may end or stall the call.
                            tx.send(Message::text("{\"event\": \"media\", \"streamSid\": ")).await.unwrap();
                            tx.send(Message::text(
                                json!({"event": "transcription", "streamSid": stream_sid, "text": "hi"}).to_string(),
                            )).await.unwrap();
                            tx.send(Message::binary(vec![0u8, 1, 2, 3])).await.unwrap();
                            heard.media_after_junk = Some(0);
                        }
                    }
                    Some("mark") => {
                        let name = v["mark"]["name"].as_str().expect("mark name").to_string();
                        // Echo it as Twilio does once playback reaches it (the server sends at
                        // most ~100 ms ahead of real time, so "now" is close enough).
                        seq += 1;
                        tx.send(Message::text(json!({
                            "event": "mark",
                            "sequenceNumber": seq.to_string(),
                            "streamSid": stream_sid,
                            "mark": {"name": name},
                        }).to_string())).await.unwrap();
                        heard.marks.push(name);
                        heard.media_after_first_echo.get_or_insert(0);
                    }
                    Some("clear") => heard.clears += 1,
                    other => panic!("unexpected event {other:?} from the server: {text}"),
                }
            }
        }
    }

    assert!(
        heard.loud_frames >= 10 && heard.peak > 1000,
        "the greeting should be audible speech, not silence: {heard:?}"
    );
    assert_eq!(
        heard.clears, 0,
        "a silent caller never interrupts the agent: {heard:?}"
    );

    // The caller hangs up.
    seq += 1;
    tx.send(Message::text(
        json!({
            "event": "stop",
            "sequenceNumber": seq.to_string(),
            "streamSid": stream_sid,
            "stop": {"accountSid": ACCOUNT_SID, "callSid": call_sid},
        })
        .to_string(),
    ))
    .await
    .unwrap();
    // After `stop` the server ends the socket by itself.
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = rx.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await
    .expect("server closes the socket after stop");
    println!("call took {:?}: {heard:?}", started.elapsed());

    let detail = srv
        .wait_for_call(call_sid, Duration::from_secs(5), |d| {
            d.call.status.as_deref() == Some("completed")
                && d.events.iter().any(|e| e.kind == "stream_ended")
                && d.turns.iter().any(|t| t.speaker == store::Speaker::Agent)
        })
        .await;
    assert_eq!(detail.call.stream_sid.as_deref(), Some(stream_sid));
    assert_eq!(detail.call.account_sid.as_deref(), Some(ACCOUNT_SID));
    assert_eq!(detail.call.agent.as_deref(), Some("Ava"));
    assert!(detail.call.ended_at.is_some(), "end of call not stamped");
    let greeting = detail
        .turns
        .iter()
        .find(|t| t.speaker == store::Speaker::Agent)
        .unwrap();
    // The first sentence's mark was echoed, so it counts as heard.
    assert!(
        greeting.text.contains("thanks for calling Brightline"),
        "stored greeting turn: {greeting:?}"
    );
    assert!(
        detail.events.iter().any(|e| e.kind == "stream_started"),
        "{:#?}",
        detail.events
    );
    let ended = detail
        .events
        .iter()
        .find(|e| e.kind == "stream_ended")
        .unwrap();
    assert_eq!(ended.data["ended_by"], "caller");
}
