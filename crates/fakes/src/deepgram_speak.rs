//! A fake Deepgram Aura TTS (`shared/specs/deepgram.md` section 3): websocket `/v1/speak`
//! (Speak/Flush/Clear/Close → Metadata, binary audio, Flushed, Cleared) and REST
//! `POST /v1/speak`, both behind `Authorization: Token <key>`. The voice is any [`Tts`]; its audio
//! is resampled and encoded as each request asks, so clients see real Deepgram byte formats.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use speech::Tts;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the fake behaves. The fault switches can also be flipped while it runs.
pub struct FakeDeepgramSpeakConfig {
    /// The key clients must send as `Authorization: Token <key>`.
    pub api_key: String,
    /// Produces the audio for every request.
    pub voice: Arc<dyn Tts>,
    /// Pause before the first audio of each flush or REST answer (simulated synthesis time).
    pub reply_delay: Duration,
    /// Refuse websocket upgrades with HTTP 503, so clients must use REST.
    pub fail_websocket: bool,
    /// Answer every request (websocket upgrade or REST) with HTTP 500.
    pub fail_all: bool,
}

impl FakeDeepgramSpeakConfig {
    /// A healthy fake for `api_key` speaking with `voice`.
    pub fn new(api_key: impl Into<String>, voice: Arc<dyn Tts>) -> Self {
        FakeDeepgramSpeakConfig {
            api_key: api_key.into(),
            voice,
            reply_delay: Duration::ZERO,
            fail_websocket: false,
            fail_all: false,
        }
    }
}

struct Shared {
    api_key: String,
    voice: Arc<dyn Tts>,
    reply_delay: Duration,
    fail_websocket: AtomicBool,
    fail_all: AtomicBool,
    ws_connections: AtomicUsize,
    rest_requests: AtomicUsize,
    flushes: AtomicUsize,
    refused: AtomicUsize,
}

/// A running fake; stops when dropped.
pub struct FakeDeepgramSpeak {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeDeepgramSpeak {
    /// Listens on `127.0.0.1:0` and serves until dropped.
    pub async fn start(config: FakeDeepgramSpeakConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            api_key: config.api_key,
            voice: config.voice,
            reply_delay: config.reply_delay,
            fail_websocket: AtomicBool::new(config.fail_websocket),
            fail_all: AtomicBool::new(config.fail_all),
            ws_connections: AtomicUsize::new(0),
            rest_requests: AtomicUsize::new(0),
            flushes: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/speak", get(upgrade).post(rest_speak))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Deepgram speak server stopped");
            }
        });
        Ok(FakeDeepgramSpeak {
            addr,
            shared,
            server,
        })
    }

    /// Base URL for `DeepgramConfig::base_url` (`ws://127.0.0.1:PORT`; REST is on the same port).
    pub fn base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Refuse (or again accept) websocket upgrades from now on.
    pub fn set_fail_websocket(&self, fail: bool) {
        self.shared.fail_websocket.store(fail, Ordering::SeqCst);
    }

    /// Answer 500 to everything (or stop doing so) from now on.
    pub fn set_fail_all(&self, fail: bool) {
        self.shared.fail_all.store(fail, Ordering::SeqCst);
    }

    /// Websocket sessions accepted on `/v1/speak`.
    pub fn ws_connections(&self) -> usize {
        self.shared.ws_connections.load(Ordering::SeqCst)
    }

    /// REST `POST /v1/speak` requests answered with audio.
    pub fn rest_requests(&self) -> usize {
        self.shared.rest_requests.load(Ordering::SeqCst)
    }

    /// `Flush` messages handled over all websocket sessions.
    pub fn flushes(&self) -> usize {
        self.shared.flushes.load(Ordering::SeqCst)
    }

    /// Requests refused for a bad key, a fault switch or bad parameters.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDeepgramSpeak {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Query parameters of both endpoints.
#[derive(Deserialize)]
struct SpeakQuery {
    model: Option<String>,
    encoding: Option<String>,
    sample_rate: Option<u32>,
    container: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Mulaw,
    Linear16,
}

/// Validated output format: encoding and rate.
#[derive(Clone, Copy)]
struct Format {
    encoding: Encoding,
    sample_rate: u32,
}

impl SpeakQuery {
    /// The format Deepgram would produce, or why the fake (or Deepgram) refuses the values.
    fn format(&self) -> Result<Format, String> {
        let encoding = match self.encoding.as_deref().unwrap_or("linear16") {
            "linear16" => Encoding::Linear16,
            "mulaw" => Encoding::Mulaw,
            other => return Err(format!("encoding {other:?} is not supported by this fake")),
        };
        let (default_rate, allowed): (u32, &[u32]) = match encoding {
            Encoding::Linear16 => (24_000, &[8_000, 16_000, 24_000, 32_000, 48_000]),
            Encoding::Mulaw => (8_000, &[8_000, 16_000]),
        };
        let sample_rate = self.sample_rate.unwrap_or(default_rate);
        if !allowed.contains(&sample_rate) {
            return Err(format!(
                "sample_rate {sample_rate} is invalid for this encoding"
            ));
        }
        Ok(Format {
            encoding,
            sample_rate,
        })
    }

    fn model(&self) -> String {
        self.model
            .clone()
            .unwrap_or_else(|| "aura-asteria-en".to_owned())
    }
}

/// Deepgram's REST error shape.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "err_code": code,
        "err_msg": message,
        "request_id": "00000000-0000-4000-8000-000000000000",
    });
    (status, Json(body)).into_response()
}

/// Auth and fault switches shared by both endpoints; `Some` is the refusal to send.
fn gate(shared: &Shared, headers: &HeaderMap, websocket: bool) -> Option<Response> {
    let expected = format!("Token {}", shared.api_key);
    let refusal = if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTH",
            "Invalid credentials.",
        )
    } else if shared.fail_all.load(Ordering::SeqCst) {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "fault injected: fail_all",
        )
    } else if websocket && shared.fail_websocket.load(Ordering::SeqCst) {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "fault injected: websocket refused",
        )
    } else {
        return None;
    };
    shared.refused.fetch_add(1, Ordering::SeqCst);
    Some(refusal)
}

/// Synthesises `text` on a blocking thread and converts it to `format`'s bytes.
async fn render(shared: &Shared, text: String, format: Format) -> Result<Vec<u8>, String> {
    let voice = shared.voice.clone();
    let audio = tokio::task::spawn_blocking(move || voice.synthesize(&text))
        .await
        .map_err(|e| format!("voice task failed: {e}"))?
        .map_err(|e| e.to_string())?;
    let pcm = audio::resample_i16(&audio.samples, audio.sample_rate, format.sample_rate);
    Ok(match format.encoding {
        Encoding::Mulaw => audio::mulaw::encode_all(&pcm),
        Encoding::Linear16 => pcm.iter().flat_map(|s| s.to_le_bytes()).collect(),
    })
}

async fn rest_speak(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SpeakQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = gate(&shared, &headers, false) {
        return refusal;
    }
    let bad_request = |message: &str| {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        error(StatusCode::BAD_REQUEST, "INVALID_QUERY", message)
    };
    let format = match query.format() {
        Ok(format) => format,
        Err(message) => return bad_request(&message),
    };
    // REST wraps linear16/mulaw in WAV unless told otherwise; this fake writes PCM16 WAV only.
    let container = query.container.as_deref().unwrap_or("wav");
    let wav = match (container, format.encoding) {
        ("none", _) => false,
        ("wav", Encoding::Linear16) => true,
        _ => return bad_request("this fake supports container=none, or wav with linear16"),
    };
    let text = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("text")?.as_str().map(str::to_owned))
        .filter(|t| !t.trim().is_empty());
    let Some(text) = text else {
        return bad_request("body must be JSON with a non-empty \"text\"");
    };
    shared.rest_requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(shared.reply_delay).await;
    let chars = text.chars().count();
    let mut bytes = match render(&shared, text, format).await {
        Ok(bytes) => bytes,
        Err(message) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "TTS_FAILED", &message);
        }
    };
    let content_type = if wav {
        let pcm: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|p| i16::from_le_bytes([p[0], p[1]]))
            .collect();
        let mut file = Vec::new();
        if let Err(e) = audio::write_wav(&mut file, &pcm, format.sample_rate) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "TTS_FAILED",
                &e.to_string(),
            );
        }
        bytes = file;
        "audio/wav"
    } else if format.encoding == Encoding::Mulaw {
        "audio/mulaw"
    } else {
        "audio/l16"
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::HeaderName::from_static("dg-model-name"),
                query.model(),
            ),
            (
                header::HeaderName::from_static("dg-char-count"),
                chars.to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SpeakQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(refusal) = gate(&shared, &headers, true) {
        return refusal;
    }
    let format = match query.format() {
        Ok(format) => format,
        Err(message) => {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            return error(StatusCode::BAD_REQUEST, "INVALID_QUERY", &message);
        }
    };
    shared.ws_connections.fetch_add(1, Ordering::SeqCst);
    let model = query.model();
    // Sized like the real service's traffic: the load bench runs many of these in-process.
    ws.read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            if let Err(e) = session(shared, socket, format, model).await {
                tracing::debug!(error = %e, "fake Deepgram speak session ended");
            }
        })
}

/// One websocket session. Outgoing messages queue up and are sent between reads, so a Clear
/// that arrives while a flush's audio is still queued drops it, as on the real service.
async fn session(
    shared: Arc<Shared>,
    mut socket: WebSocket,
    format: Format,
    model: String,
) -> Result<(), axum::Error> {
    let metadata = serde_json::json!({
        "type": "Metadata",
        "request_id": "00000000-0000-4000-8000-000000000000",
        "model_name": model,
        "model_version": "fake",
        "model_uuid": "00000000-0000-4000-8000-000000000001",
    });
    socket
        .send(Message::Text(metadata.to_string().into()))
        .await?;
    let mut buffer = String::new();
    let mut flushes: u64 = 0;
    let mut outgoing: VecDeque<Message> = VecDeque::new();
    let mut ready_at = Instant::now();
    let mut closing = false;
    loop {
        if closing && outgoing.is_empty() {
            let frame = CloseFrame {
                code: 1000,
                reason: "".into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return Ok(());
        }
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                };
                let kind = serde_json::from_str::<serde_json::Value>(text.as_str())
                    .ok()
                    .and_then(|v| Some((v.get("type")?.as_str()?.to_owned(), v)));
                match kind {
                    Some((kind, v)) if kind == "Speak" => {
                        buffer.push_str(v.get("text").and_then(|t| t.as_str()).unwrap_or(""));
                    }
                    Some((kind, _)) if kind == "Flush" => {
                        shared.flushes.fetch_add(1, Ordering::SeqCst);
                        let text = std::mem::take(&mut buffer);
                        if !text.trim().is_empty() {
                            match render(&shared, text, format).await {
                                Ok(bytes) => outgoing.extend(
                                    bytes
                                        .chunks(chunk_bytes(format))
                                        .map(|c| Message::Binary(Bytes::copy_from_slice(c))),
                                ),
                                Err(message) => outgoing.push_back(warning("TTS_FAILED", &message)),
                            }
                        }
                        let flushed = serde_json::json!({"type": "Flushed", "sequence_id": flushes});
                        outgoing.push_back(Message::Text(flushed.to_string().into()));
                        flushes += 1;
                        if outgoing.len() > 1 {
                            ready_at = Instant::now() + shared.reply_delay;
                        }
                    }
                    Some((kind, _)) if kind == "Clear" => {
                        buffer.clear();
                        outgoing.retain(|m| !matches!(m, Message::Binary(_)));
                        let cleared = serde_json::json!({"type": "Cleared", "sequence_id": flushes});
                        outgoing.push_back(Message::Text(cleared.to_string().into()));
                    }
                    Some((kind, _)) if kind == "Close" => closing = true,
                    _ => outgoing.push_back(warning("UNKNOWN_MESSAGE", "unrecognised message")),
                }
            }
            _ = tokio::time::sleep_until(ready_at), if !outgoing.is_empty() => {
                if let Some(message) = outgoing.pop_front() {
                    socket.send(message).await?;
                }
            }
        }
    }
}

/// 100 ms of audio per binary frame. Real Deepgram chunk sizes vary; several frames per
/// sentence make clients prove they concatenate.
fn chunk_bytes(format: Format) -> usize {
    let bytes_per_sample = if format.encoding == Encoding::Mulaw {
        1
    } else {
        2
    };
    (format.sample_rate as usize / 10 * bytes_per_sample).max(1)
}

fn warning(code: &str, description: &str) -> Message {
    let warning = serde_json::json!({"type": "Warning", "code": code, "description": description});
    Message::Text(warning.to_string().into())
}
