//! A fake Deepgram live transcription server (`/v1/listen`) on loopback. It speaks the same bytes
//! as `wss://api.deepgram.com/v1/listen` (spec `shared/specs/deepgram.md` section 2): token auth
//! on the upgrade, options in the query, binary audio in, `SpeechStarted` / `Results` /
//! `UtteranceEnd` / `Metadata` JSON out, the `KeepAlive` / `Finalize` / `CloseStream` controls and
//! the 10 s idle close (`1011 NET-0001`). Transcripts come from a pluggable [`speech::Stt`].

mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use speech::{ControlMessage, Stt};
use tokio::sync::watch;
use tokio::time::Instant;

pub use session::Encoding;
use session::{ListenSession, SessionSettings, Step};

/// Model name reported in `Results` and `Metadata`.
const MODEL_NAME: &str = "fake-listen";
/// Stable id of the fake "model" (Deepgram reports a UUID per model).
const MODEL_UUID: &str = "00000000-0000-4000-8000-00000000fa4e";

/// How the fake behaves.
#[derive(Clone)]
pub struct FakeListenConfig {
    /// The key a client must send as `Authorization: Token <key>`.
    pub api_key: String,
    /// Transcribes each buffered utterance (interims get the audio so far).
    pub stt: Arc<dyn Stt>,
    /// Extra wall-clock wait before each final, to model a provider's latency in benchmarks.
    pub reply_delay: Duration,
    /// Close with `1011 NET-0001` after this long without audio or a text message (Deepgram: 10 s).
    pub idle_timeout: Duration,
    /// Audio time between two interim results while speech goes on.
    pub interim_every: Duration,
    /// RMS level (0..=32768) above which a 20 ms frame counts as speech.
    pub speech_rms: f32,
}

impl FakeListenConfig {
    /// Deepgram's behaviour: 10 s idle timeout, interims every 500 ms, no extra delay.
    pub fn new(api_key: impl Into<String>, stt: Arc<dyn Stt>) -> Self {
        Self {
            api_key: api_key.into(),
            stt,
            reply_delay: Duration::ZERO,
            idle_timeout: Duration::from_secs(10),
            interim_every: Duration::from_millis(500),
            // About -40 dBFS: far above digital or line silence, far below speech.
            speech_rms: 300.0,
        }
    }
}

/// The options a client asked for, parsed from the upgrade query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenParams {
    /// `model`, if given.
    pub model: Option<String>,
    /// `encoding`.
    pub encoding: Encoding,
    /// `sample_rate` in Hz.
    pub sample_rate: u32,
    /// `endpointing` in ms; `None` when `endpointing=false`; Deepgram's 10 ms when absent.
    pub endpointing_ms: Option<u32>,
    /// `utterance_end_ms`, if given.
    pub utterance_end_ms: Option<u32>,
    /// `interim_results` (default false).
    pub interim_results: bool,
    /// `vad_events` (default false).
    pub vad_events: bool,
}

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// Binding the loopback listener failed.
    #[error("fake server could not listen on loopback: {0}")]
    Bind(#[from] std::io::Error),
}

/// Starts fake listen servers.
pub struct FakeDeepgramListen;

impl FakeDeepgramListen {
    /// Serves `/v1/listen` on `127.0.0.1:<free port>` until the handle is dropped.
    pub async fn start(config: FakeListenConfig) -> Result<FakeListenHandle, FakeError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            connections: AtomicUsize::new(0),
            drop_after: AtomicU64::new(0),
            last_params: Mutex::new(None),
            shutdown: shutdown_rx,
        });
        let app = Router::new()
            .route("/v1/listen", get(listen))
            .with_state(shared.clone());
        let mut stop = shared.shutdown.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "fake Deepgram listen server stopped");
            }
        });
        Ok(FakeListenHandle {
            addr,
            shared,
            shutdown: shutdown_tx,
            task,
        })
    }
}

/// A running fake; dropping it stops the server and closes its streams.
pub struct FakeListenHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeListenHandle {
    /// Base URL for [`speech::DeepgramConfig::base_url`], e.g. `ws://127.0.0.1:PORT`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Websocket streams accepted so far (refused handshakes not counted).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Fault switch: the next stream to receive its `audio_messages`-th binary message drops
    /// the TCP connection without a close frame (as a network failure would). Fires once, so a
    /// reconnecting client gets a healthy stream; `0` disarms it.
    pub fn drop_connections_after(&self, audio_messages: u64) {
        self.shared
            .drop_after
            .store(audio_messages, Ordering::SeqCst);
    }

    /// The options of the most recently accepted stream.
    pub fn last_params(&self) -> Option<ListenParams> {
        self.shared
            .last_params
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for FakeListenHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}

struct Shared {
    config: FakeListenConfig,
    connections: AtomicUsize,
    /// Armed drop fault (audio messages per stream), 0 = off.
    drop_after: AtomicU64,
    last_params: Mutex<Option<ListenParams>>,
    shutdown: watch::Receiver<bool>,
}

/// The upgrade handler: auth, then options, then the stream.
async fn listen(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let expected = format!("Token {}", shared.config.api_key);
    let authorized = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTH",
            "Invalid credentials.",
        );
    }
    let params = match parse_params(query.as_deref().unwrap_or("")) {
        Ok(params) => params,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, "Bad Request", &message),
    };
    let n = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
    *shared.last_params.lock().unwrap_or_else(|p| p.into_inner()) = Some(params.clone());
    let request_id = request_id(n);
    // Sized like the real service's traffic: the load bench runs many of these in-process.
    ws.read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            Stream {
                socket,
                shared,
                params,
                request_id,
            }
            .run()
            .await
        })
}

/// A refused handshake the way Deepgram refuses it: status, `dg-error` header, JSON body.
fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"err_code": code, "err_msg": message, "request_id": request_id(0)});
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = message.parse() {
        response.headers_mut().insert("dg-error", value);
    }
    response
}

/// A unique-enough id per stream, shaped like Deepgram's UUIDs.
fn request_id(stream: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!(
        "{:08x}-fa4e-4000-8000-{:012x}",
        stream as u32,
        nanos & 0xffff_ffff_ffff
    )
}

fn parse_params(query: &str) -> Result<ListenParams, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|e| format!("bad query: {e}"))?;
    let map: HashMap<String, String> = pairs.into_iter().collect();
    let flag = |name: &str| match map.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("{name} must be true or false, got {other:?}")),
    };
    let encoding = match map.get("encoding").map(String::as_str) {
        Some("mulaw") => Encoding::Mulaw,
        Some("linear16") => Encoding::Linear16,
        Some(other) => return Err(format!("encoding {other:?} is not supported by this fake")),
        None => return Err("encoding is required (mulaw or linear16)".to_string()),
    };
    let sample_rate = map
        .get("sample_rate")
        .ok_or("sample_rate is required with a raw encoding")?
        .parse::<u32>()
        .ok()
        .filter(|r| (4000..=48000).contains(r))
        .ok_or("sample_rate must be a number of Hz")?;
    if let Some(channels) = map.get("channels") {
        if channels != "1" {
            return Err("this fake transcribes mono audio only (channels=1)".to_string());
        }
    }
    let endpointing_ms = match map.get("endpointing").map(String::as_str) {
        None | Some("true") => Some(10),
        Some("false") => None,
        Some(ms) => Some(
            ms.parse()
                .map_err(|_| format!("endpointing {ms:?} is not ms"))?,
        ),
    };
    let utterance_end_ms = match map.get("utterance_end_ms") {
        None => None,
        Some(ms) => Some(
            ms.parse()
                .map_err(|_| format!("utterance_end_ms {ms:?} is not ms"))?,
        ),
    };
    Ok(ListenParams {
        model: map.get("model").cloned(),
        encoding,
        sample_rate,
        endpointing_ms,
        utterance_end_ms,
        interim_results: flag("interim_results")?,
        vad_events: flag("vad_events")?,
    })
}

/// Why a stream's loop ended early.
enum Stop {
    /// The socket is gone (client left, write failed, fault injected).
    Gone,
    /// Close the stream with this code and reason.
    Close(u16, &'static str),
}

/// One accepted websocket.
struct Stream {
    socket: WebSocket,
    shared: Arc<Shared>,
    params: ListenParams,
    request_id: String,
}

impl Stream {
    async fn run(mut self) {
        let config = &self.shared.config;
        let mut session = ListenSession::new(SessionSettings {
            encoding: self.params.encoding,
            sample_rate: self.params.sample_rate,
            endpointing_ms: self.params.endpointing_ms,
            utterance_end_ms: self.params.utterance_end_ms,
            interim_results: self.params.interim_results,
            vad_events: self.params.vad_events,
            interim_every_ms: config.interim_every.as_millis().max(1) as u32,
            speech_rms: config.speech_rms,
        });
        let idle_timeout = config.idle_timeout;
        let mut shutdown = self.shared.shutdown.clone();
        let mut deadline = Instant::now() + idle_timeout;
        let mut audio_messages = 0u64;
        let outcome = loop {
            let message = tokio::select! {
                message = self.socket.recv() => message,
                _ = tokio::time::sleep_until(deadline) => break Stop::Close(1011, "NET-0001"),
                _ = shutdown.wait_for(|stopped| *stopped) => break Stop::Gone,
            };
            let result = match message {
                Some(Ok(Message::Binary(bytes))) => {
                    deadline = Instant::now() + idle_timeout;
                    audio_messages += 1;
                    if self.fault_fires(audio_messages) {
                        break Stop::Gone;
                    }
                    session.push_audio(&bytes);
                    self.send_steps(&mut session).await
                }
                Some(Ok(Message::Text(text))) => {
                    // Any text frame counts as activity, as with Deepgram.
                    deadline = Instant::now() + idle_timeout;
                    match ControlMessage::parse(&text) {
                        Some(ControlMessage::KeepAlive) | None => Ok(()),
                        Some(ControlMessage::Finalize) => {
                            session.finalize();
                            self.send_steps(&mut session).await
                        }
                        Some(ControlMessage::CloseStream) => {
                            session.close();
                            match self.send_steps(&mut session).await {
                                Ok(()) => {
                                    let metadata = self.metadata(session.audio_seconds());
                                    match self.send_json(metadata).await {
                                        Ok(()) => break Stop::Close(1000, ""),
                                        Err(stop) => Err(stop),
                                    }
                                }
                                Err(stop) => Err(stop),
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break Stop::Gone,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
            };
            if let Err(stop) = result {
                break stop;
            }
        };
        if let Stop::Close(code, reason) = outcome {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = self.socket.send(Message::Close(Some(frame))).await;
        }
        // Dropping the socket closes TCP; for `Stop::Gone` that is the whole point.
    }

    /// Whether the armed drop fault fires for this stream now (it disarms itself).
    fn fault_fires(&self, audio_messages: u64) -> bool {
        let armed = self.shared.drop_after.load(Ordering::SeqCst);
        armed != 0
            && audio_messages >= armed
            && self
                .shared
                .drop_after
                .compare_exchange(armed, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }

    /// Sends every pending step, transcribing interims and finals with the configured Stt.
    async fn send_steps(&mut self, session: &mut ListenSession) -> Result<(), Stop> {
        while let Some(step) = session.poll_step() {
            let message = match step {
                Step::SpeechStarted { timestamp } => json!({
                    "type": "SpeechStarted", "channel": [0], "timestamp": round_ms(timestamp),
                }),
                Step::UtteranceEnd { last_word_end } => json!({
                    "type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round_ms(last_word_end),
                }),
                Step::Interim {
                    pcm,
                    start,
                    duration,
                } => {
                    let text = Self::transcribe(
                        self.shared.config.stt.clone(),
                        pcm,
                        self.params.sample_rate,
                    )
                    .await?;
                    let speech_end = start + duration;
                    self.results(&text, start, duration, speech_end, false, false, false)
                }
                Step::Final {
                    pcm,
                    start,
                    duration,
                    speech_end,
                    speech_final,
                    from_finalize,
                } => {
                    let text = Self::transcribe(
                        self.shared.config.stt.clone(),
                        pcm,
                        self.params.sample_rate,
                    )
                    .await?;
                    let delay = self.shared.config.reply_delay;
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let end = speech_end;
                    self.results(
                        &text,
                        start,
                        duration,
                        end,
                        true,
                        speech_final,
                        from_finalize,
                    )
                }
            };
            self.send_json(message).await?;
        }
        Ok(())
    }

    /// Runs the Stt on a blocking thread. Takes no `&self`: the websocket inside `Stream` is not
    /// `Sync`, and the upgrade future must be `Send`.
    async fn transcribe(
        stt: Arc<dyn Stt>,
        pcm: Vec<i16>,
        sample_rate: u32,
    ) -> Result<String, Stop> {
        match tokio::task::spawn_blocking(move || stt.transcribe(&pcm, sample_rate)).await {
            Ok(Ok(text)) => Ok(text.trim().to_string()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "fake Deepgram: transcription failed");
                Err(Stop::Close(1011, "NET-0000"))
            }
            Err(_) => Err(Stop::Close(1011, "NET-0000")),
        }
    }

    async fn send_json(&mut self, value: serde_json::Value) -> Result<(), Stop> {
        self.socket
            .send(Message::Text(value.to_string().into()))
            .await
            .map_err(|_| Stop::Gone)
    }

    /// A `Results` message; words are spread evenly over the voiced part of the span (the
    /// pluggable Stt gives text only).
    #[allow(clippy::too_many_arguments)]
    fn results(
        &self,
        text: &str,
        start: f64,
        duration: f64,
        speech_end: f64,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> serde_json::Value {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let step = (speech_end - start).max(0.0) / tokens.len().max(1) as f64;
        let words: Vec<serde_json::Value> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let word: String = token
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .collect::<String>()
                    .to_lowercase();
                json!({
                    "word": word,
                    "start": round_ms(start + step * i as f64),
                    "end": round_ms(start + step * (i + 1) as f64),
                    "confidence": 0.99,
                    "punctuated_word": token,
                })
            })
            .collect();
        json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round_ms(duration),
            "start": round_ms(start),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{
                "transcript": text, "confidence": if text.is_empty() { 0.0 } else { 0.99 }, "words": words,
            }]},
            "metadata": {
                "request_id": self.request_id,
                "model_info": {"name": MODEL_NAME, "version": env!("CARGO_PKG_VERSION"), "arch": self.shared.config.stt.name()},
                "model_uuid": MODEL_UUID,
            },
        })
    }

    /// The `Metadata` message sent before closing after `CloseStream`.
    fn metadata(&self, audio_seconds: f64) -> serde_json::Value {
        json!({
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "duration": round_ms(audio_seconds),
            "channels": 1,
            "models": [MODEL_UUID],
            "model_info": {MODEL_UUID: {"name": MODEL_NAME, "version": env!("CARGO_PKG_VERSION"), "arch": self.shared.config.stt.name()}},
        })
    }
}

/// Deepgram reports times in (at most) milliseconds; rounding also hides float noise.
fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_from_the_spec_example_parses() {
        let params = parse_params(
            "model=nova-3&language=en-US&encoding=mulaw&sample_rate=8000&channels=1\
             &interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true\
             &smart_format=true&punctuate=true",
        )
        .unwrap();
        assert_eq!(
            params,
            ListenParams {
                model: Some("nova-3".to_string()),
                encoding: Encoding::Mulaw,
                sample_rate: 8000,
                endpointing_ms: Some(300),
                utterance_end_ms: Some(1000),
                interim_results: true,
                vad_events: true,
            }
        );
    }

    #[test]
    fn missing_endpointing_means_deepgrams_10_ms_and_false_disables_it() {
        let base = "encoding=linear16&sample_rate=16000";
        assert_eq!(parse_params(base).unwrap().endpointing_ms, Some(10));
        let off = parse_params(&format!("{base}&endpointing=false")).unwrap();
        assert_eq!(off.endpointing_ms, None);
        assert!(!off.interim_results && !off.vad_events);
    }

    #[test]
    fn unsupported_encodings_and_missing_sample_rates_are_refused() {
        assert!(parse_params("encoding=opus&sample_rate=48000").is_err());
        assert!(parse_params("encoding=mulaw").is_err());
        assert!(parse_params("sample_rate=8000").is_err());
        assert!(parse_params("encoding=mulaw&sample_rate=8000&vad_events=yes").is_err());
    }
}
