//! Plumbing shared by the cloud speech providers (Deepgram, OpenAI-compatible): the HTTPS client,
//! the bridge from the blocking [`crate::Tts`]/[`crate::Stt`] traits into async IO, provider error
//! bodies turned into typed [`SpeechError`]s, and the one-retry policy for live calls.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::SpeechError;

/// Delay before the single retry of a 429/5xx. Short on purpose: a caller is waiting in silence,
/// and after one failed retry the conversation speaks a fallback line instead.
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// The most we honour of a provider's `retry-after`; longer waits are worse than the fallback.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// An HTTP client with rustls over the `ring` provider and the bundled Mozilla roots. A ready
/// ClientConfig keeps us off process-global provider state and off the host's CA store, which
/// slim containers lack. HTTP/1.1 only: the workspace builds reqwest without http2.
pub(crate) fn http_client(
    provider: &'static str,
    connect_timeout: Duration,
) -> Result<reqwest::Client, SpeechError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let crypto = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .map_err(|e| SpeechError::Unreachable {
            provider,
            message: format!("TLS setup: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| SpeechError::Unreachable {
            provider,
            message: error_chain(&e),
        })
}

/// Runs `fut` to completion from blocking code. The speech traits are blocking and are called
/// on tokio's blocking threads, so the ambient runtime (whose IO driver owns our sockets) does
/// the work; without one (CLI tools, plain tests) a private current-thread runtime, created
/// once per provider and kept so pooled connections stay bound to a live driver.
pub(crate) fn block_on<F: Future>(
    private: &OnceLock<tokio::runtime::Runtime>,
    fut: F,
) -> Result<F::Output, SpeechError> {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        return Ok(match handle.runtime_flavor() {
            // From a blocking thread this simply runs the closure; from a worker thread it moves
            // the worker's other tasks elsewhere first instead of stalling them.
            tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(fut))
            }
            _ => handle.block_on(fut),
        });
    }
    if private.get().is_none() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // A racing thread may have set it first; either runtime is as good.
        let _ = private.set(runtime);
    }
    match private.get() {
        Some(runtime) => Ok(runtime.block_on(fut)),
        None => Err(SpeechError::Worker("no tokio runtime available".into())),
    }
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

/// The human sentence inside a provider's error body. Shapes seen in the wild: OpenAI and most
/// compatible servers `{"error":{"message":..}}`, vLLM a top-level `message`, Gemini an array
/// around the error, Deepgram `{"err_code":..,"err_msg":..}`; anything else is shown raw.
pub(crate) fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return raw_excerpt(body);
    };
    let value = match &value {
        serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
        _ => value,
    };
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    value
        .get("error")
        .and_then(|e| e.get("message").and_then(text).or_else(|| text(e)))
        .or_else(|| value.get("message").and_then(text))
        .or_else(|| value.get("err_msg").and_then(text))
        .unwrap_or_else(|| raw_excerpt(body))
}

/// OpenAI's machine-readable error code, when present (`insufficient_quota` must not be retried).
fn error_code(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value
        .get("error")
        .and_then(|e| e.get("code"))
        .or_else(|| value.get("err_code"))
        .and_then(|c| c.as_str())
        .map(str::to_owned)
}

fn raw_excerpt(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_owned();
    }
    trimmed.chars().take(300).collect()
}

/// Maps a non-success HTTP answer to the typed error callers branch on.
pub(crate) fn status_error(provider: &'static str, status: u16, body: &str) -> SpeechError {
    let message = error_message(body);
    match status {
        401 | 403 => SpeechError::Unauthorized { provider, message },
        429 => SpeechError::RateLimited { provider, message },
        _ => SpeechError::Provider {
            provider,
            status,
            message,
        },
    }
}

/// Sends the request built by `build` and returns the successful response. One retry, after a
/// short backoff, for answers that say "try again" (408, 409, 429 except exhausted quota, 5xx)
/// and for failed connections; `build` is called per attempt because multipart bodies are
/// consumed by sending.
pub(crate) async fn send_with_retry(
    provider: &'static str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, SpeechError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= 2;
        let response = match build().send().await {
            Ok(response) => response,
            Err(e) => {
                let retryable = e.is_connect() && !last;
                let error = SpeechError::Unreachable {
                    provider,
                    message: error_chain(&e),
                };
                if retryable {
                    tracing::warn!(provider, error = %error, "retrying once");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    continue;
                }
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let delay = retry_after(response.headers()).unwrap_or(RETRY_BACKOFF);
        let body = response.text().await.unwrap_or_default();
        let quota_gone = error_code(&body).as_deref() == Some("insufficient_quota");
        let retryable = matches!(status, 408 | 409 | 429 | 500..=599) && !quota_gone;
        let error = status_error(provider, status, &body);
        if retryable && !last {
            tracing::warn!(provider, status, error = %error, "retrying once");
            tokio::time::sleep(delay).await;
            continue;
        }
        return Err(error);
    }
}

/// The provider's requested wait (`retry-after-ms`, or `retry-after` in seconds), capped.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let wait = number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))?;
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Reads the whole body of a successful response, bounded by the request's own timeout.
pub(crate) async fn body_bytes(
    provider: &'static str,
    response: reqwest::Response,
) -> Result<Vec<u8>, SpeechError> {
    response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| SpeechError::Unreachable {
            provider,
            message: format!("reading the answer: {}", error_chain(&e)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_reads_every_known_provider_shape() {
        let openai = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(error_message(openai), "Incorrect API key provided");
        assert_eq!(
            error_message(r#"{"object":"error","message":"model not found"}"#),
            "model not found"
        );
        assert_eq!(
            error_message(r#"[{"error":{"code":400,"message":"bad voice"}}]"#),
            "bad voice"
        );
        assert_eq!(
            error_message(r#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}"#),
            "Invalid credentials."
        );
        assert_eq!(error_message("upstream timeout\n"), "upstream timeout");
        assert_eq!(error_message(""), "(empty body)");
    }

    #[test]
    fn status_maps_to_typed_errors() {
        assert!(matches!(
            status_error("openai", 401, "{}"),
            SpeechError::Unauthorized { .. }
        ));
        assert!(matches!(
            status_error("openai", 429, "{}"),
            SpeechError::RateLimited { .. }
        ));
        assert!(matches!(
            status_error("deepgram", 400, "{}"),
            SpeechError::Provider { status: 400, .. }
        ));
    }

    #[test]
    fn exhausted_quota_is_recognised_from_the_error_code() {
        let body = r#"{"error":{"message":"You exceeded your quota","code":"insufficient_quota"}}"#;
        assert_eq!(error_code(body).as_deref(), Some("insufficient_quota"));
    }

    #[test]
    fn retry_after_is_capped_for_live_calls() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "30".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert("retry-after-ms", "120".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(120)));
    }
}
