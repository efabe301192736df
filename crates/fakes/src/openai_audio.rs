//! A fake OpenAI audio API (`shared/specs/openai.md` sections 3–4): `POST /v1/audio/speech`
//! (raw 24 kHz PCM16 or WAV from a pluggable [`Tts`]) and `POST /v1/audio/transcriptions`
//! (multipart upload of a WAV, transcribed by a pluggable [`Stt`]), behind
//! `Authorization: Bearer <key>`, with OpenAI's JSON error shape and injectable 429/5xx answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use speech::{Stt, Tts};
use tokio::task::JoinHandle;

/// `response_format: "pcm"` is defined as 24 kHz mono s16le.
const PCM_RATE: u32 = 24_000;
/// The service's upload limit.
const MAX_UPLOAD: usize = 25 * 1024 * 1024;

/// How the fake behaves.
pub struct FakeOpenAiAudioConfig {
    /// The key clients must send as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// Speaks `/audio/speech` requests.
    pub voice: Arc<dyn Tts>,
    /// Transcribes the samples of `/audio/transcriptions` uploads.
    pub transcriber: Arc<dyn Stt>,
}

struct Shared {
    api_key: String,
    voice: Arc<dyn Tts>,
    transcriber: Arc<dyn Stt>,
    /// Injected failures still to answer: (remaining, status).
    faults: Mutex<(usize, StatusCode)>,
    requests: Mutex<HashMap<String, usize>>,
    last_speech: Mutex<Option<serde_json::Value>>,
    last_transcription: Mutex<Vec<(String, String)>>,
    failures_sent: AtomicUsize,
}

/// A running fake; stops when dropped.
pub struct FakeOpenAiAudio {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeOpenAiAudio {
    /// Listens on `127.0.0.1:0` and serves until dropped.
    pub async fn start(config: FakeOpenAiAudioConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            api_key: config.api_key,
            voice: config.voice,
            transcriber: config.transcriber,
            faults: Mutex::new((0, StatusCode::INTERNAL_SERVER_ERROR)),
            requests: Mutex::new(HashMap::new()),
            last_speech: Mutex::new(None),
            last_transcription: Mutex::new(Vec::new()),
            failures_sent: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/audio/speech", post(speech))
            .route("/v1/audio/transcriptions", post(transcriptions))
            .layer(DefaultBodyLimit::max(MAX_UPLOAD))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake OpenAI audio server stopped");
            }
        });
        Ok(FakeOpenAiAudio {
            addr,
            shared,
            server,
        })
    }

    /// API base for `OpenAiSpeechConfig::base_url` (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answers the next `count` requests (any path, authorised or not) with `status` (429 or
    /// 5xx) and OpenAI's error body.
    pub fn fail_next(&self, count: usize, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *lock(&self.shared.faults) = (count, status);
    }

    /// Requests received on `path` (e.g. `/v1/audio/speech`), failed or not.
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.shared.requests).get(path).copied().unwrap_or(0)
    }

    /// Injected failures answered so far.
    pub fn failures_sent(&self) -> usize {
        self.shared.failures_sent.load(Ordering::SeqCst)
    }

    /// JSON body of the last accepted `/audio/speech` request.
    pub fn last_speech_request(&self) -> Option<serde_json::Value> {
        lock(&self.shared.last_speech).clone()
    }

    /// Text fields (name, value) of the last accepted `/audio/transcriptions` upload, plus
    /// `("file.filename", ..)` and `("file.content_type", ..)` describing the file part.
    pub fn last_transcription_fields(&self) -> Vec<(String, String)> {
        lock(&self.shared.last_transcription).clone()
    }
}

impl Drop for FakeOpenAiAudio {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// OpenAI's error shape: `{"error":{"message","type","param","code"}}`.
fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let body = serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    });
    (status, Json(body)).into_response()
}

fn invalid(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
    )
}

/// Counting, injected faults and auth, in the order the real service applies them to us:
/// a request is counted even when it fails.
fn gate(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    *lock(&shared.requests)
        .entry(uri.path().to_owned())
        .or_default() += 1;
    {
        let mut faults = lock(&shared.faults);
        if faults.0 > 0 {
            faults.0 -= 1;
            shared.failures_sent.fetch_add(1, Ordering::SeqCst);
            let status = faults.1;
            return Some(if status == StatusCode::TOO_MANY_REQUESTS {
                let mut response = error(
                    status,
                    "requests",
                    Some("rate_limit_exceeded"),
                    "Rate limit reached (fault injected)",
                );
                // Real 429s say when to come back; a short wait keeps tests fast.
                response
                    .headers_mut()
                    .insert("retry-after-ms", header::HeaderValue::from_static("20"));
                response
            } else {
                error(
                    status,
                    "server_error",
                    None,
                    "The server had an error while processing your request (fault injected)",
                )
            });
        }
    }
    let expected = format!("Bearer {}", shared.api_key);
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        let message = match given {
            None => "You didn't provide an API key.",
            Some(_) => "Incorrect API key provided.",
        };
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            message,
        ));
    }
    None
}

async fn speech(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = gate(&shared, &uri, &headers) {
        return refusal;
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return invalid("We could not parse the JSON body of your request.");
    };
    let field = |name: &str| {
        request
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let (Some(_model), Some(input), Some(_voice)) =
        (field("model"), field("input"), field("voice"))
    else {
        return invalid("'model', 'input' and 'voice' are required.");
    };
    if input.trim().is_empty() || input.chars().count() > 4096 {
        return invalid("'input' must be 1 to 4096 characters.");
    }
    let format = field("response_format").unwrap_or_else(|| "mp3".to_owned());
    if format != "pcm" && format != "wav" {
        return invalid("This fake produces only 'pcm' and 'wav' response formats.");
    }
    *lock(&shared.last_speech) = Some(request.clone());
    let voice = shared.voice.clone();
    let audio = match tokio::task::spawn_blocking(move || voice.synthesize(&input)).await {
        Ok(Ok(audio)) => audio,
        Ok(Err(e)) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                &e.to_string(),
            )
        }
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                &e.to_string(),
            )
        }
    };
    let pcm = audio::resample_i16(&audio.samples, audio.sample_rate, PCM_RATE);
    if format == "wav" {
        let mut file = Vec::with_capacity(44 + pcm.len() * 2);
        if let Err(e) = audio::write_wav(&mut file, &pcm, PCM_RATE) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                &e.to_string(),
            );
        }
        return ([(header::CONTENT_TYPE, "audio/wav")], file).into_response();
    }
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    ([(header::CONTENT_TYPE, "audio/pcm")], bytes).into_response()
}

async fn transcriptions(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = gate(&shared, &uri, &headers) {
        return refusal;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = multipart::boundary(content_type) else {
        return invalid("Content-Type must be multipart/form-data with a boundary.");
    };
    let parts = match multipart::parse(&body, &boundary) {
        Ok(parts) => parts,
        Err(message) => return invalid(&message),
    };
    let text_field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    };
    if text_field("model").is_none() {
        return invalid("you must provide a model parameter");
    }
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return invalid("you must provide a file parameter");
    };
    let Ok((samples, sample_rate)) = audio::read_wav(std::io::Cursor::new(&file.data)) else {
        return invalid("Invalid file format. This fake decodes only PCM16 WAV files.");
    };
    let mut fields: Vec<(String, String)> = parts
        .iter()
        .filter(|p| p.filename.is_none())
        .map(|p| {
            (
                p.name.clone(),
                String::from_utf8_lossy(&p.data).into_owned(),
            )
        })
        .collect();
    fields.push((
        "file.filename".into(),
        file.filename.clone().unwrap_or_default(),
    ));
    fields.push((
        "file.content_type".into(),
        file.content_type.clone().unwrap_or_default(),
    ));
    *lock(&shared.last_transcription) = fields;
    let transcriber = shared.transcriber.clone();
    let heard =
        tokio::task::spawn_blocking(move || transcriber.transcribe(&samples, sample_rate)).await;
    let text = match heard {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                &e.to_string(),
            )
        }
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                &e.to_string(),
            )
        }
    };
    match text_field("response_format").as_deref() {
        Some("text") => ([(header::CONTENT_TYPE, "text/plain")], text).into_response(),
        None | Some("json") => Json(serde_json::json!({"text": text})).into_response(),
        Some(_) => invalid("This fake answers only 'json' and 'text' response formats."),
    }
}

/// Just enough `multipart/form-data` (RFC 7578) to read what HTTP clients upload: parts split by
/// the boundary, each with a `Content-Disposition` name (and filename for files).
mod multipart {
    /// One form field.
    pub(super) struct Part {
        pub name: String,
        pub filename: Option<String>,
        pub content_type: Option<String>,
        pub data: Vec<u8>,
    }

    /// The boundary parameter of a `multipart/form-data` content type.
    pub(super) fn boundary(content_type: &str) -> Option<String> {
        let mut params = content_type.split(';').map(str::trim);
        if !params.next()?.eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    }

    /// Splits `body` into its parts.
    pub(super) fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
        let delimiter = format!("--{boundary}").into_bytes();
        let mut parts = Vec::new();
        let mut rest = match find(body, &delimiter) {
            Some(at) => &body[at + delimiter.len()..],
            None => return Err("multipart body has no boundary".into()),
        };
        loop {
            if rest.starts_with(b"--") {
                return Ok(parts);
            }
            rest = rest
                .strip_prefix(b"\r\n")
                .ok_or("malformed multipart boundary line")?;
            let end = find(rest, &delimiter).ok_or("multipart body is not terminated")?;
            // The part's content ends with the CRLF that precedes the next delimiter.
            let raw = rest[..end]
                .strip_suffix(b"\r\n")
                .ok_or("multipart part lacks its closing CRLF")?;
            parts.push(part(raw)?);
            rest = &rest[end + delimiter.len()..];
        }
    }

    fn part(raw: &[u8]) -> Result<Part, String> {
        let split = find(raw, b"\r\n\r\n").ok_or("multipart part has no header end")?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| "non-UTF-8 part headers")?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            } else if key.trim().eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').map(str::trim) {
                    if let Some((k, v)) = param.split_once('=') {
                        let v = v.trim().trim_matches('"').to_owned();
                        match k.trim() {
                            "name" => name = Some(v),
                            "filename" => filename = Some(v),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(Part {
            name: name.ok_or("multipart part has no name")?,
            filename,
            content_type,
            data: raw[split + 4..].to_vec(),
        })
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_text_and_file_parts() {
            let body =
                b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
Content-Type: audio/wav\r\n\r\nRIFF\r\n--\x00\r\n--XyZ--\r\n";
            let parts = parse(body, "XyZ").unwrap();
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0].name, "model");
            assert_eq!(parts[0].data, b"whisper-1");
            assert_eq!(parts[1].filename.as_deref(), Some("a.wav"));
            assert_eq!(parts[1].content_type.as_deref(), Some("audio/wav"));
            assert_eq!(parts[1].data, b"RIFF\r\n--\x00");
        }

        #[test]
        fn boundary_is_read_from_the_content_type() {
            assert_eq!(
                boundary("multipart/form-data; boundary=\"abc-1\"").as_deref(),
                Some("abc-1")
            );
            assert_eq!(boundary("application/json"), None);
        }
    }
}
