//! Deepgram Aura text-to-speech (`shared/specs/deepgram.md` section 3).
//!
//! Two faces: [`DeepgramSpeaker`], one async websocket per call for streaming replies (Speak as
//! sentences arrive, Flush at the end, Clear on barge-in), and [`DeepgramTts`], the blocking
//! [`Tts`] that speaks one sentence at a time over pooled websockets and falls back to the REST
//! endpoint when the websocket fails. Both ask for µ-law at 8 kHz: what Twilio plays, so no
//! resampling on the hot path.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::cloud_http::{block_on, body_bytes, error_chain, http_client, send_with_retry};
use crate::cloud_http::{error_message, status_error};
use crate::{DeepgramConfig, SpeechAudio, SpeechError, Tts};

const PROVIDER: &str = "deepgram";
/// Default Aura voice.
pub const DEEPGRAM_DEFAULT_VOICE: &str = "aura-2-thalia-en";
/// Idle websockets kept for the next sentence; more would only hold Deepgram concurrency slots.
const MAX_POOLED: usize = 4;
/// Deepgram closes idle sockets after an undocumented while; older ones are not worth a try.
const POOL_MAX_IDLE: Duration = Duration::from_secs(30);
/// After the websocket fails, sentences go straight to REST for this long: a refused upgrade
/// (proxy, outage) would otherwise cost every sentence an extra round trip.
const WEBSOCKET_COOLDOWN: Duration = Duration::from_secs(30);

/// The audio format asked of Deepgram. Websocket output is always raw (no container).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeakEncoding {
    /// G.711 µ-law, one byte per sample: Twilio Media Streams' format.
    Mulaw,
    /// Signed 16-bit little-endian PCM.
    Linear16,
}

impl SpeakEncoding {
    fn as_param(self) -> &'static str {
        match self {
            SpeakEncoding::Mulaw => "mulaw",
            SpeakEncoding::Linear16 => "linear16",
        }
    }
}

/// Voice and audio format of a [`DeepgramSpeaker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakOptions {
    /// Aura voice id, e.g. `aura-2-thalia-en`.
    pub model: String,
    /// Output encoding of the binary frames.
    pub encoding: SpeakEncoding,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
}

impl Default for SpeakOptions {
    /// Thalia, µ-law at 8 kHz: phone-ready.
    fn default() -> Self {
        SpeakOptions {
            model: DEEPGRAM_DEFAULT_VOICE.to_owned(),
            encoding: SpeakEncoding::Mulaw,
            sample_rate: 8000,
        }
    }
}

impl SpeakOptions {
    fn query(&self) -> [(&'static str, String); 3] {
        [
            ("model", self.model.clone()),
            ("encoding", self.encoding.as_param().to_owned()),
            ("sample_rate", self.sample_rate.to_string()),
        ]
    }
}

/// What the speak websocket said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakEvent {
    /// Raw audio in the requested encoding and rate.
    Audio(Vec<u8>),
    /// All audio of flush number `sequence_id` has been sent.
    Flushed { sequence_id: u64 },
    /// The server dropped its buffered text and audio after our Clear.
    Cleared { sequence_id: u64 },
    /// A non-fatal complaint, e.g. too many flushes per minute.
    Warning { code: String, description: String },
}

#[derive(Deserialize)]
struct ServerMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    sequence_id: u64,
    #[serde(default)]
    code: String,
    #[serde(default)]
    description: String,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One Aura websocket, typically one per call. Send text with [`speak`](Self::speak) as the
/// brain produces sentences, [`flush`](Self::flush) to have it synthesised, and read
/// [`next_event`](Self::next_event) in the call's `select!` loop; [`clear`](Self::clear) on
/// barge-in drops everything not yet heard, and audio still in flight before the server's
/// `Cleared` is discarded here so it never reaches the caller.
pub struct DeepgramSpeaker {
    socket: Socket,
    clearing: bool,
}

impl DeepgramSpeaker {
    /// Opens `wss://…/v1/speak` with `options`, authenticated by `Authorization: Token <key>`,
    /// within the config's connect timeout.
    pub async fn connect(
        config: &DeepgramConfig,
        options: &SpeakOptions,
    ) -> Result<Self, SpeechError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/v1/speak", config.ws_base()),
            options.query(),
        )
        .map_err(|e| SpeechError::InvalidInput(format!("Deepgram URL: {e}")))?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| SpeechError::InvalidInput(format!("Deepgram URL: {e}")))?;
        let auth = HeaderValue::from_str(&format!("Token {}", config.api_key))
            .map_err(|_| SpeechError::InvalidInput("Deepgram API key is not a header".into()))?;
        request.headers_mut().insert("authorization", auth);
        // The default rustls connector uses the process-wide crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Small buffers (one per call; Deepgram's messages are a few KiB at most) and no
        // Nagle delay on the 20 ms audio frames.
        let connecting = tokio_tungstenite::connect_async_with_config(
            request,
            Some(crate::deepgram_config::ws_config()),
            true,
        );
        let (socket, _) = tokio::time::timeout(config.connect_timeout, connecting)
            .await
            .map_err(|_| SpeechError::Unreachable {
                provider: PROVIDER,
                message: format!(
                    "websocket connect timed out after {:?}",
                    config.connect_timeout
                ),
            })?
            .map_err(handshake_error)?;
        Ok(DeepgramSpeaker {
            socket,
            clearing: false,
        })
    }

    /// Appends `text` to the server's buffer (nothing is spoken until [`flush`](Self::flush)).
    pub async fn speak(&mut self, text: &str) -> Result<(), SpeechError> {
        let message = serde_json::json!({"type": "Speak", "text": text});
        self.send_text(message.to_string()).await
    }

    /// Synthesises everything buffered; a `Flushed` event follows its last audio frame.
    pub async fn flush(&mut self) -> Result<(), SpeechError> {
        self.send_text(r#"{"type":"Flush"}"#.to_owned()).await
    }

    /// Barge-in: drops buffered text and unsent audio. Audio frames until `Cleared` are
    /// discarded by [`next_event`](Self::next_event).
    pub async fn clear(&mut self) -> Result<(), SpeechError> {
        self.clearing = true;
        self.send_text(r#"{"type":"Clear"}"#.to_owned()).await
    }

    /// Asks the server to finish and close; keep reading events until `None`.
    pub async fn close(&mut self) -> Result<(), SpeechError> {
        self.send_text(r#"{"type":"Close"}"#.to_owned()).await
    }

    /// The next event; `Ok(None)` once the server closed normally. Cancel-safe, so it can sit
    /// in a `select!` beside the sends.
    pub async fn next_event(&mut self) -> Result<Option<SpeakEvent>, SpeechError> {
        loop {
            let message = match self.socket.next().await {
                None => return Ok(None),
                Some(Ok(message)) => message,
                Some(Err(tungstenite::Error::ConnectionClosed)) => return Ok(None),
                Some(Err(e)) => return Err(unreachable_error("websocket read", &e)),
            };
            match message {
                Message::Binary(bytes) => {
                    if !self.clearing && !bytes.is_empty() {
                        return Ok(Some(SpeakEvent::Audio(bytes.to_vec())));
                    }
                }
                Message::Text(text) => {
                    if let Some(event) = self.parse_event(&text)? {
                        return Ok(Some(event));
                    }
                }
                Message::Close(frame) => {
                    return match frame {
                        Some(f) if !matches!(f.code, CloseCode::Normal | CloseCode::Away) => {
                            Err(SpeechError::Provider {
                                provider: PROVIDER,
                                status: u16::from(f.code),
                                message: format!("websocket closed: {}", f.reason),
                            })
                        }
                        _ => Ok(None),
                    };
                }
                // tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    fn parse_event(&mut self, text: &str) -> Result<Option<SpeakEvent>, SpeechError> {
        let message: ServerMessage =
            serde_json::from_str(text).map_err(|e| SpeechError::BadResponse {
                provider: PROVIDER,
                message: format!("{e} in {text:.200}"),
            })?;
        Ok(match message.kind.as_str() {
            "Flushed" => Some(SpeakEvent::Flushed {
                sequence_id: message.sequence_id,
            }),
            "Cleared" => {
                self.clearing = false;
                Some(SpeakEvent::Cleared {
                    sequence_id: message.sequence_id,
                })
            }
            "Warning" => Some(SpeakEvent::Warning {
                code: message.code,
                description: message.description,
            }),
            // Errors arrive as close frames; Metadata and future types carry nothing we use.
            other => {
                tracing::debug!(kind = other, "ignoring Deepgram speak message");
                None
            }
        })
    }

    async fn send_text(&mut self, text: String) -> Result<(), SpeechError> {
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|e| unreachable_error("websocket send", &e))
    }
}

fn unreachable_error(what: &str, e: &tungstenite::Error) -> SpeechError {
    SpeechError::Unreachable {
        provider: PROVIDER,
        message: format!("{what}: {}", error_chain(e)),
    }
}

/// A refused upgrade carries Deepgram's HTTP status and JSON body, like the REST endpoints.
fn handshake_error(e: tungstenite::Error) -> SpeechError {
    match e {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let status = response.status().as_u16();
            match status {
                401 | 403 | 429 => status_error(PROVIDER, status, &body),
                _ => SpeechError::Provider {
                    provider: PROVIDER,
                    status,
                    message: format!("websocket upgrade refused: {}", error_message(&body)),
                },
            }
        }
        other => unreachable_error("websocket connect", &other),
    }
}

/// Blocking Aura [`Tts`]: µ-law 8 kHz decoded to PCM16, returned at 8 kHz.
///
/// Each sentence goes over a pooled websocket (Speak + Flush, audio until `Flushed`), which
/// saves the TCP/TLS/upgrade round trips of a fresh request; if the websocket fails for any
/// reason the same sentence is fetched over REST, so a flaky socket costs latency, not silence.
pub struct DeepgramTts {
    config: DeepgramConfig,
    options: SpeakOptions,
    timeout: Duration,
    http: reqwest::Client,
    idle: Mutex<Vec<(DeepgramSpeaker, Instant)>>,
    websocket_cooldown: Duration,
    websocket_down_until: Mutex<Option<Instant>>,
    runtime: OnceLock<tokio::runtime::Runtime>,
    name: String,
}

impl DeepgramTts {
    /// The default voice ([`DEEPGRAM_DEFAULT_VOICE`]) with a 10 s limit per sentence.
    pub fn new(config: DeepgramConfig) -> Result<Self, SpeechError> {
        let http = http_client(PROVIDER, config.connect_timeout)?;
        let options = SpeakOptions::default();
        Ok(DeepgramTts {
            name: format!("deepgram:{}", options.model),
            config,
            options,
            timeout: Duration::from_secs(10),
            http,
            idle: Mutex::new(Vec::new()),
            websocket_cooldown: WEBSOCKET_COOLDOWN,
            websocket_down_until: Mutex::new(None),
            runtime: OnceLock::new(),
        })
    }

    /// Speaks with the Aura voice `model` (e.g. `aura-2-helena-en`).
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.options.model = model.into();
        self.name = format!("deepgram:{}", self.options.model);
        self
    }

    /// Limit for one sentence over one path (websocket, then REST each get this long).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long sentences skip the websocket after it failed (default 30 s).
    pub fn with_websocket_cooldown(mut self, cooldown: Duration) -> Self {
        self.websocket_cooldown = cooldown;
        self
    }

    async fn synthesize_async(&self, text: &str) -> Result<Vec<u8>, SpeechError> {
        let down_until = *self
            .websocket_down_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if down_until.is_some_and(|t| Instant::now() < t) {
            return self.over_rest(text).await;
        }
        match self.over_websocket(text).await {
            Ok(audio) => Ok(audio),
            Err(ws_error) => {
                tracing::warn!(error = %ws_error, "Deepgram speak websocket failed; using REST");
                *self
                    .websocket_down_until
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + self.websocket_cooldown);
                self.over_rest(text).await
            }
        }
    }

    /// A pooled socket first; if it turns out dead (closed while idle), one fresh socket.
    async fn over_websocket(&self, text: &str) -> Result<Vec<u8>, SpeechError> {
        if let Some(mut speaker) = self.take_idle() {
            match self.speak_once(&mut speaker, text).await {
                Ok(audio) => {
                    self.put_idle(speaker);
                    return Ok(audio);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "pooled Deepgram socket failed; reconnecting")
                }
            }
        }
        let connect = DeepgramSpeaker::connect(&self.config, &self.options);
        let mut speaker = connect.await?;
        let audio = self.speak_once(&mut speaker, text).await?;
        self.put_idle(speaker);
        Ok(audio)
    }

    async fn speak_once(
        &self,
        speaker: &mut DeepgramSpeaker,
        text: &str,
    ) -> Result<Vec<u8>, SpeechError> {
        let exchange = async {
            speaker.speak(text).await?;
            speaker.flush().await?;
            let mut audio = Vec::new();
            loop {
                match speaker.next_event().await? {
                    Some(SpeakEvent::Audio(bytes)) => audio.extend_from_slice(&bytes),
                    Some(SpeakEvent::Flushed { .. }) => return Ok(audio),
                    Some(SpeakEvent::Warning { code, description }) => {
                        tracing::warn!(%code, %description, "Deepgram speak warning");
                    }
                    Some(SpeakEvent::Cleared { .. }) => {}
                    None => {
                        return Err(SpeechError::Unreachable {
                            provider: PROVIDER,
                            message: "websocket closed before Flushed".into(),
                        })
                    }
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SpeechError::Unreachable {
                provider: PROVIDER,
                message: format!("no Flushed within {:?}", self.timeout),
            })?
    }

    async fn over_rest(&self, text: &str) -> Result<Vec<u8>, SpeechError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/v1/speak", self.config.rest_base()),
            self.options
                .query()
                .into_iter()
                .chain([("container", "none".to_owned())]),
        )
        .map_err(|e| SpeechError::InvalidInput(format!("Deepgram URL: {e}")))?;
        let body = serde_json::json!({ "text": text });
        let response = send_with_retry(PROVIDER, || {
            self.http
                .post(url.clone())
                .header("authorization", format!("Token {}", self.config.api_key))
                .timeout(self.timeout)
                .json(&body)
        })
        .await?;
        body_bytes(PROVIDER, response).await
    }

    fn take_idle(&self) -> Option<DeepgramSpeaker> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((speaker, since)) = idle.pop() {
            if since.elapsed() < POOL_MAX_IDLE {
                return Some(speaker);
            }
        }
        None
    }

    fn put_idle(&self, speaker: DeepgramSpeaker) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_POOLED {
            idle.push((speaker, Instant::now()));
        }
    }
}

impl Tts for DeepgramTts {
    fn cpu_bound(&self) -> bool {
        // A network request: never queued behind the local models' slots.
        false
    }

    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SpeechError::InvalidInput("nothing to say".into()));
        }
        let bytes = block_on(&self.runtime, self.synthesize_async(text))??;
        // `options` is always µ-law here (see `new`): one byte per sample.
        Ok(SpeechAudio {
            samples: audio::mulaw::decode_all(&bytes),
            sample_rate: self.options.sample_rate,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }
}
