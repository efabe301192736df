//! Client for OpenAI's Chat Completions API and the servers that copy it (Groq, Gemini's compat
//! endpoint, Ollama, vLLM, llama.cpp's `llama-server`), streamed (see `shared/specs/openai.md`).
//!
//! ```no_run
//! use brain::llm::openai::{OpenAiClient, OpenAiConfig};
//! use brain::llm::{ChatMessage, ChatRequest, LlmBackend, LlmEvent};
//! use futures_util::StreamExt;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = OpenAiClient::new(OpenAiConfig::from_env()?)?;
//! let request = ChatRequest {
//!     messages: vec![ChatMessage::user("Can I move my appointment to Friday?")],
//!     ..ChatRequest::default()
//! };
//! let mut stream = client.stream_chat(request);
//! while let Some(event) = stream.next().await {
//!     if let LlmEvent::TextDelta(text) = event? {
//!         print!("{text}");
//!     }
//! }
//! # Ok(()) }
//! ```

mod tool_calls;
mod turn;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};

use super::{ChatRequest, LlmBackend, LlmStream};

/// Where OpenAI itself serves the API.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// The model [`OpenAiConfig::from_env`] picks for OpenAI when none is configured.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

/// Which request field carries the reply length limit. OpenAI deprecated `max_tokens` and its
/// reasoning models reject it; most compatible servers only know `max_tokens` (spec §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

/// How to reach one Chat Completions server. Build it with [`OpenAiConfig::new`] or
/// [`OpenAiConfig::from_env`], then adjust the public fields.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// API root without the trailing `/chat/completions`, e.g. `http://localhost:11434/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    pub model: String,
    /// Longest wait, from the start of the request (retries included), for the first text or
    /// tool call. A phone caller hears silence meanwhile, so this is short.
    pub timeout_first_token: Duration,
    /// Longest silence (no bytes at all) allowed once the answer has started.
    pub stall_timeout: Duration,
    /// TCP + TLS connection setup limit.
    pub connect_timeout: Duration,
    /// Retries after the first attempt, on connection errors, 408, 409, 429 and 5xx, and only
    /// before anything has been yielded.
    pub max_retries: u32,
    /// First backoff delay; doubles with every retry, minus up to 25 % jitter.
    pub retry_base_delay: Duration,
    /// Ceiling of one backoff delay. A server asking (`Retry-After`) for a longer wait is not
    /// retried at all: on a live call a fallback line beats long silence.
    pub max_retry_delay: Duration,
    pub max_tokens_field: MaxTokensField,
    /// Send `stream_options: {"include_usage": true}` to get token usage at the end. Some
    /// compatible servers reject the field, so it is on by default only for OpenAI.
    pub include_usage: bool,
    /// Added to every request (`OpenAI-Organization`, `OpenAI-Project`, proxy auth …).
    pub extra_headers: Vec<(String, String)>,
}

/// Why an [`OpenAiConfig`] cannot be built or used.
#[derive(Debug, thiserror::Error)]
pub enum OpenAiConfigError {
    #[error("{0} is not set; it is needed to call the LLM server")]
    MissingVar(&'static str),
    #[error("invalid LLM base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("invalid extra header {name:?}: {reason}")]
    Header { name: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Secrets (the API key, extra header values such as proxy credentials) stay out of logs.
impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.extra_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout_first_token", &self.timeout_first_token)
            .field("stall_timeout", &self.stall_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("max_retry_delay", &self.max_retry_delay)
            .field("max_tokens_field", &self.max_tokens_field)
            .field("include_usage", &self.include_usage)
            .field("extra_headers", &header_names)
            .finish()
    }
}

impl OpenAiConfig {
    /// Defaults for the server at `base_url`: OpenAI gets `max_completion_tokens` and usage
    /// reporting, every other server `max_tokens` and no `stream_options` (spec §1.1, §2).
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        let base_url = base_url.into();
        let openai = is_openai(&base_url);
        OpenAiConfig {
            base_url,
            api_key: None,
            model: model.into(),
            timeout_first_token: Duration::from_secs(8),
            stall_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(250),
            max_retry_delay: Duration::from_secs(2),
            max_tokens_field: if openai {
                MaxTokensField::MaxCompletionTokens
            } else {
                MaxTokensField::MaxTokens
            },
            include_usage: openai,
            extra_headers: Vec::new(),
        }
    }

    /// Reads `CALLPILOT_LLM_BASE_URL` (default OpenAI), `CALLPILOT_LLM_MODEL` (default
    /// [`DEFAULT_OPENAI_MODEL`] on OpenAI, required elsewhere) and `CALLPILOT_LLM_API_KEY` or
    /// `OPENAI_API_KEY` (required on OpenAI). Empty values count as unset.
    pub fn from_env() -> Result<Self, OpenAiConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`OpenAiConfig::from_env`] reading variables through `lookup` (a config file, a test).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, OpenAiConfigError> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let base_url = var("CALLPILOT_LLM_BASE_URL").unwrap_or_else(|| OPENAI_BASE_URL.into());
        let openai = is_openai(&base_url);
        let model = match var("CALLPILOT_LLM_MODEL") {
            Some(model) => model,
            None if openai => DEFAULT_OPENAI_MODEL.into(),
            None => return Err(OpenAiConfigError::MissingVar("CALLPILOT_LLM_MODEL")),
        };
        let api_key = var("CALLPILOT_LLM_API_KEY").or_else(|| var("OPENAI_API_KEY"));
        if openai && api_key.is_none() {
            return Err(OpenAiConfigError::MissingVar("OPENAI_API_KEY"));
        }
        let mut config = OpenAiConfig::new(base_url, model);
        config.api_key = api_key;
        Ok(config)
    }
}

fn is_openai(base_url: &str) -> bool {
    Url::parse(base_url).is_ok_and(|url| url.host_str() == Some("api.openai.com"))
}

/// A Chat Completions server behind [`LlmBackend`]. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct OpenAiClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: OpenAiConfig,
    http: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    name: String,
}

impl OpenAiClient {
    /// Checks the configuration and prepares the connection pool (nothing is sent yet).
    pub fn new(config: OpenAiConfig) -> Result<Self, OpenAiConfigError> {
        let endpoint = endpoint(&config.base_url)?;
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                OpenAiConfigError::Header {
                    name: "Authorization".into(),
                    reason: "the API key contains characters not allowed in a header".into(),
                }
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        for (name, value) in &config.extra_headers {
            let invalid = |reason: &str| OpenAiConfigError::Header {
                name: name.clone(),
                reason: reason.into(),
            };
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("not a valid header name"))?;
            let mut value =
                HeaderValue::from_str(value).map_err(|_| invalid("not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        let http = http_client(config.connect_timeout).map_err(OpenAiConfigError::Client)?;
        let host = endpoint.host_str().unwrap_or_default();
        let name = if host == "api.openai.com" {
            format!("openai:{}", config.model)
        } else {
            let port = endpoint.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("openai-compatible:{}@{host}{port}", config.model)
        };
        Ok(OpenAiClient {
            inner: Arc::new(Inner {
                config,
                http,
                endpoint,
                headers,
                name,
            }),
        })
    }

    /// The configuration this client runs with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.inner.config
    }
}

impl LlmBackend for OpenAiClient {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn stream_chat(&self, request: ChatRequest) -> LlmStream {
        let config = &self.inner.config;
        let body = wire::request_body(
            &request,
            &wire::BodyOptions {
                model: &config.model,
                max_tokens_field: config.max_tokens_field,
                include_usage: config.include_usage,
            },
        );
        turn::Turn::new(self.inner.clone(), body.to_string().into_bytes()).into_stream()
    }
}

fn endpoint(base_url: &str) -> Result<Url, OpenAiConfigError> {
    let invalid = |reason: &str| OpenAiConfigError::BaseUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    // Gemini's documented base ends with '/', OpenAI's does not: accept both.
    let joined = format!("{}/chat/completions", url.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|e| invalid(&e.to_string()))
}

/// An HTTP client for LLM servers and tool endpoints: https through rustls with the `ring`
/// provider and the bundled Mozilla roots (webpki-roots). Passing a ready ClientConfig keeps
/// us off process-global provider state and off the host's CA store, which slim containers
/// lack. HTTP/1.1 only: the workspace builds reqwest without http2.
pub(crate) fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| error_chain(&e))
}

/// An error and its sources on one line: reqwest's own message ("error sending request") says
/// little; the cause ("Connection refused") is in the chain.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether (and after how long) a failed attempt may be retried, per spec §1.3.
pub(super) fn retry_delay(
    config: &OpenAiConfig,
    status: StatusCode,
    headers: &HeaderMap,
    error_code: Option<&str>,
    attempt: u32,
) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retryable = match header("x-should-retry") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            matches!(status.as_u16(), 408 | 409 | 429 | 500..=599)
                // A spent quota stays spent until someone pays: retrying only delays the
                // fallback.
                && error_code != Some("insufficient_quota")
        }
    };
    if !retryable {
        return None;
    }
    let asked = header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|ms| ms / 1000.0)
        .or_else(|| header("retry-after").and_then(|v| v.trim().parse::<f64>().ok()))
        .filter(|secs| secs.is_finite() && *secs >= 0.0);
    match asked {
        Some(secs) => {
            let delay = Duration::from_secs_f64(secs);
            (delay <= config.max_retry_delay).then_some(delay)
        }
        None => Some(backoff(config, attempt)),
    }
}

/// `base · 2^(attempt-1)`, capped, minus 0–25 % jitter so that many calls hit by the same
/// outage do not retry in lockstep.
pub(super) fn backoff(config: &OpenAiConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let delay = config
        .retry_base_delay
        .saturating_mul(1 << exponent)
        .min(config.max_retry_delay);
    delay.mul_f64(1.0 - 0.25 * rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OpenAiConfig {
        OpenAiConfig::new("http://127.0.0.1:1/v1", "m")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_policy_follows_status_and_headers() {
        let c = config();
        let none = HeaderMap::new();
        assert!(retry_delay(&c, StatusCode::BAD_REQUEST, &none, None, 1).is_none());
        assert!(retry_delay(&c, StatusCode::UNAUTHORIZED, &none, None, 1).is_none());
        assert!(retry_delay(&c, StatusCode::BAD_GATEWAY, &none, None, 1).is_some());
        assert!(retry_delay(&c, StatusCode::REQUEST_TIMEOUT, &none, None, 1).is_some());
        let quota = Some("insufficient_quota");
        assert!(retry_delay(&c, StatusCode::TOO_MANY_REQUESTS, &none, quota, 1).is_none());
        let h = headers(&[("retry-after", "0")]);
        assert_eq!(
            retry_delay(&c, StatusCode::TOO_MANY_REQUESTS, &h, None, 1),
            Some(Duration::ZERO)
        );
        let h = headers(&[("retry-after-ms", "150")]);
        assert_eq!(
            retry_delay(&c, StatusCode::TOO_MANY_REQUESTS, &h, None, 1),
            Some(Duration::from_millis(150))
        );
        let h = headers(&[("retry-after", "60")]);
        assert!(retry_delay(&c, StatusCode::TOO_MANY_REQUESTS, &h, None, 1).is_none());
        let h = headers(&[("x-should-retry", "false")]);
        assert!(retry_delay(&c, StatusCode::SERVICE_UNAVAILABLE, &h, None, 1).is_none());
        let h = headers(&[("x-should-retry", "true")]);
        assert!(retry_delay(&c, StatusCode::BAD_REQUEST, &h, None, 1).is_some());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let c = config();
        for attempt in 1..=3 {
            let full = Duration::from_millis(250 << (attempt - 1));
            let d = backoff(&c, attempt);
            assert!(d <= full && d >= full.mul_f64(0.75), "{attempt}: {d:?}");
        }
        assert!(backoff(&c, 30) <= c.max_retry_delay);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut c = config();
        c.api_key = Some("sk-secret".into());
        c.extra_headers = vec![("Proxy-Authorization".into(), "Basic hidden".into())];
        let text = format!("{:?}", OpenAiClient::new(c).unwrap());
        assert!(
            !text.contains("sk-secret") && !text.contains("hidden"),
            "{text}"
        );
        assert!(text.contains("Proxy-Authorization"));
    }

    #[test]
    fn defaults_depend_on_the_server() {
        let openai = OpenAiConfig::new(OPENAI_BASE_URL, "gpt-4o-mini");
        assert_eq!(openai.max_tokens_field, MaxTokensField::MaxCompletionTokens);
        assert!(openai.include_usage);
        let ollama = OpenAiConfig::new("http://localhost:11434/v1", "llama3.1:8b");
        assert_eq!(ollama.max_tokens_field, MaxTokensField::MaxTokens);
        assert!(!ollama.include_usage);
    }

    #[test]
    fn endpoint_accepts_base_with_or_without_slash() {
        let a = endpoint("https://generativelanguage.googleapis.com/v1beta/openai/").unwrap();
        assert_eq!(
            a.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
        );
        let b = endpoint("http://localhost:8080/v1").unwrap();
        assert_eq!(b.as_str(), "http://localhost:8080/v1/chat/completions");
        assert!(endpoint("ftp://x/v1").is_err());
        assert!(endpoint("not a url").is_err());
    }
}
