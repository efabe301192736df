//! Deepgram live speech-to-text over a websocket (`/v1/listen`): one stream per call. The
//! message shapes and the turn recipe are sans-IO in [`crate::deepgram_live_messages`] and
//! [`crate::deepgram_live_turns`]; this file only moves bytes.
//!
//! The stream is split into a [`LiveSender`] (audio + control) and a [`LiveReceiver`] (events)
//! so a call driver can forward the caller's audio and read transcripts from separate tasks.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::deepgram_config::DeepgramConfig;
use crate::deepgram_live_messages::{
    parse_server_message, ControlMessage, LiveEvent, LiveOptions, PROVIDER,
};
use crate::SpeechError;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens live transcription streams.
pub struct DeepgramLive;

impl DeepgramLive {
    /// The upgrade URL for `options`: `<ws base>/v1/listen?<query>`.
    pub fn url(config: &DeepgramConfig, options: &LiveOptions) -> String {
        format!("{}/v1/listen?{}", config.ws_base(), options.query())
    }

    /// Opens one stream, authenticating with `Authorization: Token <key>`. The whole handshake
    /// (TCP, TLS, upgrade) must finish within `config.connect_timeout`.
    ///
    /// Errors: a refused upgrade maps by HTTP status (401/403 [`SpeechError::Unauthorized`],
    /// 429 [`SpeechError::RateLimited`], others [`SpeechError::Provider`]); timeouts and network
    /// failures are [`SpeechError::Unreachable`]; a bad URL is [`SpeechError::InvalidInput`].
    pub async fn connect(
        config: &DeepgramConfig,
        options: &LiveOptions,
    ) -> Result<(LiveSender, LiveReceiver), SpeechError> {
        let url = Self::url(config, options);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| SpeechError::InvalidInput(format!("Deepgram URL {url}: {e}")))?;
        let token = HeaderValue::from_str(&format!("Token {}", config.api_key)).map_err(|_| {
            SpeechError::InvalidInput("Deepgram API key is not a valid header".into())
        })?;
        request.headers_mut().insert(AUTHORIZATION, token);
        if url.starts_with("wss://") {
            // tokio-tungstenite builds its rustls config from the process-wide provider; ring is
            // the only one compiled in (no aws-lc). Installing twice is a harmless no-op.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        // Small buffers (one per call; Deepgram's messages are a few KiB at most) and no
        // Nagle delay on the 20 ms audio frames.
        let connecting = tokio_tungstenite::connect_async_with_config(
            request,
            Some(crate::deepgram_config::ws_config()),
            true,
        );
        let (socket, _response) = tokio::time::timeout(config.connect_timeout, connecting)
            .await
            .map_err(|_| SpeechError::Unreachable {
                provider: PROVIDER,
                message: format!("connect timed out after {:?}", config.connect_timeout),
            })?
            .map_err(handshake_error)?;
        let (sink, stream) = socket.split();
        Ok((
            LiveSender { sink },
            LiveReceiver {
                stream,
                finished: false,
            },
        ))
    }
}

/// Maps a failed websocket handshake to a typed error, keeping Deepgram's diagnostics
/// (`dg-error`, `dg-request-id`) in the message.
fn handshake_error(error: WsError) -> SpeechError {
    match error {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let mut message = header("dg-error")
                .or_else(|| {
                    response
                        .body()
                        .as_deref()
                        .map(|b| String::from_utf8_lossy(b).trim().to_string())
                        .filter(|b| !b.is_empty())
                })
                .unwrap_or_else(|| format!("HTTP {status}"));
            if let Some(id) = header("dg-request-id") {
                message.push_str(&format!(" (request id {id})"));
            }
            match status {
                401 | 403 => SpeechError::Unauthorized {
                    provider: PROVIDER,
                    message,
                },
                429 => SpeechError::RateLimited {
                    provider: PROVIDER,
                    message,
                },
                _ => SpeechError::Provider {
                    provider: PROVIDER,
                    status,
                    message,
                },
            }
        }
        other => SpeechError::Unreachable {
            provider: PROVIDER,
            message: other.to_string(),
        },
    }
}

fn stream_failed(error: WsError) -> SpeechError {
    SpeechError::StreamFailed {
        provider: PROVIDER,
        message: error.to_string(),
    }
}

/// The sending half of a live stream.
pub struct LiveSender {
    sink: SplitSink<Socket, Message>,
}

impl LiveSender {
    /// Sends raw audio in the stream's encoding as one binary frame (Twilio's 160-byte mu-law
    /// frames can be sent unchanged, or batched 2–5 at a time).
    pub async fn send_audio(&mut self, audio: Vec<u8>) -> Result<(), SpeechError> {
        self.sink
            .send(Message::binary(audio))
            .await
            .map_err(stream_failed)
    }

    /// Keeps the stream open while no audio is sent; send every 3–5 s or the server closes the
    /// stream after 10 s.
    pub async fn keep_alive(&mut self) -> Result<(), SpeechError> {
        self.control(ControlMessage::KeepAlive).await
    }

    /// Asks the server to transcribe buffered audio now; the answer is a final with
    /// `from_finalize: true` (if audio was pending).
    pub async fn finalize(&mut self) -> Result<(), SpeechError> {
        self.control(ControlMessage::Finalize).await
    }

    /// Asks the server to flush, send `Metadata` and close; keep reading the receiver until it
    /// returns `None` to get the last results.
    pub async fn close_stream(&mut self) -> Result<(), SpeechError> {
        self.control(ControlMessage::CloseStream).await
    }

    async fn control(&mut self, message: ControlMessage) -> Result<(), SpeechError> {
        self.sink
            .send(Message::text(message.as_json()))
            .await
            .map_err(stream_failed)
    }
}

impl std::fmt::Debug for LiveSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSender").finish_non_exhaustive()
    }
}

/// The receiving half of a live stream.
pub struct LiveReceiver {
    stream: SplitStream<Socket>,
    /// Set once the stream ended, so `next` keeps returning `None` afterwards.
    finished: bool,
}

impl LiveReceiver {
    /// The next server event. `None` once the stream closed normally (after `CloseStream`);
    /// an error close frame (e.g. 1011 `NET-0001`) gives one [`SpeechError::StreamClosed`] and a
    /// dropped connection one [`SpeechError::StreamFailed`], each followed by `None`.
    pub async fn next(&mut self) -> Option<Result<LiveEvent, SpeechError>> {
        while !self.finished {
            let Some(message) = self.stream.next().await else {
                self.finished = true;
                return None;
            };
            match message {
                Ok(Message::Text(text)) => return Some(parse_server_message(&text)),
                Ok(Message::Close(frame)) => {
                    self.finished = true;
                    let frame = frame?;
                    if frame.code == CloseCode::Normal {
                        return None;
                    }
                    return Some(Err(SpeechError::StreamClosed {
                        provider: PROVIDER,
                        code: frame.code.into(),
                        reason: frame.reason.to_string(),
                    }));
                }
                // Deepgram sends no binary frames on this endpoint; pings are answered by
                // tungstenite itself.
                Ok(
                    Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_),
                ) => {}
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    self.finished = true;
                    return None;
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(stream_failed(e)));
                }
            }
        }
        None
    }
}

impl std::fmt::Debug for LiveReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveReceiver")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn url_joins_the_listen_path_and_the_query() {
        let config = DeepgramConfig {
            base_url: "ws://127.0.0.1:1234/".to_string(),
            api_key: "k".to_string(),
            connect_timeout: Duration::from_secs(1),
        };
        let url = DeepgramLive::url(&config, &LiveOptions::default());
        assert!(url.starts_with("ws://127.0.0.1:1234/v1/listen?model=nova-3&"));
    }

    #[tokio::test]
    async fn connect_to_a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let config = DeepgramConfig {
            base_url: format!("ws://127.0.0.1:{port}"),
            api_key: "k".to_string(),
            connect_timeout: Duration::from_secs(2),
        };
        let err = DeepgramLive::connect(&config, &LiveOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, SpeechError::Unreachable { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_the_handshake_times_out() {
        // Accepts TCP but never speaks HTTP.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _hold = tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let config = DeepgramConfig {
            base_url: format!("ws://127.0.0.1:{port}"),
            api_key: "k".to_string(),
            connect_timeout: Duration::from_millis(200),
        };
        let err = DeepgramLive::connect(&config, &LiveOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SpeechError::Unreachable { message, .. } if message.contains("timed out")),
            "{err}"
        );
    }
}
