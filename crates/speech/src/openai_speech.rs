//! OpenAI-compatible cloud speech: `POST {base}/audio/speech` for TTS (raw 24 kHz PCM16) and
//! `POST {base}/audio/transcriptions` for STT (a WAV of one utterance, multipart).
//! Wire shapes: `shared/specs/openai.md` sections 3–5.

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cloud_http::{block_on, body_bytes, http_client, send_with_retry};
use crate::{SpeechAudio, SpeechError, Stt, Tts};

const PROVIDER: &str = "openai";
/// Default API base; any OpenAI-compatible server works by changing it.
pub const OPENAI_SPEECH_DEFAULT_URL: &str = "https://api.openai.com/v1";
/// Environment variable that overrides [`OpenAiSpeechConfig::base_url`].
pub const OPENAI_SPEECH_URL_ENV: &str = "CALLPILOT_OPENAI_SPEECH_URL";
/// Environment variable holding the API key.
pub const OPENAI_API_KEY_ENV: &str = "OPENAI_API_KEY";
/// `response_format: "pcm"` is raw mono s16le at this rate (no header says so).
pub const OPENAI_PCM_SAMPLE_RATE: u32 = 24_000;
/// A connection that takes longer than this to open will not make a live reply in time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where an OpenAI-compatible speech service lives, which models and voice to use.
#[derive(Clone)]
pub struct OpenAiSpeechConfig {
    /// API base including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// TTS model, e.g. `gpt-4o-mini-tts`.
    pub tts_model: String,
    /// TTS voice, e.g. `alloy`.
    pub voice: String,
    /// STT model, e.g. `gpt-4o-mini-transcribe`.
    pub stt_model: String,
    /// Whole-request limit (connect, upload, answer), per attempt.
    pub timeout: Duration,
}

impl Default for OpenAiSpeechConfig {
    fn default() -> Self {
        OpenAiSpeechConfig {
            base_url: OPENAI_SPEECH_DEFAULT_URL.to_owned(),
            api_key: String::new(),
            tts_model: "gpt-4o-mini-tts".to_owned(),
            voice: "alloy".to_owned(),
            stt_model: "gpt-4o-mini-transcribe".to_owned(),
            timeout: Duration::from_secs(15),
        }
    }
}

impl OpenAiSpeechConfig {
    /// Defaults with the base URL from `CALLPILOT_OPENAI_SPEECH_URL` and the key from
    /// `OPENAI_API_KEY` where set.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let defaults = OpenAiSpeechConfig::default();
        OpenAiSpeechConfig {
            base_url: var(OPENAI_SPEECH_URL_ENV).unwrap_or(defaults.base_url.clone()),
            api_key: var(OPENAI_API_KEY_ENV).unwrap_or_default(),
            ..defaults
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url.trim().trim_end_matches('/'))
    }
}

impl std::fmt::Debug for OpenAiSpeechConfig {
    // The key must never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSpeechConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("tts_model", &self.tts_model)
            .field("voice", &self.voice)
            .field("stt_model", &self.stt_model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The state both directions share: one HTTP client (its connection pool keeps TLS sessions
/// warm between sentences) and the fallback runtime for callers outside tokio.
struct Client {
    config: OpenAiSpeechConfig,
    http: reqwest::Client,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl Client {
    fn new(config: OpenAiSpeechConfig) -> Result<Self, SpeechError> {
        if !config.base_url.starts_with("http://") && !config.base_url.starts_with("https://") {
            return Err(SpeechError::InvalidInput(format!(
                "OpenAI speech base URL must start with http:// or https://, got {:?}",
                config.base_url
            )));
        }
        let http = http_client(PROVIDER, CONNECT_TIMEOUT.min(config.timeout))?;
        Ok(Client {
            config,
            http,
            runtime: OnceLock::new(),
        })
    }
}

#[derive(Serialize)]
struct SpeechRequest<'a> {
    model: &'a str,
    input: &'a str,
    voice: &'a str,
    response_format: &'static str,
}

/// Text-to-speech through `POST {base}/audio/speech`; returns 24 kHz mono PCM16.
pub struct OpenAiTts {
    client: Client,
    name: String,
}

impl OpenAiTts {
    /// A voice for `config`; fails only on an unusable base URL or TLS setup.
    pub fn new(config: OpenAiSpeechConfig) -> Result<Self, SpeechError> {
        let name = format!("openai:{}:{}", config.tts_model, config.voice);
        Ok(OpenAiTts {
            client: Client::new(config)?,
            name,
        })
    }

    async fn fetch(&self, text: &str) -> Result<Vec<u8>, SpeechError> {
        let c = &self.client;
        let url = c.config.endpoint("audio/speech");
        let body = SpeechRequest {
            model: &c.config.tts_model,
            input: text,
            voice: &c.config.voice,
            response_format: "pcm",
        };
        let response = send_with_retry(PROVIDER, || {
            c.http
                .post(&url)
                .bearer_auth(&c.config.api_key)
                .timeout(c.config.timeout)
                .json(&body)
        })
        .await?;
        body_bytes(PROVIDER, response).await
    }
}

impl Tts for OpenAiTts {
    fn cpu_bound(&self) -> bool {
        // A network request: never queued behind the local models' slots.
        false
    }

    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SpeechError::InvalidInput("nothing to say".into()));
        }
        let bytes = block_on(&self.client.runtime, self.fetch(text))??;
        if bytes.len() % 2 != 0 {
            // Whole samples or nothing: an odd length means the stream was cut mid-sample.
            return Err(SpeechError::BadResponse {
                provider: PROVIDER,
                message: format!("PCM16 answer of odd length {}", bytes.len()),
            });
        }
        let samples = bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        Ok(SpeechAudio {
            samples,
            sample_rate: OPENAI_PCM_SAMPLE_RATE,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Deserialize)]
struct TranscriptionResponse {
    text: String,
}

/// Speech-to-text through `POST {base}/audio/transcriptions` (one utterance per request).
pub struct OpenAiStt {
    client: Client,
    name: String,
}

impl OpenAiStt {
    /// A transcriber for `config`; fails only on an unusable base URL or TLS setup.
    pub fn new(config: OpenAiSpeechConfig) -> Result<Self, SpeechError> {
        let name = format!("openai:{}", config.stt_model);
        Ok(OpenAiStt {
            client: Client::new(config)?,
            name,
        })
    }

    async fn fetch(&self, wav: Vec<u8>) -> Result<String, SpeechError> {
        let c = &self.client;
        let url = c.config.endpoint("audio/transcriptions");
        let response = send_with_retry(PROVIDER, || {
            // The service needs a filename with an extension and a content type to know the
            // container; the form is rebuilt per attempt because sending consumes it.
            let file = reqwest::multipart::Part::bytes(wav.clone())
                .file_name("utterance.wav")
                .mime_str("audio/wav")
                .expect("audio/wav is a valid MIME type");
            let form = reqwest::multipart::Form::new()
                .part("file", file)
                .text("model", c.config.stt_model.clone())
                .text("response_format", "json");
            c.http
                .post(&url)
                .bearer_auth(&c.config.api_key)
                .timeout(c.config.timeout)
                .multipart(form)
        })
        .await?;
        let body = body_bytes(PROVIDER, response).await?;
        let parsed: TranscriptionResponse =
            serde_json::from_slice(&body).map_err(|e| SpeechError::BadResponse {
                provider: PROVIDER,
                message: format!("transcription JSON: {e}"),
            })?;
        Ok(parsed.text.trim().to_owned())
    }
}

impl Stt for OpenAiStt {
    fn cpu_bound(&self) -> bool {
        // A network request: never queued behind the local models' slots.
        false
    }

    fn transcribe(&self, pcm: &[i16], sample_rate: u32) -> Result<String, SpeechError> {
        if sample_rate == 0 {
            return Err(SpeechError::InvalidInput("sample rate 0".into()));
        }
        if pcm.is_empty() {
            // Nothing was said; a request would only cost money and latency.
            return Ok(String::new());
        }
        let mut wav = Vec::with_capacity(44 + pcm.len() * 2);
        audio::write_wav(&mut wav, pcm, sample_rate)
            .map_err(|e| SpeechError::InvalidInput(format!("encoding WAV: {e}")))?;
        block_on(&self.client.runtime, self.fetch(wav))?
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_a_base_with_or_without_trailing_slash() {
        let mut config = OpenAiSpeechConfig {
            base_url: "http://127.0.0.1:9/v1/".into(),
            ..OpenAiSpeechConfig::default()
        };
        assert_eq!(
            config.endpoint("audio/speech"),
            "http://127.0.0.1:9/v1/audio/speech"
        );
        config.base_url = "https://api.openai.com/v1".into();
        assert_eq!(
            config.endpoint("audio/transcriptions"),
            "https://api.openai.com/v1/audio/transcriptions"
        );
    }

    #[test]
    fn debug_output_redacts_the_api_key() {
        let config = OpenAiSpeechConfig {
            api_key: "sk-secret".into(),
            ..OpenAiSpeechConfig::default()
        };
        assert!(!format!("{config:?}").contains("sk-secret"));
    }

    #[test]
    fn base_url_without_http_scheme_is_rejected() {
        let config = OpenAiSpeechConfig {
            base_url: "api.openai.com/v1".into(),
            ..OpenAiSpeechConfig::default()
        };
        assert!(matches!(
            OpenAiTts::new(config),
            Err(SpeechError::InvalidInput(_))
        ));
    }

    #[test]
    fn empty_text_is_refused_before_any_request() {
        let tts = OpenAiTts::new(OpenAiSpeechConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            ..OpenAiSpeechConfig::default()
        })
        .unwrap();
        assert!(matches!(
            tts.synthesize("  "),
            Err(SpeechError::InvalidInput(_))
        ));
    }
}
